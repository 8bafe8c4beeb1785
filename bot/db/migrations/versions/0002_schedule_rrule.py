"""Schedules keep the whole HSDS recurrence rule (docs/directory.md, "Schedules").

Revision ID: 0002_schedule_rrule
Revises: 0001_directory
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_schedule_rrule"
down_revision = "0001_directory"
branch_labels = None
depends_on = None

COLUMNS = (
    ("valid_from", sa.Date), ("valid_to", sa.Date), ("dtstart", sa.Date), ("until", sa.Date),
    ("count", sa.Integer), ("interval", sa.Integer), ("wkst", sa.Text),
    ("bymonthday", sa.Text), ("byweekno", sa.Text), ("byyearday", sa.Text),
)  # fmt: skip


def upgrade() -> None:
    with op.batch_alter_table("schedule") as batch:
        for name, kind in COLUMNS:
            batch.add_column(sa.Column(name, kind))


def downgrade() -> None:
    with op.batch_alter_table("schedule") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
