"""Haven: a multilingual intake assistant for people affected by human trafficking."""

__version__ = "0.1.0"
