"""Alembic environment: migrations run on the connection ``bot.db.migrate`` passes in."""

from __future__ import annotations

from alembic import context

from bot.db.base import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters by table copy
)
with context.begin_transaction():
    context.run_migrations()
