"""Lightbox render layer (see docs/architecture.md)."""
