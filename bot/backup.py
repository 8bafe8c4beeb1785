"""Backups of Haven's two databases and their restore (``haven backup`` / ``haven restore``).

A backup is a new folder (0700) holding one file per database (0600) and ``manifest.json``
(written last: a folder without one is an unfinished backup):

- the **app database** (``HAVEN_DATABASE_URL``: directory, staff, referrals, audit log) and
- the **conversations** (``HAVEN_TRACKER_STORE_URL``: Rasa's ``events`` table).

SQLite is copied with SQLite's online backup API in one step: a consistent snapshot that
includes what is still in the write-ahead log, taken while Haven runs. PostgreSQL is dumped
with ``pg_dump -Fc`` (one snapshot per database) and restored with ``pg_restore --clean
--if-exists`` in a single transaction, so a failed restore changes nothing. When both URLs
name the same PostgreSQL database, the app dump leaves out ``events`` and the
conversations dump holds only ``events``, so each part restores on its own.

The manifest records the format, the time, Haven's version, the app database's Alembic
revision and each file's size and SHA-256; a restore checks every file against it before
it touches a database, and refuses to replace a database that holds data unless told to.

A backup holds personal data (referrals, conversations). It holds no key: contact details
stay encrypted with ``HAVEN_CONTACT_KEYS`` (or ``var/contact-key``), so it is useless
without the keys, and the keys must be kept too, apart from it (docs/deployment.md).
The PostgreSQL password travels in the environment of ``pg_dump``/``pg_restore``
(``PGPASSWORD``), never on their command line.
"""

from __future__ import annotations

import datetime as dt
import glob
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import sqlalchemy as sa

from bot.settings import Settings, ensure_private_dir

FORMAT = 1
MANIFEST = "manifest.json"
PARTS = ("app", "conversations")  # backup order; restore goes the same way
TRACKER_TABLE = "events"  # Rasa's SQL tracker store keeps everything in this one table
TRACKER_OBJECTS = (TRACKER_TABLE, "events_id_seq")  # and numbers its rows from this sequence
FILE_NAMES = {("app", "sqlite"): "app.sqlite3", ("app", "postgresql"): "app.pgdump",
              ("conversations", "sqlite"): "conversations.sqlite3",
              ("conversations", "postgresql"): "conversations.pgdump"}  # fmt: skip
LABELS = {"app": "app database", "conversations": "conversations"}
NOTE = (
    "This backup holds personal data (referrals, staff accounts, the audit log and, unless "
    "left out, conversations). Keep it encrypted, readable by the service account only, "
    "and no longer than the retention periods. Contact details in it are encrypted with "
    "HAVEN_CONTACT_KEYS (or var/contact-key), which are not in it: keep the keys apart."
)
SQLITE_BUSY_SECONDS = 30


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class Part:
    """One database in a backup."""

    kind: str  # "sqlite" | "postgresql"
    file: str
    bytes: int
    sha256: str


@dataclass
class Manifest:
    format: int
    created_at: str  # UTC, ISO 8601
    haven_version: str
    alembic_revision: str | None  # the app database's schema (None: no app part)
    parts: dict[str, Part] = field(default_factory=dict)
    note: str = NOTE

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"


@dataclass(frozen=True)
class Restored:
    """What a restore did, for the command's report."""

    part: str
    rows: dict[str, int]  # table → rows after the restore


def database_urls(settings: Settings) -> dict[str, str]:
    return {"app": settings.database_url, "conversations": settings.tracker_store_url}


def kind_of(url: str) -> str:
    """``sqlite`` (a file) or ``postgresql``; anything else cannot be backed up here."""
    parsed = sa.engine.make_url(url)
    name = parsed.get_backend_name()
    if name == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return "sqlite"
    if name == "postgresql":
        return "postgresql"
    raise BackupError(f"Cannot back up {describe(url)}: only SQLite files and PostgreSQL.")


