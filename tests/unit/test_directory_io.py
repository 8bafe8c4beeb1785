"""HSDS import/export: the shipped data, round trips, bad files refused with nothing changed."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.db.engine import session_scope
from bot.db.migrate import current_revision, head_revision, upgrade
from bot.directory.hsds_io import (
    DirectoryImportError,
    dump_tables,
    export_directory,
    import_directory,
)
from bot.directory.models import Service
from bot.directory.taxonomy import NEED_PREFIX
from bot.directory.vocabulary import load_vocabulary

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "directory" / "sample"
NATIONAL = ROOT / "data" / "directory" / "national.json"


def fresh_db(tmp_path: Path, name: str = "haven.db") -> str:
    url = f"sqlite:///{tmp_path / name}"
    upgrade(url)
    return url


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> str:
    url = fresh_db(tmp_path_factory.mktemp("loaded"))
    import_directory(NATIONAL, url)
    import_directory(SAMPLE, url)
    return url


def test_migrations_reach_head(tmp_path: Path) -> None:
    url = fresh_db(tmp_path)
    assert current_revision(url) == head_revision()


def test_shipped_data_imports(loaded: str) -> None:
    tables = dump_tables(loaded)
    services = tables["service"]
    assert len([s for s in services if s["id"].startswith("national-")]) >= 8
    sample = [s for s in services if not s["id"].startswith("national-")]
    assert len(sample) >= 100
    assert all(s["name"].endswith("(sample)") for s in sample)
    categories = {
        a["taxonomy_term_id"][len(NEED_PREFIX) :]
        for a in tables["attribute"]
        if a["taxonomy_term_id"].startswith(NEED_PREFIX)
    }
    assert categories == set(load_vocabulary().category_ids)  # every need category is covered


def test_national_numbers_are_in_the_contacts_registry() -> None:
    registry = (ROOT / "data" / "contacts.yml").read_text(encoding="utf-8")
    for service in json.loads(NATIONAL.read_text(encoding="utf-8")):
        for phone in service.get("phones", []):
            assert phone["number"] in registry, (service["id"], phone["number"])
        assert service["assured_date"]
        assert any(
            a["taxonomy_term_id"] == "haven-profile-source_url" for a in service["attributes"]
        )


def test_export_then_import_gives_identical_data(loaded: str, tmp_path: Path) -> None:
    export_directory(tmp_path / "package", loaded)
    export_directory(tmp_path / "tables.json", loaded)
    for source in (tmp_path / "package", tmp_path / "tables.json"):
        url = fresh_db(tmp_path, f"{source.stem}.db")
        import_directory(source, url)
        assert dump_tables(url) == dump_tables(loaded)
    export_directory(tmp_path / "again", fresh_db_with(tmp_path / "package", tmp_path))
    for path in (tmp_path / "package").glob("*.csv"):
        assert path.read_text() == (tmp_path / "again" / path.name).read_text()


def fresh_db_with(source: Path, tmp_path: Path) -> str:
    url = fresh_db(tmp_path, "again.db")
    import_directory(source, url)
    return url


def test_reimport_updates_in_place(tmp_path: Path) -> None:
    url = fresh_db(tmp_path)
    import_directory(SAMPLE, url)
    before = dump_tables(url)
    changed = tmp_path / "changed"
    shutil.copytree(SAMPLE, changed)
    rows = list(csv.DictReader((changed / "services.csv").open(encoding="utf-8")))
    rows[0]["description"] = "Updated description."
    with (changed / "services.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    report = import_directory(changed, url)
    assert report.inserted.get("service") == 0 and report.updated["service"] == len(rows)
    after = dump_tables(url)
    assert len(after["service"]) == len(before["service"])
    updated = next(s for s in after["service"] if s["id"] == rows[0]["id"])
    assert updated["description"] == "Updated description."


def corrupt(tmp_path: Path, filename: str, row: int, field: str, value: str) -> Path:
    """A copy of the sample with one cell changed (row counts like a spreadsheet: header = 1)."""
    target = tmp_path / "bad"
    shutil.copytree(SAMPLE, target)
    rows = list(csv.DictReader((target / filename).open(encoding="utf-8")))
    rows[row - 2][field] = value
    with (target / filename).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return target


@pytest.mark.parametrize(
    ("filename", "row", "field", "value", "message"),
    [
        ("locations.csv", 5, "latitude", "north-ish", "is not a number"),
        ("locations.csv", 3, "latitude", "123", "is not a latitude"),
        ("services.csv", 4, "assured_date", "yesterday", "is not a date"),
        ("services.csv", 6, "name", "", "is required"),
        ("services.csv", 2, "status", "open", "is not one of"),
        ("services.csv", 7, "organization_id", "no-such-org", "does not match any organization"),
        ("schedules.csv", 3, "opens_at", "9am", "is not a time"),
        (
            "attributes.csv",
            4,
            "taxonomy_term_id",
            "made-up-term",
            "does not match any taxonomy_term",
        ),
        ("phones.csv", 2, "number", "call us", "has no digits"),
    ],
)
def test_bad_row_is_refused_naming_file_row_field_and_nothing_changes(
    tmp_path: Path, filename: str, row: int, field: str, value: str, message: str
) -> None:
    url = fresh_db(tmp_path)
    import_directory(NATIONAL, url)
    before = dump_tables(url)
    bad = corrupt(tmp_path, filename, row, field, value)
    with pytest.raises(DirectoryImportError) as caught:
        import_directory(bad, url)
    text = str(caught.value)
    assert f"{filename}, row {row}, field {field}: " in text and message in text
    assert "nothing was changed" in text
    assert dump_tables(url) == before


def test_profile_values_are_checked(tmp_path: Path) -> None:
    rows = list(csv.DictReader((SAMPLE / "attributes.csv").open(encoding="utf-8")))
    row = next(
        i for i, r in enumerate(rows, start=2) if r["taxonomy_term_id"] == "haven-profile-cost"
    )
    bad = corrupt(tmp_path, "attributes.csv", row, "value", "cheap")
    with pytest.raises(DirectoryImportError, match=rf"attributes.csv, row {row}, field value"):
        import_directory(bad, fresh_db(tmp_path))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("broken.json", b'{"service": [', "is not valid JSON"),
        ("binary.json", b"\x00\x01\xff\xfe", "is not valid JSON"),
        ("scalar.json", b"42", "is not HSDS JSON"),
        ("missing.json", None, "no such HSDS folder or JSON file"),
    ],
)
def test_malformed_files_are_refused(tmp_path: Path, name: str, content, message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DirectoryImportError, match=message):
        import_directory(path, fresh_db(tmp_path))


def test_binary_csv_and_empty_package_are_refused(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    with pytest.raises(DirectoryImportError, match="has no HSDS tables"):
        import_directory(package, fresh_db(tmp_path))
    (package / "services.csv").write_bytes(b"id,name\x00\xff\n1,x\n")
    with pytest.raises(DirectoryImportError, match="services.csv"):
        import_directory(package, fresh_db(tmp_path, "b.db"))


def test_package_paths_cannot_leave_the_package(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "datapackage.json").write_text(
        json.dumps({"resources": [{"name": "service", "path": "../../etc/passwd"}]})
    )
    with pytest.raises(DirectoryImportError, match="outside the package"):
        import_directory(package, fresh_db(tmp_path))


def test_nested_hsds_json_with_html_and_sql_is_stored_as_text(tmp_path: Path) -> None:
    url = fresh_db(tmp_path)
    service = {
        "id": "svc-1",
        "name": "<script>alert(1)</script> Clinic'; DROP TABLE service;--",
        "status": "active",
        "organization": {"id": "org-1", "name": "Org", "description": "An org"},
        "service_at_locations": [
            {"id": "sal-1", "location": {"id": "loc-1", "location_type": "physical",
             "addresses": [{"address_1": "1 Main St", "city": "Houston"}]}}
        ],
        "phones": [{"number": "713-555-0100"}],
    }  # fmt: skip
    path = tmp_path / "one.json"
    path.write_text(json.dumps({"contents": [service]}))
    import_directory(path, url)
    with session_scope(url) as session:
        names = session.execute(sa.select(Service.name)).scalars().all()
    assert names == [service["name"]]
    tables = dump_tables(url)
    assert tables["address"][0]["location_id"] == "loc-1"
    assert tables["phone"][0]["service_id"] == "svc-1"


def test_migrations_match_the_models(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from bot.db.base import metadata
    from bot.db.engine import get_engine

    url = fresh_db(tmp_path)
    with get_engine(url).connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []
