"""Rasa input channels (loaded by Rasa from credentials.yml); each one sanitizes user input."""
