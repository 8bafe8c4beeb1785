"""What users say → directory terms: need categories, filters and "near me", per language.

The words live in ``data/directory/needs.yml`` (no Python needed to add one). Matching is
case- and accent-insensitive on whole words and phrases; the longest phrase wins, and a
phrase found inside a longer matched phrase does not count again.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.i18n.text import PHRASE_TOKEN, fold
from bot.settings import get_settings


@dataclass(frozen=True)
class Category:
    """One need category: a stable id, its English title (translated by the catalogs)."""

    id: str
    title: str
    open_eligibility: str | None = None


@dataclass(frozen=True)
class Match:
    kind: str  # "need", "open_now", "free", "low_cost", "population", "language", "near_me"
    value: str
    start: int  # token offsets in the folded text
    end: int


@dataclass(frozen=True)
class Vocabulary:
    categories: tuple[Category, ...]
    # folded phrase (tuple of tokens) → (kind, value)
    phrases: dict[tuple[str, ...], tuple[str, str]] = field(repr=False)
    longest: int = 1

    @property
    def category_ids(self) -> tuple[str, ...]:
        return tuple(category.id for category in self.categories)

    def category(self, category_id: str) -> Category | None:
        return next((c for c in self.categories if c.id == category_id), None)

    def matches(self, text: str) -> list[Match]:
        """Every vocabulary phrase in ``text``, longest first, never overlapping."""
        tokens = tokenize(text)
        found: list[Match] = []
        taken = [False] * len(tokens)
        for size in range(min(self.longest, len(tokens)), 0, -1):
            for start in range(len(tokens) - size + 1):
                if any(taken[start : start + size]):
                    continue
                hit = self.phrases.get(tuple(tokens[start : start + size]))
                if hit:
                    found.append(Match(hit[0], hit[1], start, start + size))
                    for index in range(start, start + size):
                        taken[index] = True
        return sorted(found, key=lambda match: match.start)

    def needs(self, text: str) -> list[str]:
        """Need categories named in ``text``, in order of appearance, without repeats."""
        return list(dict.fromkeys(m.value for m in self.matches(text) if m.kind == "need"))


def tokenize(text: str) -> list[str]:
    return PHRASE_TOKEN.findall(fold(text).replace("’", "'"))


def _add(phrases: dict, words: list[str], kind: str, value: str, source: Path) -> None:
    for word in words or []:
        key = tuple(tokenize(str(word)))
        if not key:
            continue
        previous = phrases.get(key)
        if previous and previous != (kind, value):
            raise ValueError(f"{source}: {word!r} is listed for both {previous} and {kind}:{value}")
        phrases[key] = (kind, value)


def parse_vocabulary(data: dict, source: Path) -> Vocabulary:
    phrases: dict[tuple[str, ...], tuple[str, str]] = {}
    categories = []
    for item in data.get("categories") or []:
        categories.append(Category(item["id"], item["title"], item.get("open_eligibility")))
        for words in (item.get("words") or {}).values():
            _add(phrases, words, "need", item["id"], source)
    filters = data.get("filters") or {}
    for kind in ("open_now", "free", "low_cost", "near_me"):
        for words in (filters.get(kind) or {}).values():
            _add(phrases, words, kind, "true", source)
    for kind in ("population", "language"):
        for value, by_language in (filters.get(kind) or {}).items():
            for words in (by_language or {}).values():
                _add(phrases, words, kind, value, source)
    longest = max((len(key) for key in phrases), default=1)
    return Vocabulary(tuple(categories), phrases, longest)


@functools.lru_cache(maxsize=4)
def load_vocabulary(path: Path | None = None) -> Vocabulary:
    """The vocabulary from ``data/directory/needs.yml`` (read once per process)."""
    path = path or get_settings().project_root / "data" / "directory" / "needs.yml"
    return parse_vocabulary(yaml.safe_load(path.read_text(encoding="utf-8")) or {}, path)