def describe(url: str) -> str:
    """The database for a message: a SQLite path, or the URL without its password."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return str(parsed.database)
    return parsed.render_as_string(hide_password=True)


def _chosen(only: Iterable[str] | None) -> list[str]:
    wanted = set(only or PARTS)
    unknown = wanted - set(PARTS)
    if unknown:
        raise BackupError(f"Unknown part(s) {sorted(unknown)}: use app or conversations.")
    return [part for part in PARTS if part in wanted]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _private_file(path: Path) -> None:
    """Create ``path`` empty and owner-only (whatever the umask), before anything writes it."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _haven_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("haven")
    except PackageNotFoundError:
        return "unknown"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- SQLite -----------------------------------------------------------------------------


def _sqlite_path(url: str) -> Path:
    return Path(sa.engine.make_url(url).database)


def _sqlite_backup(url: str, target: Path) -> None:
    """Copy a live SQLite database into ``target`` in one step of the online backup API
    (a consistent snapshot, write-ahead log included), as one self-contained file."""
    source_path = _sqlite_path(url)
    if not source_path.is_file():
        raise BackupError(f"There is no database at {source_path} yet.")
    _private_file(target)
    source = sqlite3.connect(source_path, timeout=SQLITE_BUSY_SECONDS)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)  # pages=-1: everything in one step, under one read lock
        copy.execute("PRAGMA journal_mode=DELETE")  # no -wal file to carry around
        problem = copy.execute("PRAGMA quick_check").fetchone()[0]
        if problem != "ok":
            raise BackupError(f"The copy of {source_path} failed its check: {problem}")
    finally:
        copy.close()
        source.close()


def _sqlite_restore(backup_file: Path, url: str) -> None:
    """Replace the database at ``url`` with the backup, through the backup API (the live
    file and its -wal stay consistent; a failure leaves the old content)."""
    from bot.db.engine import prepare_sqlite_file

    target_path = _sqlite_path(url)
    ensure_private_dir(target_path.parent)
    if not target_path.exists():
        _private_file(target_path)
    source = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
    target = sqlite3.connect(target_path, timeout=SQLITE_BUSY_SECONDS)
    try:
        source.backup(target)
        target.execute("PRAGMA journal_mode=WAL")  # as Haven's engines open it
    except sqlite3.OperationalError as error:
        raise BackupError(
            f"Could not write {target_path} ({error}). Stop every Haven process first."
        ) from error
    finally:
        target.close()
        source.close()
    prepare_sqlite_file(url)  # the file and its -wal/-shm owner-only


def _sqlite_revision(path: Path) -> str | None:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return connection.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    except (sqlite3.Error, TypeError):
        return None
    finally:
        connection.close()


# --- PostgreSQL -------------------------------------------------------------------------


def pg_binary(name: str) -> str:
    """``pg_dump``/``pg_restore`` from PATH, else the newest /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found

    def major(path: str) -> int:
        number = re.search(r"/postgresql/(\d+)/", path)
        return int(number.group(1)) if number else 0

    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=major)
    if not candidates:
        raise BackupError(
            f"{name} was not found (PATH or /usr/lib/postgresql/*/bin): install the "
            "PostgreSQL client of the server's version or newer (Debian: postgresql-client)."
        )
    return candidates[-1]


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection URI without the password, and the environment that carries it."""
    parsed = sa.engine.make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = sa.engine.URL.create(
        "postgresql", parsed.username, None, parsed.host, parsed.port, parsed.database,
        parsed.query,
    )  # fmt: skip
    return plain.render_as_string(hide_password=False), env


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise BackupError(f"{what} failed: " + " / ".join(detail[-5:]))


def _pg_tables(url: str) -> list[str]:
    with sa.create_engine(url, poolclass=sa.pool.NullPool).connect() as connection:
        return sorted(sa.inspect(connection).get_table_names())


def _table_selection(part: str) -> list[str]:
    """Same database or not, each part restores alone: the app without Rasa's table and its
    id sequence (a sequence of its own, not owned by the column), the conversations with
    only those two."""
    option = "--table" if part == "conversations" else "--exclude-table"
    return [argument for name in TRACKER_OBJECTS for argument in (option, name)]


