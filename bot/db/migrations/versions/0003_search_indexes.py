"""Indexes the directory search reads alone (docs/directory.md, "Search and ranking").

The bounding box gives location ids from its index; a location's services, a term's
attributes with their values, a state's cities and the service area names come from
indexes too, so a search touches few table rows even at 100,000 services.

Revision ID: 0003_search_indexes
Revises: 0002_schedule_rrule
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0003_search_indexes"
down_revision = "0002_schedule_rrule"
branch_labels = None
depends_on = None

# (name, table, columns) created by this revision
INDEXES = (
    ("ix_location_latitude_longitude_id", "location", ["latitude", "longitude", "id"]),
    ("ix_service_at_location_location_service", "service_at_location",
     ["location_id", "service_id", "id"]),
    ("ix_attribute_term_entity_link_value", "attribute",
     ["taxonomy_term_id", "link_entity", "link_id", "value"]),
    ("ix_address_state_city", "address", ["state_province", "city", "location_id"]),
    ("ix_service_area_name", "service_area", ["name"]),
)  # fmt: skip
# (name, table, columns) replaced by a wider index above
REPLACED = (
    ("ix_location_latitude_longitude", "location", ["latitude", "longitude"]),
    ("ix_attribute_term_entity_link", "attribute", ["taxonomy_term_id", "link_entity", "link_id"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
    for name, table, _ in REPLACED:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for name, table, columns in REPLACED:
        op.create_index(name, table, columns)
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
