"""Text normalisation shared by language detection and crisis detection."""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)


def strip_accents(text: str) -> str:
    """The text with accents removed (é→e, ñ→n), case kept."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def fold(text: str) -> str:
    """Lowercase, strip accents (é→e, ñ→n) and collapse whitespace: how people type on phones."""
    stripped = strip_accents(text.casefold()).replace("’", "'").replace("‘", "'")
    return " ".join(stripped.split())


def words(text: str) -> list[str]:
    """The folded words of a text (letters only; digits, emoji and punctuation dropped)."""
    return _WORD.findall(fold(text))


def has_letters_or_digits(text: str) -> bool:
    """True when a message carries any readable content (not only emoji or punctuation)."""
    return any(ch.isalnum() for ch in text)