def _pg_backup(part: str, url: str, target: Path) -> None:
    if part == "conversations" and TRACKER_TABLE not in _pg_tables(url):
        raise BackupError(f"There are no conversations in {describe(url)} yet.")
    uri, env = _libpq(url)
    _private_file(target)
    command = [pg_binary("pg_dump"), "--format=custom", "--file", str(target),
               *_table_selection(part), "--dbname", uri]  # fmt: skip
    _run(command, env, f"pg_dump of the {LABELS[part]}")


def _pg_restore(part: str, backup_file: Path, url: str) -> None:
    uri, env = _libpq(url)
    command = [pg_binary("pg_restore"), "--clean", "--if-exists", "--no-owner",
               "--no-privileges", "--single-transaction", "--dbname", uri,
               str(backup_file)]  # fmt: skip
    _run(command, env, f"pg_restore of the {LABELS[part]} (nothing was changed)")


# --- what a database holds ---------------------------------------------------------------


def _tables_of(part: str, names: Iterable[str]) -> list[str]:
    if part == "conversations":
        return [name for name in names if name == TRACKER_TABLE]
    return [name for name in names if name not in {TRACKER_TABLE, "alembic_version"}]


def row_counts(part: str, url: str) -> dict[str, int]:
    """Rows per table of one part ({} when the database does not exist yet)."""
    if kind_of(url) == "sqlite" and not _sqlite_path(url).exists():
        return {}
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            names = _tables_of(part, sa.inspect(connection).get_table_names())
            preparer = engine.dialect.identifier_preparer
            return {
                name: connection.execute(
                    sa.text(f"SELECT COUNT(*) FROM {preparer.quote(name)}")  # noqa: S608 - our names
                ).scalar_one()
                for name in sorted(names)
            }
    except sa.exc.OperationalError as error:
        raise BackupError(f"Cannot read {describe(url)}: {error.orig}") from error
    finally:
        engine.dispose()


def _app_revision(url: str) -> str | None:
    from bot.db.migrate import current_revision

    try:
        return current_revision(url)
    except sa.exc.SQLAlchemyError:
        return None


# --- backup ------------------------------------------------------------------------------


def backup(destination: Path, urls: dict[str, str], only: Iterable[str] | None = None) -> Manifest:
    """Back up the chosen parts into the new folder ``destination``; returns the manifest."""
    parts = _chosen(only)
    kinds = {part: kind_of(urls[part]) for part in parts}
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise BackupError(f"{destination} already exists and is not an empty folder.")
    created = not destination.exists()
    ensure_private_dir(destination)
    manifest = Manifest(FORMAT, _now(), _haven_version(), None)
    written: list[Path] = []
    try:
        for part in parts:
            target = destination / FILE_NAMES[part, kinds[part]]
            written.append(target)
            if kinds[part] == "sqlite":
                _sqlite_backup(urls[part], target)
                if part == "app":
                    manifest.alembic_revision = _sqlite_revision(target)
            else:
                if part == "app":  # migrations do not run while a backup is made
                    manifest.alembic_revision = _app_revision(urls[part])
                _pg_backup(part, urls[part], target)
            target.chmod(0o600)
            manifest.parts[part] = Part(
                kinds[part], target.name, target.stat().st_size, _sha256(target)
            )
        path = destination / MANIFEST
        written.append(path)
        _private_file(path)
        path.write_text(manifest.to_json())
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        if created:
            shutil.rmtree(destination, ignore_errors=True)
        raise
    return manifest


# --- restore -----------------------------------------------------------------------------


def read_manifest(source: Path) -> Manifest:
    """The backup's manifest, with every file it names checked against its size and hash."""
    path = source / MANIFEST
    if not path.is_file():
        raise BackupError(f"{source} has no {MANIFEST}: not a Haven backup, or an unfinished one.")
    try:
        raw = json.loads(path.read_text())
        parts = {name: Part(**value) for name, value in raw.pop("parts").items()}
        manifest = Manifest(**raw, parts=parts)
    except (ValueError, TypeError, KeyError) as error:
        raise BackupError(f"{path} is not a manifest this Haven can read ({error}).") from error
    if manifest.format != FORMAT:
        raise BackupError(f"{path} has format {manifest.format}; this Haven reads {FORMAT}.")
    for name, part in parts.items():
        if name not in PARTS or FILE_NAMES.get((name, part.kind)) != part.file:
            raise BackupError(f"{path} lists an unexpected file: {part.file}")
        file = source / part.file
        if not file.is_file() or file.stat().st_size != part.bytes or _sha256(file) != part.sha256:
            raise BackupError(f"{file} is missing or damaged (its size or SHA-256 differs).")
    return manifest


