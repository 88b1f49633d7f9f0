"""Composition root: opens the store, builds the services and the main window.

This is the only place where the layers are wired together (docs/architecture.md).
"""
