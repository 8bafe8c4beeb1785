"""Custom Rasa graph components: language detection, input guard, crisis override, language policy."""
