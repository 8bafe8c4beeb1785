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
