"""Removable media, folders, DICOMDIR files and zips -> files to import.

``import_media(sources, store)`` is the entry point; see :mod:`viewer.media.importer`.
"""

from viewer.media.importer import import_media

__all__ = ["import_media"]
