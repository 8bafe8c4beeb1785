"""The tracker store deletes a conversation on request and purges old ones (real SQLite)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.db import tracker_store
from bot.db.tracker_store import HavenTrackerStore, watching_deletions

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


async def _case_purge_removes_events_by_age(store: HavenTrackerStore, domain: Domain) -> None:
    now = time.time()
    old, recent = now - 40 * 86400, now - 3600
    await store.save(_tracker("old", domain, UserUttered("hi"), at=old))
    await store.save(_tracker("recent", domain, UserUttered("hi")))
    # Still chatting, but its first session is 40 days old: that session goes, this one stays.
    ongoing = [
        SessionStarted(timestamp=old),
        UserUttered("my first message", timestamp=old),
        SessionStarted(timestamp=recent),
        UserUttered("back again", timestamp=recent),
    ]
    await store.save(DialogueStateTracker.from_events("ongoing", ongoing, domain.slots))
    # A session that began 40 days ago and is still going on is kept until it ends.
    live = [SessionStarted(timestamp=old), UserUttered("hi", timestamp=old), UserUttered("hey")]
    await store.save(DialogueStateTracker.from_events("live", live, domain.slots))
    report = store.purge_older_than(30, now=now)
    assert (report.events, report.conversations) == (3, 1)
    assert _rows(store, "old") == 0 and _rows(store, "recent") == 1
    assert _rows(store, "ongoing") == 2 and _rows(store, "live") == 3
    texts = [e.text for e in (await store.retrieve("ongoing")).events if isinstance(e, UserUttered)]
    assert texts == ["back again"]


async def _case_failed_delete_is_retried(store: HavenTrackerStore, domain: Domain) -> None:
    await store.save(_tracker("carol", domain, ActionExecuted("action_listen"), UserUttered("hi")))
    blocker = sqlite3.connect(store.engine.url.database, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    loop = asyncio.get_running_loop()
    loop.call_later(0.3, lambda: (blocker.execute("ROLLBACK"), blocker.close()))
    assert await store.delete_with_retries("carol") == 2
    assert _rows(store, "carol") == 0


async def _case_delete_that_keeps_failing_raises(store: HavenTrackerStore, domain: Domain) -> None:
    await store.save(_tracker("dave", domain, ActionExecuted("action_listen"), UserUttered("hi")))
    blocker = sqlite3.connect(store.engine.url.database, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with watching_deletions() as failed:
            await store.save(
                _tracker("dave", domain, UserUttered("hi"), SlotSet("delete_requested", True))
            )
        assert failed == ["dave"]
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert _rows(store, "dave") == 2, "nothing deleted, and the user will be told so"


def test_sender_and_timestamp_index_exists(store: HavenTrackerStore) -> None:
    with sqlite3.connect(store.engine.url.database) as connection:
        names = {row[1] for row in connection.execute("PRAGMA index_list('events')")}
    assert "ix_events_sender_id_timestamp" in names


def test_save_with_delete_requested_removes_every_event(
    store: HavenTrackerStore, domain: Domain
) -> None:
    asyncio.run(_case_save_with_delete_requested_removes_every_event(store, domain))


def test_purge_removes_events_by_age_but_not_a_live_session(
    store: HavenTrackerStore, domain: Domain
) -> None:
    asyncio.run(_case_purge_removes_events_by_age(store, domain))


@pytest.fixture
def quick_store(
    tmp_path: Path, domain: Domain, monkeypatch: pytest.MonkeyPatch
) -> HavenTrackerStore:
    """A store whose SQLite waits 0.1 s for a lock (not 5 s), and retries quickly."""
    monkeypatch.setattr(tracker_store, "DELETE_RETRY_SECONDS", 0.2)
    return HavenTrackerStore(domain=domain, url=f"sqlite:///{tmp_path}/tracker.db?timeout=0.1")


def test_a_failed_delete_is_retried(quick_store: HavenTrackerStore, domain: Domain) -> None:
    asyncio.run(_case_failed_delete_is_retried(quick_store, domain))


def test_a_delete_that_keeps_failing_is_reported_and_nothing_is_saved(
    quick_store: HavenTrackerStore, domain: Domain
) -> None:
    asyncio.run(_case_delete_that_keeps_failing_raises(quick_store, domain))


def test_the_tracker_database_directory_is_private(store: HavenTrackerStore) -> None:
    folder = Path(store.engine.url.database).parent
    assert folder.stat().st_mode & 0o777 == 0o700


def test_a_value_the_database_refuses_fails_the_request_not_the_server(
    store: HavenTrackerStore, domain: Domain
) -> None:
    """Rasa's session scope turns any ValueError into "PostgreSQL schema missing" and
    exits; a lone surrogate in a conversation id raises one (UnicodeEncodeError)."""
    with pytest.raises(tracker_store.UnstorableValue):
        asyncio.run(store.retrieve("\ud800"))
    with pytest.raises(tracker_store.UnstorableValue):
        asyncio.run(store.save(_tracker("\ud800", domain, ActionExecuted("action_listen"))))
    assert asyncio.run(store.retrieve("alice")) is None  # the store still works
