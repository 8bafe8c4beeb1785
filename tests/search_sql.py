"""The SQL statements one directory search runs, for query plan tests (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlalchemy as sa

from bot.db.engine import get_engine, session_scope
from bot.directory.search import SearchQuery, search


def search_statements(url: str, query: SearchQuery) -> list[tuple[str, object]]:
    """(SQL, parameters) of every statement ``search`` sends to the database for ``query``."""
    executed: list[tuple[str, object]] = []

    def remember(conn, cursor, statement, parameters, context, executemany) -> None:
        executed.append((statement, parameters))

    engine = get_engine(url)
    sa.event.listen(engine, "before_cursor_execute", remember)
    try:
        with session_scope(url) as session:
            search(session, query)
    finally:
        sa.event.remove(engine, "before_cursor_execute", remember)
    return executed


# The statements a search by need near a place reads its candidates with, and the index
# each must use (migration 0004).
CANDIDATE_INDEXES = {
    "search_point.latitude BETWEEN": "ix_search_point_box",
    "search_point.state =": "ix_search_point_state",
}


def candidate_plans(url: str, query: SearchQuery, connection, explain: str) -> dict[str, str]:
    """The query plan of each candidate statement of ``query`` (``CANDIDATE_INDEXES``'
    markers), as the database at ``url`` explains it on ``connection`` (``explain``:
    "EXPLAIN QUERY PLAN" on SQLite, "EXPLAIN" on PostgreSQL); one text per plan."""
    plans = {}
    for statement, parameters in search_statements(url, query):
        for marker in CANDIDATE_INDEXES:
            if marker in statement:
                rows = connection.exec_driver_sql(f"{explain} {statement}", parameters)
                plans[marker] = " | ".join(str(row[-1]) for row in rows)
    return plans
