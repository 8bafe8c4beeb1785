"""Knowledge entries (``data/knowledge/*.yml``) and the contacts registry (``data/contacts.yml``).

Entries are curated, cited text (docs/content.md); Haven never generates an answer. Adding a
topic needs no Python: an entry here, its ``kb_<id>`` intent with training examples, a rule
in ``data/rules/rights.yml`` and the translations in the catalogs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

KNOWLEDGE_INTENT_PREFIX = "kb_"
# Button payloads the knowledge actions put on buttons besides "/kb_<id>" (channels allow them).
MORE_PAYLOAD = "/more"
SOURCES_PAYLOAD = "/sources"
AUDIENCES = ("survivor", "provider", "minor")
ROADMAP_FILE = "roadmap.yml"


class KnowledgeError(ValueError):
    """A knowledge or contacts file is malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class Source:
    """Where a fact comes from: an official page (``url``), or a document named by its title,
    publisher and date alone (never by a file name)."""

    title: str
    url: str | None = None


@dataclass(frozen=True)
class NextStep:
    kind: str  # call | topic | handoff
    contact: str | None = None
    topic: str | None = None


@dataclass(frozen=True)
class KnowledgeEntry:
    """One know-your-rights topic: a chat-sized answer, optional detail, sources, review date."""

    id: str
    title: str
    audience: tuple[str, ...]
    answer: str
    sources: tuple[Source, ...]
    reviewed: dt.date
    next_step: NextStep
    more: str | None = None
    provider_answer: str | None = None
    related: tuple[str, ...] = ()
    policy_date: dt.date | None = None
    find: str | None = None  # a directory need category offered as a button ("legal_aid")
    path: Path | None = field(default=None, compare=False)

    @property
    def intent(self) -> str:
        return f"{KNOWLEDGE_INTENT_PREFIX}{self.id}"


@dataclass(frozen=True)
class Contact:
    """A phone number, text code or URL Haven may say."""

    id: str
    name: str
    phone: str | None = None
    text: str | None = None
    tty: str | None = None
    email: str | None = None
    url: str | None = None
    chat_url: str | None = None
    display: str | None = None
    text_keyword: str | None = None
    note: str | None = None
    hours: str | None = None
    source: str | None = None

    def sayable_strings(self) -> set[str]:
        """Every number, code, address and URL of this contact, as the bot may write it."""
        values = (
            self.phone,
            self.text,
            self.tty,
            self.email,
            self.url,
            self.chat_url,
            self.display,
        )
        return {v for v in values if v}


def _date(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as error:
        raise KnowledgeError(f"{where}: not a date (YYYY-MM-DD): {value!r}") from error


def _entry(raw: dict[str, Any], path: Path) -> KnowledgeEntry:
    where = f"{path.name}, entry {raw.get('id', '?')!r}"
    missing = [
        k for k in ("id", "title", "audience", "answer", "sources", "reviewed") if not raw.get(k)
    ]
    if missing:
        raise KnowledgeError(f"{where}: missing {', '.join(missing)}")
    audience = tuple(raw["audience"])
    if not set(audience) <= set(AUDIENCES):
        raise KnowledgeError(f"{where}: audience must be among {AUDIENCES}")
    step = raw.get("next_step") or {"kind": "call", "contact": "hotline"}
    return KnowledgeEntry(
        id=str(raw["id"]),
        title=str(raw["title"]),
        audience=audience,
        answer=str(raw["answer"]),
        more=raw.get("more"),
        provider_answer=raw.get("provider_answer"),
        related=tuple(raw.get("related") or ()),
        sources=tuple(Source(**s) for s in raw["sources"]),
        reviewed=_date(raw["reviewed"], where),
        policy_date=_date(raw["policy_date"], where) if raw.get("policy_date") else None,
        next_step=NextStep(**step),
        find=raw.get("find"),
        path=path,
    )


@lru_cache(maxsize=4)
def load_contacts(path: Path) -> dict[str, Contact]:
    """The contacts registry, by id."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    contacts = {}
    for item in raw.get("contacts") or []:
        contact = Contact(**item)
        if contact.id in contacts:
            raise KnowledgeError(f"{path.name}: duplicate contact id {contact.id!r}")
        contacts[contact.id] = contact
    return contacts


@lru_cache(maxsize=4)
def load_knowledge(directory: Path) -> dict[str, KnowledgeEntry]:
    """Every knowledge entry, by id, checked for duplicates and dangling references."""
    entries: dict[str, KnowledgeEntry] = {}
    for path in sorted(directory.glob("*.yml")):
        if path.name == ROADMAP_FILE:
            continue
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for item in raw.get("entries") or []:
            entry = _entry(item, path)
            if entry.id in entries:
                raise KnowledgeError(f"{path.name}: duplicate entry id {entry.id!r}")
            entries[entry.id] = entry
    for entry in entries.values():
        targets = [*entry.related, *([entry.next_step.topic] if entry.next_step.topic else [])]
        for target in targets:
            if target not in entries:
                raise KnowledgeError(
                    f"{entry.path.name}, entry {entry.id!r}: unknown topic {target!r}"
                )
    return entries


def knowledge_payloads(directory: Path) -> frozenset[str]:
    """Every button payload the knowledge actions may issue."""
    topics = {f"/{entry.intent}" for entry in load_knowledge(directory).values()}
    return frozenset({*topics, MORE_PAYLOAD, SOURCES_PAYLOAD})
