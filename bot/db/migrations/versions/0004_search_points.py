"""The search index (docs/directory.md, "Search and ranking"; ``bot/directory/points.py``):
one index range answers a search by need near a place, one row per service gives what
ranking reads, one row per place gives its hours.

The three tables are derived from the directory tables; this revision creates them and
fills them from the data already imported. The bounding-box and state-and-city indexes
of 0003 are no longer read by the search and are dropped (two fewer indexes to write).

Revision ID: 0004_search_points
Revises: 0003_search_indexes
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_search_points"
down_revision = "0003_search_indexes"
branch_labels = None
depends_on = None

IDS = ("service_id", "service_at_location_id", "location_id")
INDEXES = (
    ("ix_search_point_box", ["taxonomy_term_id", "latitude", "longitude", *IDS]),
    ("ix_search_point_state", ["taxonomy_term_id", "state", "city", *IDS]),
)
# (name, table, columns) of 0003 that the search no longer reads
DROPPED = (
    ("ix_location_latitude_longitude_id", "location", ["latitude", "longitude", "id"]),
    ("ix_address_state_city", "address", ["state_province", "city", "location_id"]),
)


def upgrade() -> None:
    op.create_table(
        "search_point",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("taxonomy_term_id", sa.Text, nullable=False),
        *(sa.Column(name, sa.Text, nullable=False) for name in IDS),
        sa.Column("latitude", sa.Float),
        sa.Column("longitude", sa.Float),
        sa.Column("state", sa.Text),
        sa.Column("city", sa.Text),
    )
    op.create_table(
        "search_service",
        sa.Column("service_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("assured_date", sa.Date),
        sa.Column("populations", sa.Text, nullable=False, server_default=""),
        sa.Column("languages", sa.Text, nullable=False, server_default=""),
        sa.Column("capacity_available", sa.Integer),
        sa.Column("capacity_updated", sa.DateTime),
    )
    op.create_table(
        "search_hours",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("service_id", sa.Text, nullable=False),
        sa.Column("service_at_location_id", sa.Text),
        sa.Column("timezone", sa.Text),
        sa.Column("schedule", sa.Text, nullable=False),
    )
    op.create_index("ix_search_hours_sal", "search_hours", ["service_at_location_id"])
    op.create_index("ix_search_hours_service", "search_hours", ["service_id"])
    for name, columns in INDEXES:
        op.create_index(name, "search_point", columns)
    for name, table, _ in DROPPED:
        op.drop_index(name, table_name=table)
    from bot.directory.points import rebuild

    rebuild(op.get_bind())


def downgrade() -> None:
    for name, table, columns in DROPPED:
        op.create_index(name, table, columns)
    op.drop_table("search_hours")
    op.drop_table("search_service")
    op.drop_table("search_point")
