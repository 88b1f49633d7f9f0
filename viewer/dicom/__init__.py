"""Lightbox dicom layer (see docs/architecture.md)."""
