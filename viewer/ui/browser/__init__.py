"""The study browser over the local database."""
