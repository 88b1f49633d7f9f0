"""Lightbox media layer (see docs/architecture.md)."""
