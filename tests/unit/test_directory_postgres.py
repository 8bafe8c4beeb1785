"""The same migrations and import on PostgreSQL as on SQLite (a real local server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.db.engine import get_engine, session_scope
from bot.db.migrate import current_revision, downgrade, head_revision, upgrade
from bot.directory.geocode import geocode_city
from bot.directory.hsds_io import DirectoryImportError, dump_tables, import_directory
from bot.directory.search import SearchQuery, search
from tests import postgres
from tests.search_sql import CANDIDATE_INDEXES, candidate_plans

DATA = Path(__file__).resolve().parents[2] / "data" / "directory"
pytestmark = pytest.mark.skipif(
    not postgres.available(), reason="PostgreSQL server binaries (initdb, pg_ctl) not installed"
)


@pytest.fixture(scope="module")
def pg_url():
    with postgres.postgres_server() as url:
        yield url


def test_migrations_import_and_search_match_sqlite(pg_url: str, tmp_path: Path) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'haven.db'}"
    for url in (pg_url, sqlite_url):
        upgrade(url)
        assert current_revision(url) == head_revision()
        import_directory(DATA / "national.json", url)
        import_directory(DATA / "sample", url)
    assert dump_tables(pg_url) == dump_tables(sqlite_url)
    houston = geocode_city("Houston")
    query = SearchQuery(need="legal_aid", latitude=houston.latitude, longitude=houston.longitude)
    found = []
    for url in (pg_url, sqlite_url):
        with session_scope(url) as session:
            found.append(search(session, query, limit=10))
    assert found[0] == found[1] and found[0].total >= 3


def test_failed_strict_import_changes_nothing_on_postgres(pg_url: str, tmp_path: Path) -> None:
    upgrade(pg_url)
    before = dump_tables(pg_url)
    bad = tmp_path / "bad.json"
    bad.write_text('[{"id": "x", "name": "X", "status": "active", "minimum_age": "old"}]')
    with pytest.raises(DirectoryImportError, match="minimum_age"):
        import_directory(bad, pg_url, strict=True)
    assert dump_tables(pg_url) == before


def test_downgrade_and_upgrade_again(pg_url: str) -> None:
    downgrade(pg_url, "base")
    assert current_revision(pg_url) is None
    upgrade(pg_url)
    assert current_revision(pg_url) == head_revision()


def test_candidate_queries_use_the_search_indexes(pg_url: str) -> None:
    """The candidate SQL is answered from the search points' indexes (migration 0004): the
    bounding box and the confidential state-and-city reads each from their own, the other
    filters through the attribute index. The sample is too small for the planner to
    prefer indexes unprompted, so sequential scans are made expensive. The SQLite plan of
    the same statements is checked in test_directory_search.py."""
    upgrade(pg_url)
    import_directory(DATA / "sample", pg_url)
    houston = geocode_city("Houston")
    query = SearchQuery(
        need="legal_aid", latitude=houston.latitude, longitude=houston.longitude,
        state=houston.state, areas=houston.areas, cost="free",
    )  # fmt: skip
    with get_engine(pg_url).begin() as connection:
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plans = candidate_plans(pg_url, query, connection, "EXPLAIN")
    assert set(plans) == set(CANDIDATE_INDEXES)
    for marker, index in CANDIDATE_INDEXES.items():
        assert index in plans[marker], plans[marker]
        assert "ix_attribute_term_entity_link_value" in plans[marker], plans[marker]
        assert "Seq Scan" not in plans[marker], plans[marker]
