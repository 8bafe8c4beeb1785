"""Custom Rasa graph components: language detection and policy, input guard, crisis override."""
