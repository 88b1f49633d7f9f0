"""DICOM tag browser of the current image: a searchable tree with sequences."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QHeaderView,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QTreeWidgetItemIterator,
    QVBoxLayout,
    QWidget,
)

from viewer.dicom.tags import TagNode, read_tag_tree
from viewer.ui.plain_text import plain_tip


class TagBrowserDialog(QDialog):
    """Shows every element of a file; the search field hides rows that do not match."""

    def __init__(self, path: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"DICOM tags - {path}")
        self.root = read_tag_tree(path)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search tag, name or value")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.filter)
        self.tree = QTreeWidget(self)
        self.tree.setColumnCount(4)
        self.tree.setHeaderLabels(["Tag", "Name", "VR", "Value"])
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        header = self.tree.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.setColumnWidth(1, 260)
        self._fill(self.tree.invisibleRootItem(), self.root.children)
        self.tree.expandToDepth(0)
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)
        self.resize(900, 700)

    def _fill(self, parent: QTreeWidgetItem, nodes: list[TagNode]) -> None:
        for node in nodes:
            item = QTreeWidgetItem(parent, [node.tag, node.name, node.vr, node.value])
            item.setToolTip(3, plain_tip(node.value))
            if node.children:
                self._fill(item, node.children)

    def filter(self, text: str) -> int:
        """Show rows matching ``text`` (and their parents); returns how many match."""
        text = text.strip().lower()
        matches = 0
        it = QTreeWidgetItemIterator(self.tree)
        items = []
        while it.value():
            items.append(it.value())
            it += 1
        for item in items:
            item.setHidden(bool(text))
        for item in items:
            if not text or any(text in item.text(c).lower() for c in range(4)):
                matches += 1 if text else 0
                item.setHidden(False)
                parent = item.parent()
                while parent is not None:
                    parent.setHidden(False)
                    parent.setExpanded(True)
                    parent = parent.parent()
        return matches

    def visible_rows(self) -> list[tuple[str, str, str]]:
        """(tag, name, value) of the rows shown (for tests)."""
        out = []
        it = QTreeWidgetItemIterator(self.tree, QTreeWidgetItemIterator.IteratorFlag.NotHidden)
        while it.value():
            item = it.value()
            out.append((item.text(0), item.text(1), item.text(3)))
            it += 1
        return out
