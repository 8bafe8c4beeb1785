"""Survivor safety: crisis detection that runs on every message, independent of the model."""
