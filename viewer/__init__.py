"""Lightbox, a desktop DICOM diagnostic viewer with a standard-exact display pipeline."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lightbox-viewer")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0"

__all__ = ["__version__"]
