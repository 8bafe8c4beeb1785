"""Warm referrals and the staff console (``bot/handoff/models.py``): staff accounts and
sessions, referrals (contact details and the conversation id encrypted), private notes and
the audit log.

Revision ID: 0006_handoff
Revises: 0005_translation
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_handoff"
down_revision = "0005_translation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_user",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(120), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("available", sa.Boolean, nullable=False),
        sa.Column("failed_logins", sa.Integer, nullable=False),
        sa.Column("locked_until", sa.DateTime, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("last_login_at", sa.DateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_staff_user"),
        sa.UniqueConstraint("username", name="uq_staff_user_username"),
    )
    op.create_table(
        "staff_session",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("staff_id", sa.Integer, nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("last_seen_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name="pk_staff_session"),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff_user.id"], ondelete="CASCADE",
            name="fk_staff_session_staff_id_staff_user",
        ),
    )  # fmt: skip
    op.create_index("ix_staff_session_staff_id", "staff_session", ["staff_id"])
    op.create_table(
        "referral",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("conversation_ref", sa.String(64), nullable=True),
        sa.Column("conversation_enc", sa.Text, nullable=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("needs", sa.JSON, nullable=False),
        sa.Column("place", sa.String(120), nullable=True),
        sa.Column("age_group", sa.String(16), nullable=True),
        sa.Column("safety_flags", sa.JSON, nullable=False),
        sa.Column("urgency", sa.String(16), nullable=False),
        sa.Column("urgency_rank", sa.Integer, nullable=False),
        sa.Column("contact_method", sa.String(16), nullable=False),
        sa.Column("contact_enc", sa.Text, nullable=True),
        sa.Column("share_transcript", sa.Boolean, nullable=False),
        sa.Column("consent", sa.JSON, nullable=False),
        sa.Column("consented_at", sa.DateTime, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("claimed_by", sa.Integer, nullable=True),
        sa.Column("claimed_at", sa.DateTime, nullable=True),
        sa.Column("live", sa.Boolean, nullable=False),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("closed_at", sa.DateTime, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_referral"),
        sa.ForeignKeyConstraint(
            ["claimed_by"], ["staff_user.id"], ondelete="SET NULL",
            name="fk_referral_claimed_by_staff_user",
        ),
    )  # fmt: skip
    op.create_index("ix_referral_conversation_ref", "referral", ["conversation_ref"])
    op.create_index("ix_referral_status", "referral", ["status"])
    op.create_table(
        "referral_note",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("referral_id", sa.Integer, nullable=False),
        sa.Column("staff_id", sa.Integer, nullable=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_referral_note"),
        sa.ForeignKeyConstraint(
            ["referral_id"], ["referral.id"], ondelete="CASCADE",
            name="fk_referral_note_referral_id_referral",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff_user.id"], ondelete="SET NULL",
            name="fk_referral_note_staff_id_staff_user",
        ),
    )  # fmt: skip
    op.create_index("ix_referral_note_referral_id", "referral_note", ["referral_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("staff_id", sa.Integer, nullable=True),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("referral_id", sa.Integer, nullable=True),
        sa.Column("detail", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff_user.id"], ondelete="SET NULL",
            name="fk_audit_log_staff_id_staff_user",
        ),
    )  # fmt: skip
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_referral_id", "audit_log", ["referral_id"])


def downgrade() -> None:
    for table in ("audit_log", "referral_note", "referral", "staff_session", "staff_user"):
        op.drop_table(table)
