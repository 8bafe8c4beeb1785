"""HSDS import/export: the shipped data, round trips, the specification's own examples, a
lenient import that repairs or skips bad values with warnings, and --strict that refuses."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.db.engine import session_scope
from bot.db.migrate import current_revision, head_revision, upgrade
from bot.directory.hours import is_open, schedule_hours
from bot.directory.hsds_io import (
    DirectoryImportError,
    dump_tables,
    export_directory,
    import_directory,
    plain_text,
)
from bot.directory.models import Schedule, Service, rows_where_in
from bot.directory.taxonomy import NEED_PREFIX
from bot.directory.vocabulary import load_vocabulary

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "directory" / "sample"
NATIONAL = ROOT / "data" / "directory" / "national.json"
EXAMPLES = ROOT / "tests" / "fixtures" / "hsds" / "examples"


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


def corrupt(tmp_path: Path, *changes: tuple[str, int, str, str]) -> Path:
    """A copy of the sample with cells changed: (file, row, field, value), rows counted like
    a spreadsheet (header = 1)."""
    target = tmp_path / "bad"
    shutil.copytree(SAMPLE, target)
    for filename, row, field, value in changes:
        rows = read_rows(target / filename)
        rows[row - 2][field] = value
        write_rows(target / filename, rows)
    return target


def read_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def write_rows(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def sample_id(filename: str, row: int) -> str:
    return read_rows(SAMPLE / filename)[row - 2]["id"]


BAD_VALUES = [
    # (file, row, field, bad value, message, what a lenient import does)
    ("locations.csv", 5, "latitude", "north-ish", "is not a number", "value dropped"),
    ("locations.csv", 3, "latitude", "123", "is not a latitude", "value dropped"),
    ("locations.csv", 4, "location_type", "castle", "is not one of", "row skipped"),
    ("services.csv", 4, "assured_date", "yesterday", "is not a date", "value dropped"),
    ("services.csv", 5, "minimum_age", "old", "is not a number", "value dropped"),
    ("services.csv", 6, "name", "", "is required", "row skipped"),
    ("services.csv", 2, "status", "open", "is not one of", "row skipped"),
    (
        "services.csv", 7, "organization_id", "no-such-org",
        "does not match any organization", "value dropped",
    ),
    ("schedules.csv", 3, "opens_at", "9am", "is not a time", "value dropped"),
    (
        "attributes.csv", 4, "taxonomy_term_id", "made-up-term",
        "does not match any taxonomy_term", "row skipped",
    ),
    ("phones.csv", 2, "number", "call us", "has no digits", "row skipped"),
]  # fmt: skip


@pytest.mark.parametrize(("filename", "row", "field", "value", "message", "outcome"), BAD_VALUES)
def test_strict_refuses_a_bad_row_naming_file_row_field_and_nothing_changes(
    tmp_path: Path, filename: str, row: int, field: str, value: str, message: str, outcome: str
) -> None:
    url = fresh_db(tmp_path)
    import_directory(NATIONAL, url)
    before = dump_tables(url)
    bad = corrupt(tmp_path, (filename, row, field, value))
    with pytest.raises(DirectoryImportError) as caught:
        import_directory(bad, url, strict=True)
    text = str(caught.value)
    assert f"{filename}, row {row}, field {field}: " in text and message in text
    assert "nothing was changed" in text
    assert dump_tables(url) == before


@pytest.mark.parametrize(("filename", "row", "field", "value", "message", "outcome"), BAD_VALUES)
def test_lenient_import_repairs_or_skips_a_bad_value_with_a_warning(
    tmp_path: Path, filename: str, row: int, field: str, value: str, message: str, outcome: str
) -> None:
    url = fresh_db(tmp_path)
    report = import_directory(corrupt(tmp_path, (filename, row, field, value)), url)
    warnings = [w.warning for w in report.warnings]
    assert any(
        w.startswith(f"{filename}, row {row}, field {field}: ") and message in w
        and w.endswith(f"({outcome})") for w in warnings
    ), warnings  # fmt: skip
    table = {"locations.csv": "location", "services.csv": "service", "phones.csv": "phone",
             "schedules.csv": "schedule", "attributes.csv": "attribute"}[filename]  # fmt: skip
    stored = {r["id"]: r for r in dump_tables(url)[table]}
    row_id = sample_id(filename, row)
    if outcome == "row skipped":
        assert row_id not in stored and report.skipped_rows >= 1
    else:
        assert stored[row_id][field] is None and report.repaired_rows >= 1
    # everything else is there
    assert len(stored) >= len(read_rows(SAMPLE / filename)) - 1
    assert len(dump_tables(url)["service"]) >= len(read_rows(SAMPLE / "services.csv")) - 1


def test_lenient_import_keeps_the_record_and_the_package_around_bad_values(
    tmp_path: Path,
) -> None:
    """Several bad values at once: the rest of each record and of the package is imported,
    a location with an impossible latitude loses both coordinates, and rows that belong
    only to a skipped service are skipped with it."""
    url = fresh_db(tmp_path)
    bad = corrupt(
        tmp_path,
        ("locations.csv", 3, "latitude", "123"),
        ("services.csv", 2, "status", "open"),
        ("services.csv", 4, "assured_date", "yesterday"),
        ("services.csv", 7, "organization_id", "no-such-org"),
    )
    report = import_directory(bad, url)
    tables = dump_tables(url)
    services = {s["id"]: s for s in tables["service"]}
    skipped, dated, orphan = (sample_id("services.csv", row) for row in (2, 4, 7))
    assert skipped not in services
    assert services[dated]["assured_date"] is None and services[dated]["name"]
    assert services[orphan]["organization_id"] is None and services[orphan]["name"]
    location = next(r for r in tables["location"] if r["id"] == sample_id("locations.csv", 3))
    assert location["latitude"] is None and location["longitude"] is None and location["name"]
    # the skipped service's schedules, attributes and services at locations went with it
    for table, column in (("schedule", "service_id"), ("service_at_location", "service_id"),
                          ("attribute", "link_id")):  # fmt: skip
        assert not [r for r in tables[table] if r[column] == skipped]
    assert any(
        "schedules.csv" in w.warning and f"service '{skipped}' is not imported" in w.warning
        and w.outcome == "row skipped" for w in report.warnings
    )  # fmt: skip
    assert len(services) == len(read_rows(SAMPLE / "services.csv")) - 1
    assert report.repaired_rows == 3 and report.skipped_rows > 3


def test_shipped_data_imports_without_warnings(tmp_path: Path) -> None:
    url = fresh_db(tmp_path)
    for source in (NATIONAL, SAMPLE):
        report = import_directory(source, url, strict=True)
        assert report.warnings == [] and report.skipped_rows == report.repaired_rows == 0


def test_the_same_id_twice_keeps_the_first_value(tmp_path: Path) -> None:
    first = read_rows(SAMPLE / "services.csv")[0]
    bad = corrupt(tmp_path, ("services.csv", 3, "id", first["id"]))
    with pytest.raises(DirectoryImportError, match=r"services.csv, row 3, field name: .* differs"):
        import_directory(bad, fresh_db(tmp_path, "strict.db"), strict=True)
    url = fresh_db(tmp_path)
    report = import_directory(bad, url)
    stored = next(s for s in dump_tables(url)["service"] if s["id"] == first["id"])
    assert stored["name"] == first["name"]
    assert any(w.outcome == "first value kept" and w.field == "name" for w in report.warnings)


def test_profile_values_are_checked(tmp_path: Path) -> None:
    rows = read_rows(SAMPLE / "attributes.csv")
    row = next(
        i for i, r in enumerate(rows, start=2) if r["taxonomy_term_id"] == "haven-profile-cost"
    )
    bad = corrupt(tmp_path, ("attributes.csv", row, "value", "cheap"))
    with pytest.raises(DirectoryImportError, match=rf"attributes.csv, row {row}, field value"):
        import_directory(bad, fresh_db(tmp_path), strict=True)
    url = fresh_db(tmp_path, "lenient.db")
    report = import_directory(bad, url)
    assert [w.warning for w in report.warnings] == [
        f"attributes.csv, row {row}, field value: 'cheap' is not one of free, sliding_scale, "
        "fee for haven-profile-cost (row skipped)"
    ]
    assert rows[row - 2]["id"] not in {a["id"] for a in dump_tables(url)["attribute"]}


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

    import bot.i18n.machine  # noqa: F401 - registers the translation table
    from bot.db.base import metadata
    from bot.db.engine import get_engine

    url = fresh_db(tmp_path)
    with get_engine(url).connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []


def test_migration_0002_downgrades_and_upgrades_keeping_schedules(tmp_path: Path) -> None:
    from bot.db.migrate import downgrade

    url = fresh_db(tmp_path)
    import_directory(SAMPLE, url)
    schedules = len(dump_tables(url)["schedule"])
    downgrade(url, "0001_directory")
    with session_scope(url) as session:
        columns = {c["name"] for c in sa.inspect(session.connection()).get_columns("schedule")}
        assert "dtstart" not in columns and "byday" in columns
        count = session.execute(sa.text("SELECT count(*) FROM schedule")).scalar()
    assert count == schedules
    upgrade(url)
    assert len(dump_tables(url)["schedule"]) == schedules


# ---------------------------------------------------------------- the specification's examples

SPEC_EXAMPLES = ["csv", *sorted(path.name for path in EXAMPLES.glob("*.json"))]
COUNSELLING = "ac148810-d857-441c-9679-408f346de14b"


@pytest.mark.parametrize("name", SPEC_EXAMPLES)
def test_the_specifications_examples_import_export_and_import_again(
    tmp_path: Path, name: str
) -> None:
    url = fresh_db(tmp_path)
    import_directory(EXAMPLES / name, url)
    tables = dump_tables(url)
    assert any(not r["id"].startswith("haven-") for rows in tables.values() for r in rows)
    for destination in (tmp_path / "package", tmp_path / "tables.json"):
        export_directory(destination, url)
        again = fresh_db(tmp_path, f"{destination.stem}.db")
        report = import_directory(destination, again, strict=True)
        assert report.warnings == []
        assert dump_tables(again) == tables


def test_the_specifications_csv_package_imports_with_warnings(tmp_path: Path) -> None:
    with pytest.raises(DirectoryImportError, match="is not a latitude"):
        import_directory(EXAMPLES / "csv", fresh_db(tmp_path, "strict.db"), strict=True)
    url = fresh_db(tmp_path)
    report = import_directory(EXAMPLES / "csv", url)
    warnings = [w.warning for w in report.warnings]
    assert "locations.csv, row 2, field latitude: 100.0 is not a latitude (-90 to 90) " \
        "(value dropped)" in warnings  # fmt: skip
    assert any(w.startswith("attributes.csv, row 2, field link_entity: ") for w in warnings)
    assert any(w.startswith("taxonomy_terms.csv, row 2, field parent_id: ") for w in warnings)
    assert report.skipped_rows == 1 and report.repaired_rows == 2
    assert {"contact", "program", "funding"} <= set(report.skipped_tables)
    tables = dump_tables(url)
    (service,) = tables["service"]
    assert service["id"] == COUNSELLING and service["name"] == "Community Counselling"
    assert service["last_modified"] == dt.datetime(2023, 3, 15, 10, 30, 45, 123000)
    (schedule,) = tables["schedule"]
    assert schedule["service_id"] == COUNSELLING and schedule["opens_at"] == "10:00:00"
    assert (schedule["freq"], schedule["byday"], schedule["byweekno"]) == (
        "WEEKLY",
        "TH,FR",
        "41,42",
    )
    assert (schedule["count"], schedule["interval"], schedule["wkst"]) == (3, 1, "TU")
    assert schedule["valid_to"] == schedule["until"] == dt.date(2005, 1, 1)
    (term,) = [t for t in tables["taxonomy_term"] if not t["id"].startswith("haven-")]
    assert term["name"] == "name" and term["parent_id"] is None and term["taxonomy_id"] is None


def test_the_cli_reports_repairs_and_skips_and_strict_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from bot.cli import main
    from bot.settings import get_settings

    monkeypatch.setenv("HAVEN_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("HAVEN_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    umask = os.umask(0o077)  # the command sets it; give it back afterwards
    os.umask(umask)
    try:
        package = str(EXAMPLES / "csv")
        refused = CliRunner().invoke(main, ["directory", "import", "--strict", package])
        assert refused.exit_code == 1 and "nothing was changed" in refused.output
        assert "locations.csv, row 2, field latitude: 100.0 is not a latitude" in refused.output
        imported = CliRunner().invoke(main, ["directory", "import", package])
        assert imported.exit_code == 0, imported.output
        assert "1 service(s)), 2 repaired, 1 skipped." in imported.output
        assert "  attributes.csv, row 2, field link_entity: " in imported.output
        assert "(value dropped)" in imported.output and "(row skipped)" in imported.output
    finally:
        os.umask(umask)
        get_settings.cache_clear()


def test_nested_json_example_links_each_row_to_every_parent(tmp_path: Path) -> None:
    url = fresh_db(tmp_path)
    report = import_directory(EXAMPLES / "service_full.json", url)
    warnings = [w.warning for w in report.warnings]
    assert (
        "service_full.json, row [0].service_at_locations[0].location, field latitude: "
        "100.0 is not a latitude (-90 to 90) (value dropped)"
    ) in warnings
    assert (
        "service_full.json, row [0].attributes[0], field link_entity: 'link_entity' is not one "
        "of location, organization, phone, service, service_at_location (set to 'service', its "
        "parent)"
    ) in warnings
    tables = dump_tables(url)
    (phone,) = tables["phone"]
    assert phone["service_id"] == COUNSELLING
    assert phone["location_id"] and phone["organization_id"] and phone["service_at_location_id"]
    (attribute,) = tables["attribute"]
    assert (attribute["link_entity"], attribute["link_id"]) == ("service", COUNSELLING)
    (sal,) = tables["service_at_location"]
    assert sal["service_id"] == COUNSELLING and sal["location_id"] == tables["location"][0]["id"]
    assert tables["service"][0]["organization_id"] == tables["organization"][0]["id"]


# ---------------------------------------------------------------- text


def test_line_breaks_in_csv_cells_survive_import_export_import(tmp_path: Path) -> None:
    package = tmp_path / "package"
    shutil.copytree(SAMPLE, package)
    rows = read_rows(package / "services.csv")
    rows[0]["description"] = "First line.\nSecond line.\r\nThird line."
    rows[1]["description"] = "Bring:\r\n- your ID\r\n- a letter"
    write_rows(package / "services.csv", rows)
    url = fresh_db(tmp_path)
    import_directory(package, url)
    export_directory(tmp_path / "exported", url)
    again = fresh_db(tmp_path, "again.db")
    import_directory(tmp_path / "exported", again)
    for database in (url, again):
        stored = {s["id"]: s["description"] for s in dump_tables(database)["service"]}
        assert stored[rows[0]["id"]] == rows[0]["description"]
        assert stored[rows[1]["id"]] == rows[1]["description"]


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("Plain text stays.\r\nAs it is.", "Plain text stays.\r\nAs it is."),
        ("AT&T & Sons <3", "AT&T & Sons <3"),
        ("<p>Free help.</p><p>Call us.</p>", "Free help.\n\nCall us."),
        ("One<br>two<br/>three", "One\ntwo\nthree"),
        ("Bring:<ul><li>your ID</li><li>a letter</li></ul>", "Bring:\n\n- your ID\n- a letter"),
        ("Food &amp; shelter&nbsp;now &#8212; free", "Food & shelter now — free"),
        ("<b>Hi</b><script>alert('x')</script><style>p{color:red}</style> there", "Hi there"),
        ('<a href="https://example.org/help">our site</a>', "our site (https://example.org/help)"),
        (
            "See [our site](https://example.org) for **opening** hours",
            "See our site (https://example.org) for opening hours",
        ),  # fmt: skip
        ("<div>\n  Lots   of\n  space\n</div>", "Lots of space"),
    ],
)
def test_plain_text_removes_html_and_markdown(text: str, plain: str) -> None:
    assert plain_text(text) == plain
    assert plain_text(plain) == plain  # a second import changes nothing


def test_descriptions_are_stored_as_plain_text(tmp_path: Path) -> None:
    service = {
        "id": "svc-html", "name": "<b>Legal clinic</b>", "status": "active",
        "description": "<p>Free <strong>legal</strong> help.</p><ul><li>Visas</li></ul>",
        "fees_description": "**Free** &amp; confidential",
        "schedules": [{"id": "sch-html", "description": "Mon&ndash;Fri<br>9&ndash;5"}],
    }  # fmt: skip
    path = tmp_path / "html.json"
    path.write_text(json.dumps([service]))
    url = fresh_db(tmp_path)
    import_directory(path, url)
    tables = dump_tables(url)
    (stored,) = tables["service"]
    assert stored["name"] == "<b>Legal clinic</b>"  # names are not rewritten
    assert stored["description"] == "Free legal help.\n\n- Visas"
    assert stored["fees_description"] == "Free & confidential"
    assert tables["schedule"][0]["description"] == "Mon–Fri\n9–5"


# ---------------------------------------------------------------- schedules


def schedule_package(tmp_path: Path, **fields: str) -> Path:
    package = tmp_path / "package"
    shutil.copytree(SAMPLE, package)
    rows = read_rows(package / "schedules.csv")
    extra = [f for f in fields if f not in rows[0]]
    rows = [{**row, **dict.fromkeys(extra, "")} for row in rows]
    rows[1].update(fields)
    write_rows(package / "schedules.csv", rows)
    return package


def test_a_schedule_rule_haven_cannot_read_is_kept_as_call_for_hours(tmp_path: Path) -> None:
    package = schedule_package(tmp_path, freq="FORTNIGHTLY")
    with pytest.raises(DirectoryImportError, match="schedules.csv, row 3, field freq"):
        import_directory(package, fresh_db(tmp_path, "strict.db"), strict=True)
    url = fresh_db(tmp_path)
    report = import_directory(package, url)
    (warning,) = report.warnings
    assert warning.warning.startswith("schedules.csv, row 3, field freq: 'FORTNIGHTLY'")
    assert warning.outcome == "kept; its hours show as 'call for hours'"
    stored = {r["id"]: r for r in dump_tables(url)["schedule"]}
    assert stored[sample_id("schedules.csv", 3)]["freq"] == "FORTNIGHTLY"


def test_an_unreadable_rule_value_drops_the_opening_times(tmp_path: Path) -> None:
    """Dropping ``interval`` alone would turn "every other Monday" into "every Monday"."""
    package = schedule_package(tmp_path, interval="two", dtstart="2026-01-05")
    url = fresh_db(tmp_path)
    report = import_directory(package, url)
    assert [w.field for w in report.warnings] == ["interval"]
    stored = {r["id"]: r for r in dump_tables(url)["schedule"]}[sample_id("schedules.csv", 3)]
    assert stored["interval"] is None and stored["opens_at"] is None
    assert stored["closes_at"] is None and stored["description"]


def test_full_schedule_rules_are_stored_and_read_back(tmp_path: Path) -> None:
    package = schedule_package(
        tmp_path, freq="MONTHLY", byday="1MO,-1FR", opens_at="09:00:00+05:00",
        closes_at="17:00:00+05:00", valid_from="2026-01-01", valid_to="2026-12-31",
        interval="1", count="24", dtstart="2026-01-01", bymonthday="", wkst="SU",
    )  # fmt: skip
    url = fresh_db(tmp_path)
    assert import_directory(package, url, strict=True).warnings == []
    row_id = sample_id("schedules.csv", 3)
    stored = {r["id"]: r for r in dump_tables(url)["schedule"]}[row_id]
    assert (stored["byday"], stored["opens_at"]) == ("1MO,-1FR", "09:00:00+05:00")
    assert (stored["count"], stored["interval"], stored["wkst"]) == (24, 1, "SU")
    assert stored["valid_to"] == dt.date(2026, 12, 31)
    with session_scope(url) as session:
        rows = list(rows_where_in(session, Schedule.__table__, "id", [row_id]))
        hours = schedule_hours(rows)
    # 09:00-17:00 at UTC+5 is 04:00-12:00 UTC: Monday 2 and Friday 27 November 2026
    for day, expected in ((2, True), (9, False), (27, True), (20, False)):
        moment = dt.datetime(2026, 11, day, 6, tzinfo=dt.timezone.utc)
        assert is_open(hours, None, moment) is expected
