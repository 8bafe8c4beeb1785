"""Databases: the Rasa tracker store (conversations) and, later, Haven's own tables."""
