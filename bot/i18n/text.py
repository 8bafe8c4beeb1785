"""Text normalisation and tokenization shared by every reader of the user's words: language
and crisis detection, the directory's vocabulary and the place finder. One home for these
patterns, so all of them split a message the same way."""

from __future__ import annotations

import re
import unicodedata

WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")  # letters, one inner apostrophe ("don't")
LETTERS = re.compile(r"[^\W\d_]+")  # a run of letters, any script
# Folded text (``fold``): words and numbers; a phrase token keeps an inner apostrophe.
TOKEN = re.compile(r"[a-z0-9]+")
PHRASE_TOKEN = re.compile(r"[0-9a-z]+(?:'[a-z]+)?")
CASED_TOKEN = re.compile(r"[A-Za-z0-9]+")  # the same split as TOKEN, case kept


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
    return WORD.findall(fold(text))


def has_letters_or_digits(text: str) -> bool:
    """True when a message carries any readable content (not only emoji or punctuation)."""
    return any(ch.isalnum() for ch in text)
