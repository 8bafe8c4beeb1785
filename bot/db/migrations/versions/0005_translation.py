"""Machine translations of Haven's own texts (``bot/i18n/machine.py``): one row per English
text and language, so each is translated once, across restarts and processes. Only
Haven's texts are stored here, never a user's words.

Revision ID: 0005_translation
Revises: 0004_search_points
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_translation"
down_revision = "0004_search_points"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "translation",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("source_hash", sa.String(64), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("engine", sa.String(120), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_translation"),
        sa.UniqueConstraint("language", "source_hash", name="uq_translation_language_source_hash"),
    )


def downgrade() -> None:
    op.drop_table("translation")
