"""The tracker store deletes a conversation on request and purges old ones (real SQLite)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.db.tracker_store import HavenTrackerStore

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


@pytest.fixture
def store(tmp_path: Path, domain: Domain) -> HavenTrackerStore:
    return HavenTrackerStore(domain=domain, url=f"sqlite:///{tmp_path}/nested/tracker.db")


def _rows(store: HavenTrackerStore, sender: str) -> int:
    path = store.engine.url.database
    with sqlite3.connect(path) as connection:
        return connection.execute(
            "SELECT COUNT(*) FROM events WHERE sender_id = ?", (sender,)
        ).fetchone()[0]


def _tracker(sender: str, domain: Domain, *events, at: float | None = None) -> DialogueStateTracker:
    stamped = []
    for event in events:
        if at is not None:
            event.timestamp = at
        stamped.append(event)
    return DialogueStateTracker.from_events(sender, stamped, domain.slots)


async def _case_save_with_delete_requested_removes_every_event(
    store: HavenTrackerStore, domain: Domain
) -> None:
    await store.save(_tracker("alice", domain, ActionExecuted("action_listen"), UserUttered("hi")))
    await store.save(_tracker("bob", domain, ActionExecuted("action_listen"), UserUttered("hola")))
    assert _rows(store, "alice") == 2
    tracker = _tracker(
        "alice",
        domain,
        ActionExecuted("action_listen"),
        UserUttered("hi"),
        SlotSet("delete_requested", True),
    )
    await store.save(tracker)
    assert _rows(store, "alice") == 0
    assert _rows(store, "bob") == 2, "other conversations are untouched"
    assert await store.retrieve("alice") is None


async def _case_purge_removes_only_inactive_conversations(
    store: HavenTrackerStore, domain: Domain
) -> None:
    old = time.time() - 40 * 86400
    await store.save(_tracker("old", domain, UserUttered("hi"), at=old))
    await store.save(_tracker("recent", domain, UserUttered("hi")))
    assert store.purge_older_than(30) == 1
    assert _rows(store, "old") == 0 and _rows(store, "recent") == 1


def test_sender_and_timestamp_index_exists(store: HavenTrackerStore) -> None:
    with sqlite3.connect(store.engine.url.database) as connection:
        names = {row[1] for row in connection.execute("PRAGMA index_list('events')")}
    assert "ix_events_sender_id_timestamp" in names


def test_save_with_delete_requested_removes_every_event(
    store: HavenTrackerStore, domain: Domain
) -> None:
    asyncio.run(_case_save_with_delete_requested_removes_every_event(store, domain))


def test_purge_removes_only_inactive_conversations(
    store: HavenTrackerStore, domain: Domain
) -> None:
    asyncio.run(_case_purge_removes_only_inactive_conversations(store, domain))
