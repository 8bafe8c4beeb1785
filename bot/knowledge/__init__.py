"""Know-your-rights knowledge: loading entries and contacts, choosing what to say."""
