"""The HSDS service directory tables (docs/directory.md).

Revision ID: 0001_directory
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_directory"
down_revision = None
branch_labels = None
depends_on = None

T = sa.Text


def _id() -> sa.Column:
    return sa.Column("id", T, primary_key=True)


def _fk(column: str, table: str, nullable: bool = True) -> sa.Column:
    return sa.Column(column, T, sa.ForeignKey(f"{table}.id", ondelete="CASCADE"), nullable=nullable)


def _texts(*names: str) -> list[sa.Column]:
    return [sa.Column(name, T) for name in names]


def _indexed(table: str, *columns: str) -> None:
    for column in columns:
        op.create_index(f"ix_{table}_{column}", table, [column])


def upgrade() -> None:
    op.create_table(
        "organization",
        _id(),
        sa.Column("name", T, nullable=False),
        sa.Column("description", T, nullable=False),
        *_texts("website", "email"),
    )
    op.create_table(
        "taxonomy", _id(), sa.Column("name", T, nullable=False),
        *_texts("description", "uri", "version"),
    )  # fmt: skip
    op.create_table(
        "taxonomy_term",
        _id(),
        sa.Column("code", T),
        sa.Column("name", T, nullable=False),
        sa.Column("description", T),
        _fk("parent_id", "taxonomy_term"),
        sa.Column("taxonomy", T),
        _fk("taxonomy_id", "taxonomy"),
        *_texts("language", "term_uri"),
    )
    op.create_table(
        "service",
        _id(),
        _fk("organization_id", "organization"),
        sa.Column("name", T, nullable=False),
        *_texts("description", "url", "email"),
        sa.Column("status", T, nullable=False),
        sa.Column("eligibility_description", T),
        sa.Column("minimum_age", sa.Float),
        sa.Column("maximum_age", sa.Float),
        *_texts("application_process", "fees_description", "interpretation_services", "alert"),
        sa.Column("assured_date", sa.Date),
        sa.Column("last_modified", sa.DateTime),
    )
    op.create_table(
        "location",
        _id(),
        _fk("organization_id", "organization"),
        sa.Column("location_type", T, nullable=False),
        *_texts("name", "description"),
        sa.Column("latitude", sa.Float),
        sa.Column("longitude", sa.Float),
        sa.Column("transportation", T),
    )
    op.create_index("ix_location_latitude_longitude", "location", ["latitude", "longitude"])
    op.create_table(
        "address",
        _id(),
        _fk("location_id", "location"),
        *_texts("attention", "address_1", "address_2", "city", "region", "state_province"),
        *_texts("postal_code", "country", "address_type"),
    )
    op.create_table(
        "service_at_location",
        _id(),
        _fk("service_id", "service", nullable=False),
        _fk("location_id", "location", nullable=False),
        sa.Column("description", T),
    )
    op.create_table(
        "phone",
        _id(),
        _fk("location_id", "location"),
        _fk("service_id", "service"),
        _fk("organization_id", "organization"),
        _fk("service_at_location_id", "service_at_location"),
        sa.Column("number", T, nullable=False),
        *_texts("extension", "type", "description"),
    )
    op.create_table(
        "schedule",
        _id(),
        _fk("service_id", "service"),
        _fk("location_id", "location"),
        _fk("service_at_location_id", "service_at_location"),
        *_texts("freq", "byday", "opens_at", "closes_at", "timezone", "description"),
    )
    op.create_table(
        "language",
        _id(),
        _fk("service_id", "service"),
        _fk("location_id", "location"),
        _fk("phone_id", "phone"),
        *_texts("name", "code", "note"),
    )
    op.create_table(
        "service_area",
        _id(),
        _fk("service_id", "service"),
        _fk("service_at_location_id", "service_at_location"),
        *_texts("name", "description", "extent", "extent_type"),
    )
    op.create_table(
        "required_document", _id(), _fk("service_id", "service"), *_texts("document", "uri")
    )
    op.create_table(
        "attribute",
        _id(),
        sa.Column("link_id", T, nullable=False),
        _fk("taxonomy_term_id", "taxonomy_term", nullable=False),
        sa.Column("link_type", T),
        sa.Column("link_entity", T, nullable=False),
        *_texts("value", "label"),
    )
    op.create_index(
        "ix_attribute_term_entity_link",
        "attribute",
        ["taxonomy_term_id", "link_entity", "link_id"],
    )
    op.create_table(
        "service_capacity",
        _id(),
        _fk("service_id", "service", nullable=False),
        sa.Column("unit_id", T),
        sa.Column("available", sa.Float, nullable=False),
        sa.Column("maximum", sa.Float),
        sa.Column("description", T),
        sa.Column("updated", sa.DateTime, nullable=False),
    )
    _indexed("taxonomy_term", "parent_id", "taxonomy_id")
    _indexed("service", "organization_id")
    _indexed("location", "organization_id")
    _indexed("address", "location_id")
    _indexed("service_at_location", "service_id", "location_id")
    _indexed("phone", "location_id", "service_id", "organization_id", "service_at_location_id")
    _indexed("schedule", "service_id", "location_id", "service_at_location_id")
    _indexed("language", "service_id", "location_id", "phone_id")
    _indexed("service_area", "service_id", "service_at_location_id")
    _indexed("required_document", "service_id")
    _indexed("attribute", "link_id")
    _indexed("service_capacity", "service_id")


def downgrade() -> None:
    for table in (
        "service_capacity", "attribute", "required_document", "service_area", "language",
        "schedule", "phone", "service_at_location", "address", "location", "service",
        "taxonomy_term", "taxonomy", "organization",
    ):  # fmt: skip
        op.drop_table(table)
