"""Lightbox store layer (see docs/architecture.md)."""
