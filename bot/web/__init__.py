"""The web process: health now; the public chat page and staff console come later."""
