"""The directory data Haven ships, loaded by ``haven run`` into an empty database."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from bot.db.engine import session_scope
from bot.directory.hsds_io import ImportReport, import_directory
from bot.directory.models import Service
from bot.settings import Settings


def shipped_data(settings: Settings) -> list[Path]:
    """National resources first (real), then the fictional sample for demos and tests."""
    root = settings.project_root / "data" / "directory"
    return [root / "national.json", root / "sample"]


def seed_if_empty(settings: Settings) -> list[tuple[Path, ImportReport]]:
    """Import the shipped data when the directory has no services; returns what was loaded."""
    with session_scope(settings.database_url) as session:
        if session.execute(sa.select(Service.id).limit(1)).first() is not None:
            return []
    return [
        (path, import_directory(path, settings.database_url))
        for path in shipped_data(settings)
        if path.exists()
    ]
