"""Response rendering in the conversation's language (in the Rasa process)."""
