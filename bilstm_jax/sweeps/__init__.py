"""Sweeps: the spec (rows over dotted keys), run rows, the launcher CLI, tables and provenance."""