def _check_revision(revision: str | None) -> None:
    """Refuse a schema this version of Haven does not know (made by a newer Haven)."""
    if revision is None:
        return
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from bot.db.migrate import alembic_config

    try:
        ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision(revision)
    except CommandError as error:
        raise BackupError(
            f"The backup's app database is at revision {revision}, which this version of "
            "Haven does not know: restore it with the version that made it."
        ) from error


def holding_data(manifest: Manifest, urls: dict[str, str], only: Iterable[str] | None = None
                 ) -> dict[str, int]:  # fmt: skip
    """The chosen parts whose database already holds rows, and how many."""
    held = {}
    for part in _chosen(only):
        if part in manifest.parts:
            rows = sum(row_counts(part, urls[part]).values())
            if rows:
                held[part] = rows
    return held


def restore(source: Path, urls: dict[str, str], only: Iterable[str] | None = None,
            overwrite: bool = False) -> list[Restored]:  # fmt: skip
    """Restore the chosen parts of the backup in ``source`` into the databases at ``urls``.

    Everything is checked first (files, kinds, schema revision, data in the way); only then
    is anything written. Stop every Haven process before restoring.
    """
    manifest = read_manifest(source)
    parts = [part for part in _chosen(only) if part in manifest.parts]
    if not parts:
        raise BackupError(f"{source} holds none of: {', '.join(_chosen(only))}.")
    for part in parts:
        wanted, found = manifest.parts[part].kind, kind_of(urls[part])
        if wanted != found:
            raise BackupError(
                f"The {LABELS[part]} in this backup is {wanted}, but {describe(urls[part])} is "
                f"{found}. Restore into a {wanted} database (the directory alone moves between "
                "kinds with `haven directory export` and `import`)."
            )
    if "app" in parts:
        _check_revision(manifest.alembic_revision)
    held = holding_data(manifest, urls, parts)
    if held and not overwrite:
        lines = [f"the {LABELS[part]} at {describe(urls[part])} holds {rows} row(s)"
                 for part, rows in held.items()]  # fmt: skip
        raise BackupError(
            "Nothing was restored: " + "; ".join(lines) + ". A restore replaces it: "
            "stop Haven and run again with --yes."
        )
    done = []
    for part in parts:
        file = source / manifest.parts[part].file
        if manifest.parts[part].kind == "sqlite":
            _sqlite_restore(file, urls[part])
        else:
            _pg_restore(part, file, urls[part])
        done.append(Restored(part, row_counts(part, urls[part])))
    return done


def unreadable_referrals(url: str, settings: Settings) -> tuple[int, int]:
    """(referrals with encrypted details, how many of them no key here decrypts): whether
    the keys on this machine fit the restored data. Reads keys; never makes one."""
    from cryptography.fernet import Fernet, InvalidToken, MultiFernet

    keys = [key.strip() for key in settings.contact_keys_env.split(",") if key.strip()]
    key_file = settings.var_dir / "contact-key"
    if not keys and key_file.is_file():
        keys = [key_file.read_text().strip()]
    fernet = MultiFernet([Fernet(key) for key in keys]) if keys else None
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            if "referral" not in sa.inspect(connection).get_table_names():
                return 0, 0
            rows = connection.execute(
                sa.text("SELECT contact_enc, conversation_enc FROM referral "
                        "WHERE contact_enc IS NOT NULL OR conversation_enc IS NOT NULL")
            ).all()  # fmt: skip
    finally:
        engine.dispose()
    unreadable = 0
    for row in rows:
        try:
            if fernet is None:
                raise InvalidToken
            for token in row:
                if token is not None:
                    fernet.decrypt(token.encode())
        except InvalidToken:
            unreadable += 1
    return len(rows), unreadable
