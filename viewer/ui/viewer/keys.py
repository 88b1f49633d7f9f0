"""The viewport's keys (listed for users in :data:`viewer.ui.viewer.tools.SHORTCUTS`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent

from viewer.ui.viewer.tools import CT_PRESETS, WindowPreset

if TYPE_CHECKING:
    from viewer.ui.viewer.viewport import ViewportWidget


def handle_viewport_key(vp: ViewportWidget, ev: QKeyEvent) -> bool:
    """Act on ``ev`` in ``vp``; False for keys the viewer does not use."""
    key, mods = ev.key(), ev.modifiers()
    ctrl = bool(mods & Qt.KeyboardModifier.ControlModifier)
    shift = bool(mods & Qt.KeyboardModifier.ShiftModifier)
    K = Qt.Key  # noqa: N806  (reads like the Qt names)
    if ctrl:
        if key == K.Key_0:
            vp.actual_size()
            return True
        if key == K.Key_Delete:
            vp.measure.delete_all()
            return True
        return False
    simple = {
        K.Key_Up: lambda: vp.scroll(-1), K.Key_Down: lambda: vp.scroll(1),
        K.Key_Left: lambda: vp.scroll(-1), K.Key_Right: lambda: vp.scroll(1),
        K.Key_PageUp: lambda: vp.scroll(-10), K.Key_PageDown: lambda: vp.scroll(10),
        K.Key_Home: lambda: vp.set_index(0),
        K.Key_End: lambda: vp.set_index(vp.frame_count - 1),
        K.Key_I: vp.toggle_invert, K.Key_F: vp.fit,
        K.Key_H: lambda: vp.flip(True), K.Key_V: lambda: vp.flip(False),
        K.Key_R: lambda: vp.rotate(-1 if shift else 1),
        K.Key_Backspace: vp.reset, K.Key_C: vp.toggle_cine,
        K.Key_BracketLeft: lambda: vp.set_cine_fps(vp.cine_fps / 1.25),
        K.Key_BracketRight: lambda: vp.set_cine_fps(vp.cine_fps * 1.25),
        K.Key_Plus: lambda: vp.zoom_by(1.25), K.Key_Equal: lambda: vp.zoom_by(1.25),
        K.Key_Minus: lambda: vp.zoom_by(0.8),
        K.Key_Delete: vp.measure.delete_selected, K.Key_Escape: vp.measure.cancel,
        K.Key_0: lambda: vp.use_file_window(None), K.Key_9: vp.use_auto_window,
        K.Key_O: vp.toggle_overlays,
    }
    action = simple.get(key)  # type: ignore[call-overload]
    if action is not None:
        action()
        return True
    for preset in CT_PRESETS:
        if ev.text() == preset.key:
            _preset_key(vp, preset)
            return True
    return False


def _preset_key(vp: ViewportWidget, preset: WindowPreset) -> None:
    """A preset key: its window where it applies; else say why nothing happens.

    The presets are in Hounsfield units: on an MR or a radiograph, "Lung" is a window
    onto values that mean nothing of the kind, named as if it were one.
    """
    if preset in vp.presets():
        vp.apply_preset(preset)
        return
    facts = vp._facts
    if facts is None:
        return  # no image (yet): nothing to explain
    modality = facts.modality or "of no stated modality"
    vp.status_message.emit(f"Window preset {preset.key} ({preset.name}) is for CT "
                           f"(Hounsfield units): this image is {modality}")
