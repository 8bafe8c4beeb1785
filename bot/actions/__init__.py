"""Custom actions run by the bot service (rasa-sdk), one module per capability."""
