"""Backups and restores of both databases (bot/backup.py, `haven backup` / `haven restore`):
real SQLite files, a real PostgreSQL server with pg_dump/pg_restore, Rasa's tracker store."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from cryptography.fernet import Fernet
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot import backup
from bot.cli import main
from bot.db.engine import get_engine
from bot.db.migrate import current_revision, head_revision, upgrade
from bot.db.tracker_store import HavenTrackerStore
from bot.directory.hsds_io import dump_tables, import_directory
from bot.handoff import referrals, staff
from bot.handoff.models import Referral
from bot.settings import get_settings
from tests import postgres

ROOT = Path(__file__).resolve().parents[2]
NATIONAL = ROOT / "data" / "directory" / "national.json"
CONTACT = {"phone": "+1 555 0100", "times": "evenings"}


@pytest.fixture
def haven(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Settings for one Haven: SQLite databases under its own var/, a contact key."""
    var = tmp_path / "var"
    urls = {"app": f"sqlite:///{var}/haven.db", "conversations": f"sqlite:///{var}/tracker.db"}
    monkeypatch.setenv("HAVEN_VAR_DIR", str(var))
    monkeypatch.setenv("HAVEN_DATABASE_URL", urls["app"])
    monkeypatch.setenv("HAVEN_TRACKER_STORE_URL", urls["conversations"])
    monkeypatch.setenv("HAVEN_CONTACT_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("HAVEN_LOG_SECRET", "backup-tests-log-secret")
    get_settings.cache_clear()
    umask = os.umask(0o077)  # the commands set it; give it back afterwards
    os.umask(umask)
    yield urls
    os.umask(umask)
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


def fill_app(url: str) -> int:
    """The app database as it is in use: the directory, a case manager, a referral."""
    upgrade(url)
    import_directory(NATIONAL, url)
    staff.add_staff("casey", "a long enough password", "Casey", url=url)
    new = referrals.NewReferral(
        conversation_id="conversation-of-a-user", channel="webchat", language="es",
        needs=["service:legal"], place="Houston", age_group="adult", safety_flags=[],
        contact_method="phone", contact=CONTACT, share_transcript=False,
        consent={"version": "test"},
    )  # fmt: skip
    return referrals.create_referral(new, url=url)


def app_state(url: str) -> dict:
    """Everything a restore must bring back, compared as plain values."""
    return {
        "directory": dump_tables(url, include_confidential=True),
        "rows": backup.row_counts("app", url),
        "staff": [(member.username, active) for member, active in staff.list_staff(url)],
        "revision": current_revision(url),
    }


def change_app(url: str) -> None:
    """What a bad day does: rows changed, rows deleted, a table dropped, an account added."""
    with get_engine(url).begin() as connection:
        connection.execute(sa.text("UPDATE service SET name = 'changed'"))
        connection.execute(sa.text("DELETE FROM referral"))
        connection.execute(sa.text("DROP TABLE referral_note"))
    staff.add_staff("intruder", "another long password", url=url)


def contact_of(referral_id: int, url: str) -> dict:
    from bot.handoff import crypto

    with get_engine(url).connect() as connection:
        token = connection.execute(
            sa.select(Referral.contact_enc).where(Referral.id == referral_id)
        ).scalar_one()
    return crypto.decrypt(token)


def save_conversations(store: HavenTrackerStore, domain: Domain, *senders: str) -> None:
    for sender in senders:
        events = [
            ActionExecuted("action_listen"),
            UserUttered(f"hello from {sender}", {"name": "greet", "confidence": 0.9}),
            SlotSet("language", "en"),
            BotUttered(f"hi {sender}", {"buttons": [{"title": "Yes", "payload": "/affirm"}]}),
        ]
        tracker = DialogueStateTracker.from_events(sender, events, domain.slots)
        asyncio.run(store.save(tracker))


def conversations(store: HavenTrackerStore, *senders: str) -> dict[str, list[dict] | None]:
    found = {}
    for sender in senders:
        tracker = asyncio.run(store.retrieve(sender))
        found[sender] = [event.as_dict() for event in tracker.events] if tracker else None
    return found


# --- SQLite: the commands, end to end ----------------------------------------------------


def test_sqlite_round_trip_through_the_commands(
    haven: dict[str, str], tmp_path: Path, domain: Domain
) -> None:
    referral = fill_app(haven["app"])
    save_conversations(HavenTrackerStore(domain=domain), domain, "alice", "bob")
    before = app_state(haven["app"])
    events_before = backup.row_counts("conversations", haven["conversations"])
    assert before["rows"]["referral"] == 1 and before["rows"]["staff_user"] == 1
    assert before["rows"]["service"] >= 5 and events_before == {"events": 8}

    dest = tmp_path / "backups" / "2026-01-01"
    made = CliRunner().invoke(main, ["backup", str(dest)])
    assert made.exit_code == 0, made.output
    assert "Contact details need the keys in HAVEN_CONTACT_KEYS" in made.output
    assert sorted(p.name for p in dest.iterdir()) == [
        "app.sqlite3", "conversations.sqlite3", "manifest.json",
    ]  # fmt: skip
    assert dest.stat().st_mode & 0o777 == 0o700
    assert {p.stat().st_mode & 0o777 for p in dest.iterdir()} == {0o600}
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["alembic_revision"] == head_revision()
    assert manifest["created_at"].endswith("Z") and "personal data" in manifest["note"]
    assert set(manifest["parts"]) == {"app", "conversations"}
    for part in manifest["parts"].values():
        assert part["kind"] == "sqlite"
        assert backup._sha256(dest / part["file"]) == part["sha256"]
    # Self-contained files: no write-ahead log to carry along.
    assert not list(dest.glob("*-wal"))

    change_app(haven["app"])
    store = HavenTrackerStore(domain=domain)
    store.delete_conversation("alice")
    save_conversations(store, domain, "mallory")
    changed = app_state(haven["app"])
    assert changed != before

    refused = CliRunner().invoke(main, ["restore", str(dest)])
    assert refused.exit_code == 1
    assert "Nothing was restored" in refused.output and "--yes" in refused.output
    assert app_state(haven["app"]) == changed, "a refused restore changes nothing"

    restored = CliRunner().invoke(main, ["restore", str(dest), "--yes"])
    assert restored.exit_code == 0, restored.output
    assert "Restored the app database:" in restored.output and "WARNING" not in restored.output
    assert app_state(haven["app"]) == before
    assert contact_of(referral, haven["app"]) == CONTACT
    assert backup.row_counts("conversations", haven["conversations"]) == events_before
    assert conversations(store, "alice", "mallory")["mallory"] is None
    assert conversations(store, "alice")["alice"] is not None
    for name in ("haven.db", "tracker.db"):
        assert (Path(get_settings().var_dir) / name).stat().st_mode & 0o777 == 0o600


def test_restore_warns_when_the_contact_keys_here_do_not_fit(
    haven: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill_app(haven["app"])
    dest = tmp_path / "backup"
    assert CliRunner().invoke(main, ["backup", str(dest), "--only", "app"]).exit_code == 0
    assert [p.name for p in sorted(dest.iterdir())] == ["app.sqlite3", "manifest.json"]
    monkeypatch.setenv("HAVEN_CONTACT_KEYS", Fernet.generate_key().decode())  # keys were lost
    get_settings.cache_clear()
    restored = CliRunner().invoke(main, ["restore", str(dest), "--yes"])
    assert restored.exit_code == 0, restored.output
    assert "WARNING: 1 of 1 referral(s) cannot be decrypted" in restored.output


def test_a_damaged_or_foreign_backup_is_refused_before_anything_changes(
    haven: dict[str, str], tmp_path: Path
) -> None:
    fill_app(haven["app"])
    dest = tmp_path / "backup"
    backup.backup(dest, haven, only=["app"])
    with pytest.raises(backup.BackupError, match="not an empty folder"):
        backup.backup(dest, haven, only=["app"])  # never over an older backup
    change_app(haven["app"])
    changed = app_state(haven["app"])

    damaged = tmp_path / "damaged"
    shutil.copytree(dest, damaged)
    with (damaged / "app.sqlite3").open("r+b") as handle:
        handle.seek(5000)
        handle.write(b"\xff")
    with pytest.raises(backup.BackupError, match="missing or damaged"):
        backup.restore(damaged, haven, overwrite=True)

    newer = tmp_path / "newer"
    shutil.copytree(dest, newer)
    manifest = json.loads((newer / "manifest.json").read_text())
    manifest["alembic_revision"] = "9999_from_a_newer_haven"
    (newer / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(backup.BackupError, match="does not know"):
        backup.restore(newer, haven, overwrite=True)

    with pytest.raises(backup.BackupError, match="no manifest.json"):
        backup.restore(tmp_path / "var", haven, overwrite=True)
    assert app_state(haven["app"]) == changed


def test_online_backup_is_a_consistent_snapshot_with_the_write_ahead_log(
    tmp_path: Path,
) -> None:
    """While a writer commits pairs of rows, every backup holds whole pairs and passes
    SQLite's check; rows still only in the -wal file are in it (a plain copy loses them)."""
    path = tmp_path / "live.db"
    writer = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")  # everything stays in the -wal file
    writer.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, pair INTEGER, body BLOB)")
    writer.execute("BEGIN")
    writer.executemany(
        "INSERT INTO item (pair, body) VALUES (?, randomblob(200))",
        [(n // 2,) for n in range(20_000)],
    )
    writer.execute("COMMIT")
    plain = tmp_path / "plain-copy.db"
    shutil.copyfile(path, plain)
    with sqlite3.connect(plain) as copy:
        assert copy.execute("SELECT name FROM sqlite_master").fetchall() == []

    stop = threading.Event()

    def write_pairs() -> None:
        pair = 10_000
        while not stop.is_set():
            writer.execute("BEGIN")
            writer.execute("INSERT INTO item (pair, body) VALUES (?, randomblob(200))", (pair,))
            writer.execute("INSERT INTO item (pair, body) VALUES (?, randomblob(200))", (pair,))
            writer.execute("COMMIT")
            pair += 1

    thread = threading.Thread(target=write_pairs)
    thread.start()
    counts = []
    try:
        for n in range(4):
            made = backup.backup(tmp_path / f"b{n}", {"app": f"sqlite:///{path}"}, only=["app"])
            assert made.alembic_revision is None  # not a Haven database: nothing to record
            with sqlite3.connect(tmp_path / f"b{n}" / "app.sqlite3") as copy:
                assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                query = "SELECT COUNT(*), COUNT(DISTINCT pair) FROM item"
                count, pairs = copy.execute(query).fetchone()
                counts.append(count)
                assert count == 2 * pairs, "a transaction was cut in half"
    finally:
        stop.set()
        thread.join()
        writer.close()
    assert counts[0] >= 20_000 and counts[-1] > counts[0], "the writer kept writing meanwhile"


# --- the tracker store (SQLite) -----------------------------------------------------------


def test_tracker_store_round_trip(haven: dict[str, str], tmp_path: Path, domain: Domain) -> None:
    store = HavenTrackerStore(domain=domain)
    save_conversations(store, domain, "alice", "bob", "carol")
    before = conversations(store, "alice", "bob", "carol", "mallory")
    assert before["mallory"] is None and len(before["alice"]) == 4

    # "Delete my data" before the backup: none of that conversation reaches the backup file.
    save_conversations(store, domain, "dave-wrote-a-secret-7f3a")
    store.delete_conversation("dave-wrote-a-secret-7f3a")

    dest = tmp_path / "backup"
    manifest = backup.backup(dest, haven, only=["conversations"])
    assert set(manifest.parts) == {"conversations"} and manifest.alembic_revision is None
    assert b"dave-wrote-a-secret-7f3a" not in (dest / "conversations.sqlite3").read_bytes()

    store.delete_conversation("alice")
    save_conversations(store, domain, "mallory")
    with pytest.raises(backup.BackupError, match="holds 12 row"):
        backup.restore(dest, haven, overwrite=False)
    done = backup.restore(dest, haven, overwrite=True)
    assert [(r.part, r.rows) for r in done] == [("conversations", {"events": 12})]
    # The store that was open all along reads the restored conversations.
    assert conversations(store, "alice", "bob", "carol", "mallory") == before
    assert conversations(HavenTrackerStore(domain=domain), "alice")["alice"] == before["alice"]


def test_restore_into_a_new_machine_needs_no_yes(
    haven: dict[str, str], tmp_path: Path, domain: Domain
) -> None:
    """A restore drill: databases that do not exist yet are created from the backup."""
    fill_app(haven["app"])
    save_conversations(HavenTrackerStore(domain=domain), domain, "alice")
    before = app_state(haven["app"])
    dest = tmp_path / "backup"
    backup.backup(dest, haven)
    fresh = tmp_path / "fresh"
    urls = {"app": f"sqlite:///{fresh}/haven.db", "conversations": f"sqlite:///{fresh}/t.db"}
    done = backup.restore(dest, urls)
    assert [r.part for r in done] == ["app", "conversations"]
    assert app_state(urls["app"]) == before
    assert backup.row_counts("conversations", urls["conversations"]) == {"events": 4}
    assert fresh.stat().st_mode & 0o777 == 0o700


# --- PostgreSQL ---------------------------------------------------------------------------


def test_libpq_connection_keeps_the_password_off_the_command_line() -> None:
    uri, env = backup._libpq(
        "postgresql+psycopg2://haven:s3cret@db.internal:5433/haven?sslmode=require"
    )
    assert "s3cret" not in uri and env["PGPASSWORD"] == "s3cret"
    assert uri == "postgresql://haven@db.internal:5433/haven?sslmode=require"


needs_postgres = pytest.mark.skipif(
    not postgres.available() or not shutil.which("pg_dump") and not postgres._binary("pg_dump"),
    reason="PostgreSQL server binaries (initdb, pg_ctl, pg_dump) not installed",
)


@needs_postgres
def test_postgres_round_trip_with_both_databases_in_one(
    haven: dict[str, str], tmp_path: Path, domain: Domain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """App tables and Rasa's events in one PostgreSQL database (as in deploy/compose.yaml):
    each part is dumped and restored alone."""
    with postgres.postgres_server() as url:
        urls = {"app": url, "conversations": url}
        monkeypatch.setenv("HAVEN_DATABASE_URL", url)
        monkeypatch.setenv("HAVEN_TRACKER_STORE_URL", url)
        get_settings.cache_clear()
        referral = fill_app(url)
        store = HavenTrackerStore(domain=domain)
        save_conversations(store, domain, "alice", "bob")
        before = app_state(url)
        events_before = conversations(store, "alice", "bob", "mallory")
        assert "events" not in before["rows"], "the app part leaves Rasa's table out"

        dest = tmp_path / "pg-backup"
        made = CliRunner().invoke(main, ["backup", str(dest)])
        assert made.exit_code == 0, made.output
        manifest = backup.read_manifest(dest)
        assert {p.kind for p in manifest.parts.values()} == {"postgresql"}
        assert manifest.alembic_revision == head_revision()
        assert sorted(p.name for p in dest.iterdir()) == [
            "app.pgdump", "conversations.pgdump", "manifest.json",
        ]  # fmt: skip

        change_app(url)
        store.delete_conversation("alice")
        save_conversations(store, domain, "mallory")
        changed_events = conversations(store, "alice", "bob", "mallory")
        refused = CliRunner().invoke(main, ["restore", str(dest), "--only", "app"])
        assert refused.exit_code == 1 and "Nothing was restored" in refused.output

        get_engine(url).dispose()  # pg_restore --clean drops tables: no session may hold them
        restored = CliRunner().invoke(main, ["restore", str(dest), "--only", "app", "--yes"])
        assert restored.exit_code == 0, restored.output
        assert app_state(url) == before
        assert contact_of(referral, url) == CONTACT
        assert conversations(store, "alice", "bob", "mallory") == changed_events, (
            "restoring the app database leaves the conversations alone"
        )
        store.engine.dispose()
        done = backup.restore(dest, urls, only=["conversations"], overwrite=True)
        assert done[0].rows == {"events": 8}
        assert conversations(store, "alice", "bob", "mallory") == events_before
        assert app_state(url) == before

        sqlite_urls = {"app": f"sqlite:///{tmp_path}/other.db", "conversations": url}
        with pytest.raises(backup.BackupError, match="is postgresql, but"):
            backup.restore(dest, sqlite_urls, only=["app"])
