"""Import and export of HSDS 3.0 data: tabular data packages (CSV) and HSDS JSON.

An import reads everything first, converts and checks every value and every reference, and
only then writes, in one transaction. By default it is lenient, so that real directories
load: a bad value is dropped or repaired and a bad row skipped, each with a warning naming
its file, row and field, and the rest is imported; rows that belong to a skipped row are
skipped with it. ``strict`` refuses the whole import on any problem instead, and a source
that cannot be read at all is refused either way; a refused import changes nothing. Rows are
matched by ``id``, so importing the same data again updates it in place. An export writes a
data package that imports back identically.

Accepted inputs:
- a folder (or its ``datapackage.json``) with one CSV per HSDS table;
- HSDS JSON: a list of nested objects (as the HSDS API returns them: services,
  organizations, service-at-locations, locations, taxonomy terms…), a page of them
  (``{"contents": [...]}``), one object, or an object of tables (``{"organization": [...],
  "service": [...], ...}``, what ``haven directory export DEST.json`` writes).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.db.engine import session_scope
from bot.directory import points
from bot.directory.confidential import (
    HIDDEN_ADDRESS_FIELDS,
    HIDDEN_LOCATION_FIELDS,
    confidential_ids,
    redact,
)
from bot.directory.hours import RULE_FIELDS, parse_time, schedule_problem, timezone_named
from bot.directory.models import TABLE_BY_NAME, TABLES, Address, Location, rows_where_in
from bot.directory.taxonomy import PROFILE_PREFIX, PROFILE_TERMS, taxonomy_rows
from bot.directory.vocabulary import load_vocabulary

MAX_PROBLEMS = 25
CHUNK = 500
# Names HSDS publishers use for the same tables (HSDS 2.0 files, plurals).
TABLE_ALIASES = {
    "organizations": "organization", "services": "service", "locations": "location",
    "addresses": "address", "physical_addresses": "address", "postal_addresses": "address",
    "services_at_location": "service_at_location", "service_at_locations": "service_at_location",
    "services_at_locations": "service_at_location", "phones": "phone",
    "schedules": "schedule", "regular_schedules": "schedule", "languages": "language",
    "service_areas": "service_area", "required_documents": "required_document",
    "taxonomies": "taxonomy", "taxonomy_terms": "taxonomy_term", "attributes": "attribute",
    "service_capacities": "service_capacity", "capacities": "service_capacity",
}  # fmt: skip
ENUMS = {
    ("location", "location_type"): {"physical", "postal", "virtual"},
    ("service", "status"): {"active", "inactive", "defunct", "temporarily closed"},
    ("attribute", "link_entity"): {
        "service", "location", "organization", "service_at_location", "phone",
    },
}  # fmt: skip
# HSDS 3.0 tabular file names (the ``path`` of each resource in its datapackage.json).
FILE_NAMES = {
    "organization": "organizations.csv", "taxonomy": "taxonomies.csv",
    "taxonomy_term": "taxonomy_terms.csv", "service": "services.csv",
    "location": "locations.csv", "address": "addresses.csv",
    "service_at_location": "service_at_locations.csv", "phone": "phones.csv",
    "schedule": "schedules.csv", "language": "languages.csv",
    "service_area": "service_areas.csv", "required_document": "required_documents.csv",
    "attribute": "attributes.csv", "service_capacity": "service_capacities.csv",
}  # fmt: skip
# Free text publishers often write as HTML or Markdown: stored as plain text.
TEXT_FIELDS = {
    ("organization", "description"), ("service", "description"),
    ("service", "fees_description"), ("service", "eligibility_description"),
    ("service", "application_process"), ("service", "alert"), ("location", "description"),
    ("location", "transportation"), ("service_at_location", "description"),
    ("schedule", "description"),
}  # fmt: skip
COORDINATES = ("latitude", "longitude")
# Tables whose rows stand on their own: a reference from one to a row that is not there is
# dropped. Every other table's rows belong to a parent and go when their last parent goes.
INDEPENDENT = {"organization", "taxonomy", "taxonomy_term", "service", "location"}
# Fields only one kind of HSDS object has, to tell what a JSON file's objects are.
OBJECT_FIELDS = (
    ("status", "service"), ("location_type", "location"), ("location", "service_at_location"),
    ("service", "service_at_location"), ("taxonomy_detail", "taxonomy_term"),
    ("parent_id", "taxonomy_term"), ("services", "organization"),
    ("locations", "organization"), ("website", "organization"), ("tax_status", "organization"),
)  # fmt: skip

# What a lenient import did about a problem (``Problem.outcome``).
REFUSED = "import refused"  # the source itself cannot be read: refused in every mode
SKIPPED = "row skipped"
DROPPED = "value dropped"
FIRST_KEPT = "first value kept"
CALL_FOR_HOURS = "kept; its hours show as 'call for hours'"
TIMES_DROPPED = "value and opening times dropped; its hours show as 'call for hours'"


@dataclass(frozen=True)
class Problem:
    """Something wrong in the data, located by file, row and field, and what a lenient
    import did about it."""

    source: str
    row: str
    field: str | None
    message: str
    outcome: str = REFUSED
    table: str | None = None
    row_id: str | None = None

    def __str__(self) -> str:
        where = f"{self.source}, row {self.row}"
        if self.field:
            where += f", field {self.field}"
        return f"{where}: {self.message}"

    @property
    def warning(self) -> str:
        return f"{self} ({self.outcome})"

    @property
    def key(self) -> tuple[str, str]:
        """The row it is about: its table and id when known."""
        if self.table and self.row_id:
            return (self.table, self.row_id)
        return (self.source, self.row)


class DirectoryImportError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        shown = "\n".join(f"  {problem}" for problem in problems[:MAX_PROBLEMS])
        more = len(problems) - MAX_PROBLEMS
        super().__init__(
            "Import refused; nothing was changed.\n" + shown
            + (f"\n  … and {more} more problem(s)" if more > 0 else "")
        )  # fmt: skip


@dataclass
class RawRow:
    table: str
    source: str
    row: str
    values: dict[str, Any]
    # Values its place in nested JSON gives (the parent's id): used when the row gives none.
    implied: dict[str, Any] = field(default_factory=dict)

    def problem(self, column: str | None, message: str, outcome: str) -> Problem:
        row_id = self.values.get("id")
        row_id = str(row_id).strip() if row_id is not None else None
        return Problem(self.source, self.row, column, message, outcome, self.table, row_id)


@dataclass
class ImportReport:
    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    skipped_tables: list[str] = field(default_factory=list)
    kept_hidden: int = 0  # confidential rows whose stored address survived a redacted import
    warnings: list[Problem] = field(default_factory=list)  # what a lenient import repaired
    repaired_rows: int = 0  # rows imported with a value dropped or repaired
    skipped_rows: int = 0  # rows not imported

    @property
    def rows(self) -> int:
        return sum(self.inserted.values()) + sum(self.updated.values())


# ---------------------------------------------------------------- plain text

MARKUP = re.compile(
    r"</?[a-zA-Z][a-zA-Z0-9]*(\s[^<>]*)?/?>|&([a-zA-Z][a-zA-Z0-9]*|#\d+|#[xX][0-9a-fA-F]+);"
)
MARKDOWN_LINK = re.compile(r"\[([^\[\]\n]+)\]\(([^()\s]+)\)")
MARKDOWN_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1", re.DOTALL)


class _TextOfHtml(HTMLParser):
    """The text of an HTML fragment: blocks and ``<br>`` become line breaks, list items
    "- " lines, a link "text (url)"; script and style content is left out."""

    HIDDEN = {"script", "style", "template"}
    BLOCKS = {
        "p", "div", "section", "article", "header", "footer", "blockquote", "pre", "ul", "ol",
        "table", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "address",
    }  # fmt: skip

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0
        self.links: list[tuple[str, int]] = []  # (href, where its text starts in parts)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")
        elif tag == "a":
            self.links.append((dict(attrs).get("href") or "", len(self.parts)))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            text = "".join(self.parts[start:])
            if href.startswith(("http:", "https:", "mailto:", "tel:")) and href not in text:
                self.parts.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(re.sub(r"\s+", " ", data))


def plain_text(text: str) -> str:
    """``text`` without HTML or Markdown: tags stripped (script and style with their content),
    entities unescaped, ``<br>``/``<p>`` line breaks, ``<li>`` "- " items, ``[text](url)``
    "text (url)", ``**bold**`` "bold". Text without markup keeps its line breaks."""
    if MARKUP.search(text):
        parser = _TextOfHtml()
        parser.feed(text)
        parser.close()
        lines = (re.sub(r"[ \t]+", " ", line).strip() for line in "".join(parser.parts).split("\n"))
        text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    text = MARKDOWN_LINK.sub(lambda m: m[1] if m[1] == m[2] else f"{m[1]} ({m[2]})", text)
    return MARKDOWN_BOLD.sub(lambda m: m[2], text)


# ---------------------------------------------------------------- reading


def _table_name(name: str) -> str | None:
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    key = key[:-4] if key.endswith(".csv") else key
    key = TABLE_ALIASES.get(key, key)
    return key if key in TABLE_BY_NAME else None


def _read_csv(path: Path, table: str, problems: list[Problem]) -> list[RawRow]:
    try:  # newline="": line breaks inside quoted cells stay as they are ("\n", "\r\n")
        with path.open(encoding="utf-8-sig", newline="") as handle:
            text = handle.read()
    except UnicodeDecodeError as error:
        problems.append(Problem(path.name, "?", None, f"is not UTF-8 text ({error.reason})"))
        return []
    except OSError as error:
        problems.append(Problem(path.name, "-", None, f"cannot be read ({error.strerror})"))
        return []
    if "\x00" in text:
        problems.append(Problem(path.name, "?", None, "contains binary data, not CSV"))
        return []
    reader = csv.DictReader(io.StringIO(text, newline=""))
    reader.fieldnames = [name.strip().lower() for name in reader.fieldnames or []]
    rows = []
    for number, values in enumerate(reader, start=2):  # row 1 is the header
        raw = RawRow(table, path.name, str(number), values)
        if None in values:
            problems.append(raw.problem(None, "has more cells than the header", SKIPPED))
            continue
        rows.append(raw)
    return rows


def _read_package(folder: Path, problems: list[Problem], skipped: list[str]) -> list[RawRow]:
    descriptor = folder / "datapackage.json"
    resources: list[tuple[str, Path]] = []
    if descriptor.exists():
        try:
            package = json.loads(descriptor.read_text(encoding="utf-8"))
            entries = package.get("resources") or []
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as error:
            problems.append(Problem(descriptor.name, "-", None, f"is not valid JSON ({error})"))
            return []
        for resource in entries:
            path = resource.get("path") if isinstance(resource, dict) else None
            if not isinstance(path, str):
                problems.append(Problem(descriptor.name, "-", "path", "a resource has no path"))
                continue
            table = _table_name(str(resource.get("name") or path)) or _table_name(Path(path).name)
            target = (folder / path).resolve()
            if folder.resolve() not in target.parents:
                message = f"{path!r} is outside the package"
                problems.append(Problem(descriptor.name, "-", "path", message))
            elif table is None:
                skipped.append(str(resource.get("name") or path))
            else:
                resources.append((table, target))
    else:
        for path in sorted(folder.glob("*.csv")):
            table = _table_name(path.name)
            if folder.resolve() not in path.resolve().parents:  # a symlink out of the folder
                problems.append(Problem(path.name, "-", None, "is outside the package"))
            elif table is None:
                skipped.append(path.name)
            else:
                resources.append((table, path.resolve()))
    if not resources and not problems:
        problems.append(Problem(folder.name, "-", None, "has no HSDS tables (CSV files)"))
    rows: list[RawRow] = []
    for table, path in resources:
        rows.extend(_read_csv(path, table, problems))
    return rows


# Nested HSDS JSON: parent table → key → (child table, how the child links to its parent).
# "fk:<column>": the child gets the parent's id in <column>; "link": an attribute row;
# "ref:<column>": a single object whose id goes into the PARENT's <column>.
NESTED: dict[str, dict[str, tuple[str, str]]] = {
    "service": {
        "organization": ("organization", "ref:organization_id"),
        "phones": ("phone", "fk:service_id"), "schedules": ("schedule", "fk:service_id"),
        "languages": ("language", "fk:service_id"),
        "service_areas": ("service_area", "fk:service_id"),
        "required_documents": ("required_document", "fk:service_id"),
        "capacities": ("service_capacity", "fk:service_id"),
        "service_capacities": ("service_capacity", "fk:service_id"),
        "service_at_locations": ("service_at_location", "fk:service_id"),
        "attributes": ("attribute", "link"),
    },
    "service_at_location": {
        "service": ("service", "ref:service_id"),
        "location": ("location", "ref:location_id"),
        "phones": ("phone", "fk:service_at_location_id"),
        "schedules": ("schedule", "fk:service_at_location_id"),
        "service_areas": ("service_area", "fk:service_at_location_id"),
        "attributes": ("attribute", "link"),
    },
    "location": {
        "addresses": ("address", "fk:location_id"), "phones": ("phone", "fk:location_id"),
        "languages": ("language", "fk:location_id"), "schedules": ("schedule", "fk:location_id"),
        "attributes": ("attribute", "link"),
    },
    "organization": {
        "phones": ("phone", "fk:organization_id"),
        "locations": ("location", "fk:organization_id"),
        "services": ("service", "fk:organization_id"),
        "attributes": ("attribute", "link"),
    },
    "phone": {"languages": ("language", "fk:phone_id")},
    "attribute": {"taxonomy_term": ("taxonomy_term", "ref:taxonomy_term_id")},
    "taxonomy_term": {"taxonomy_detail": ("taxonomy", "ref:taxonomy_id")},
}  # fmt: skip


def _flatten(
    obj: Any, table: str, source: str, where: str, out: list[RawRow],
    problems: list[Problem], skipped: list[str], implied: dict[str, Any] | None = None,
) -> str | None:  # fmt: skip
    """Add ``obj`` (and its nested objects) as rows; returns its id."""
    if not isinstance(obj, dict):
        message = f"is not an object ({table} expected)"
        problems.append(Problem(source, where, None, message, SKIPPED, table))
        return None
    values = {k: v for k, v in obj.items() if not isinstance(v, (dict, list))}
    if not values.get("id"):
        values["id"] = f"{where}".replace("[", "-").replace("]", "").replace(".", "-")
    own_id = str(values["id"])
    raw = RawRow(table, source, where, values, dict(implied or {}))
    children = NESTED.get(table, {})
    deferred: list[tuple[str, Any, str, str]] = []
    for key, value in obj.items():
        if key not in children:
            if isinstance(value, (dict, list)) and key not in skipped:
                skipped.append(key)
            continue
        if value is None:
            continue
        child_table, link = children[key]
        if link.startswith("ref:"):
            child_id = _flatten(
                value, child_table, source, f"{where}.{key}", out, problems, skipped
            )
            if child_id is not None:
                raw.implied[link[4:]] = child_id
        else:
            deferred.append((key, value, child_table, link))
    out.append(raw)
    for key, value, child_table, link in deferred:
        parent = {"link_entity": table, "link_id": own_id} if link == "link" else {link[3:]: own_id}
        items = value if isinstance(value, list) else [value]
        for position, item in enumerate(items):
            _flatten(
                item, child_table, source, f"{where}.{key}[{position}]", out, problems, skipped,
                parent,
            )  # fmt: skip
    return own_id


def _object_table(obj: Any, named: str | None) -> str:
    """What a top-level JSON object is: told by its fields, else by the file's name
    (``organization_full.json``); a service by default."""
    if isinstance(obj, dict):
        for key, table in OBJECT_FIELDS:
            if key in obj:
                return table
    return named or "service"


def _read_json(path: Path, problems: list[Problem], skipped: list[str]) -> list[RawRow]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        problems.append(Problem(path.name, "-", None, f"is not valid JSON ({error})"))
        return []
    rows: list[RawRow] = []
    if isinstance(data, dict) and isinstance(data.get("contents"), list):
        data = data["contents"]
    if isinstance(data, dict) and "id" in data:
        data = [data]
    if isinstance(data, list):
        named = _table_name(re.sub(r"_(full|list)$", "", path.stem.lower()))
        for position, item in enumerate(data):
            table = _object_table(item, named)
            _flatten(item, table, path.name, f"[{position}]", rows, problems, skipped)
        return rows
    if isinstance(data, dict):
        for key, items in data.items():
            table = _table_name(key)
            if table is None or not isinstance(items, list):
                skipped.append(key)
                continue
            for position, item in enumerate(items):
                where = f"{key}[{position}]"
                if isinstance(item, dict):
                    rows.append(RawRow(table, path.name, where, dict(item)))
                else:
                    problems.append(Problem(path.name, where, None, "is not an object", SKIPPED))
        return rows
    problems.append(Problem(path.name, "-", None, "is not HSDS JSON (a list or an object)"))
    return []


def read_source(path: Path) -> tuple[list[RawRow], list[Problem], list[str]]:
    """Raw rows from a data package folder, its datapackage.json, or an HSDS JSON file."""
    problems: list[Problem] = []
    skipped: list[str] = []
    if path.is_dir():
        rows = _read_package(path, problems, skipped)
    elif path.name == "datapackage.json":
        rows = _read_package(path.parent, problems, skipped)
    elif path.suffix.lower() == ".json" and path.is_file():
        rows = _read_json(path, problems, skipped)
    elif path.suffix.lower() == ".csv" and path.is_file():
        rows = _read_package(path.parent, problems, skipped)
    else:
        problems.append(Problem(str(path), "-", None, "no such HSDS folder or JSON file"))
        rows = []
    return rows, problems, skipped


# ---------------------------------------------------------------- converting


def _convert(value: Any, column: sa.Column) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    kind = column.type
    if isinstance(kind, (sa.Float, sa.Integer)):
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a number")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{value!r} is not a number") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(f"{value!r} is not a finite number")
        if isinstance(kind, sa.Integer):
            if not number.is_integer():
                raise ValueError(f"{value!r} is not a whole number")
            return int(number)
        return number
    if isinstance(kind, sa.DateTime):
        try:
            parsed = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{value!r} is not a date-time (YYYY-MM-DDTHH:MM:SS)") from None
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return parsed
    if isinstance(kind, sa.Date):
        text = str(value).strip()
        try:
            return dt.date.fromisoformat(text[:10])
        except ValueError:
            raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)") from None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _check_value(table: str, name: str, value: Any) -> str | None:
    allowed = ENUMS.get((table, name))
    if allowed and value is not None and value not in allowed:
        return f"{value!r} is not one of {', '.join(sorted(allowed))}"
    if value is None:
        return None
    if (table, name) == ("location", "latitude") and not -90 <= value <= 90:
        return f"{value} is not a latitude (-90 to 90)"
    if (table, name) == ("location", "longitude") and not -180 <= value <= 180:
        return f"{value} is not a longitude (-180 to 180)"
    if table == "schedule" and name in ("opens_at", "closes_at"):
        try:
            parse_time(value)
        except ValueError as error:
            return str(error)
    if (table, name) == ("schedule", "timezone") and timezone_named(value) is None:
        return f"{value!r} is not a UTC offset in hours or a time zone name"
    if table == "phone" and name == "number" and value and not any(ch.isdigit() for ch in value):
        return f"{value!r} has no digits"
    return None


def _value(table: str, column: sa.Column, given: Any) -> Any:
    """``given`` converted to the column's type, checked, and as plain text for free-text
    fields; ValueError says what is wrong."""
    value = _convert(given, column)
    if isinstance(value, str) and (table, column.name) in TEXT_FIELDS:
        value = plain_text(value) or None
    message = _check_value(table, column.name, value)
    if message:
        raise ValueError(message)
    return value


def _convert_row(raw: RawRow, problems: list[Problem]) -> dict[str, Any] | None:
    """The typed row, with bad values dropped or repaired; None when the row is skipped."""
    row: dict[str, Any] = {}
    found: list[Problem] = []
    for column in TABLE_BY_NAME[raw.table].__table__.columns:
        name, implied = column.name, raw.implied.get(column.name)
        try:
            value, message = _value(raw.table, column, raw.values.get(name)), None
        except ValueError as error:
            value, message = None, str(error)
        if value is None and implied is not None:
            if message:
                found.append(raw.problem(name, message, f"set to {implied!r}, its parent"))
            value, message = implied, None
        if message is None and value is None and not column.nullable:
            message = "is required"
        if message:
            dropped = raw.table == "schedule" and name in RULE_FIELDS
            outcome = SKIPPED if not column.nullable else TIMES_DROPPED if dropped else DROPPED
            found.append(raw.problem(name, message, outcome))
        row[name] = value
    if raw.table == "attribute":
        message = _check_profile_value(row)
        if message:
            found.append(raw.problem("value", message, SKIPPED))
    if raw.table == "location" and any(p.field in COORDINATES for p in found):
        for name in COORDINATES:  # half a position is no position
            if row[name] is not None:
                message = f"{row[name]} is no position without the other coordinate"
                found.append(raw.problem(name, message, DROPPED))
                row[name] = None
    if raw.table == "schedule":
        if any(p.outcome == TIMES_DROPPED for p in found):
            row["opens_at"] = row["closes_at"] = None
        error = schedule_problem(row)
        if error:
            found.append(raw.problem(error.field, str(error), CALL_FOR_HOURS))
    problems.extend(found)
    return None if any(p.outcome == SKIPPED for p in found) else row


def convert_rows(
    raw_rows: Iterable[RawRow], problems: list[Problem]
) -> tuple[dict[str, dict[str, dict]], dict[tuple[str, str], RawRow]]:
    """Typed rows per table keyed by id, and where each came from. Rows given more than once
    (nested JSON repeats an object under each parent) are merged: a value one gives and
    another leaves empty is kept; two different values keep the first."""
    tables: dict[str, dict[str, dict]] = {name: {} for name in TABLE_BY_NAME}
    origin: dict[tuple[str, str], RawRow] = {}
    for raw in raw_rows:
        row = _convert_row(raw, problems)
        if row is None:
            continue
        seen = tables[raw.table].get(row["id"])
        if seen is None:
            tables[raw.table][row["id"]] = row
            origin[(raw.table, row["id"])] = raw
            continue
        first = origin[(raw.table, row["id"])]
        for name, value in row.items():
            if value is None or seen[name] == value:
                continue
            if seen[name] is None:
                seen[name] = value
            else:
                message = (f"{value!r} differs from {seen[name]!r} given for the same id at "
                           f"{first.source}, row {first.row}")  # fmt: skip
                problems.append(raw.problem(name, message, FIRST_KEPT))
    return tables, origin


def _check_profile_value(row: dict) -> str | None:
    term = row["taxonomy_term_id"] or ""
    if not term.startswith(PROFILE_PREFIX):
        return None
    allowed = PROFILE_TERMS.get(term[len(PROFILE_PREFIX) :], ())
    if allowed and row["value"] not in allowed:
        return f"{row['value']!r} is not one of {', '.join(allowed)} for {term}"
    return None


def _existing_ids(session: Session, table: str, ids: Iterable[str]) -> set[str]:
    rows = rows_where_in(session, TABLE_BY_NAME[table].__table__, "id", ids, columns=("id",))
    return {row["id"] for row in rows}


FOREIGN_KEYS = {
    name: [(c.name, next(iter(c.foreign_keys)).column.table.name)
           for c in model.__table__.columns if c.foreign_keys]
    for name, model in TABLE_BY_NAME.items()
}  # fmt: skip


def _links(table: str, row: dict) -> list[tuple[str, str]]:
    """(column, target table) of every reference the row makes."""
    links = list(FOREIGN_KEYS[table])
    if table == "attribute" and row["link_entity"] in TABLE_BY_NAME:
        links.append(("link_id", row["link_entity"]))
    return [(column, target) for column, target in links if row.get(column) is not None]


def resolve_references(
    session: Session,
    tables: dict[str, dict[str, dict]],
    origins: dict[tuple[str, str], RawRow],
    problems: list[Problem],
) -> None:
    """Every reference (foreign key, attribute link) must name a row this import keeps or
    one already stored. Otherwise the reference is dropped, or the row is skipped when the
    reference is required or was its last link to a parent. Tables go parents first, so a
    row skipped here takes the rows that belong only to it along."""
    skipped = {p.key for p in problems if p.outcome == SKIPPED}
    for model in TABLES:
        table = model.__tablename__
        rows = tables[table]
        wanted: dict[str, set[str]] = {}
        for row in rows.values():
            for column, target in _links(table, row):
                if row[column] not in tables[target]:
                    wanted.setdefault(target, set()).add(row[column])
        stored = {target: _existing_ids(session, target, ids) for target, ids in wanted.items()}
        for row_id, row in list(rows.items()):
            links = _links(table, row)
            broken = [(c, t) for c, t in links
                      if row[c] not in tables[t] and row[c] not in stored[t]]  # fmt: skip
            if not broken:
                continue
            required = any(not model.__table__.c[c].nullable for c, _ in broken)
            orphaned = table not in INDEPENDENT and len(broken) == len(links)
            outcome = SKIPPED if required or orphaned else DROPPED
            raw = origins.get((table, row_id))
            for column, target in broken:
                value = row[column]
                message = (f"{target} {value!r} is not imported (see its own row)"
                           if (target, value) in skipped
                           else f"{value!r} does not match any {target} id")  # fmt: skip
                problems.append(
                    raw.problem(column, message, outcome) if raw
                    else Problem(table, row_id, column, message, outcome, table, row_id)
                )  # fmt: skip
                row[column] = None
            if outcome == SKIPPED:
                del rows[row_id]
                skipped.add((table, row_id))


# ---------------------------------------------------------------- writing


def _ordered(table: str, rows: dict[str, dict]) -> list[dict]:
    if table != "taxonomy_term":
        return list(rows.values())
    ordered, placed, pending = [], set(), list(rows.values())
    while pending:  # parents before children (foreign keys are checked at once)
        ready = [r for r in pending if not r["parent_id"] or r["parent_id"] in placed
                 or r["parent_id"] not in rows]  # fmt: skip
        if not ready:
            ready = pending
        ordered += ready
        placed.update(r["id"] for r in ready)
        pending = [r for r in pending if r["id"] not in placed]
    return ordered


def write_tables(
    session: Session, tables: dict[str, dict[str, dict]], report: ImportReport,
    progress: Callable[[int], None] | None = None,
) -> None:  # fmt: skip
    for model in TABLES:
        table = model.__tablename__
        rows = _ordered(table, tables.get(table, {}))
        if not rows:
            continue
        existing = _existing_ids(session, table, (row["id"] for row in rows))
        inserts = [row for row in rows if row["id"] not in existing]
        updates = [row for row in rows if row["id"] in existing]
        for start in range(0, len(inserts), CHUNK):
            session.execute(sa.insert(model.__table__), inserts[start : start + CHUNK])
            if progress:
                progress(len(inserts[start : start + CHUNK]))
        for start in range(0, len(updates), CHUNK):
            session.bulk_update_mappings(model, updates[start : start + CHUNK])
            if progress:
                progress(len(updates[start : start + CHUNK]))
        report.inserted[table] = report.inserted.get(table, 0) + len(inserts)
        report.updated[table] = report.updated.get(table, 0) + len(updates)


def haven_taxonomies() -> dict[str, dict[str, dict]]:
    rows = taxonomy_rows(load_vocabulary())
    return {table: {row["id"]: row for row in items} for table, items in rows.items()}


def import_directory(
    path: Path,
    url: str | None = None,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
    strict: bool = False,
) -> ImportReport:
    """Import HSDS data from ``path``. Lenient: bad values and rows are dropped, repaired or
    skipped, each with a warning in the report. ``strict``: any problem refuses the import.
    A refused import raises DirectoryImportError and changes nothing."""
    raw_rows, problems, skipped = read_source(Path(path))
    if any(p.outcome == REFUSED for p in problems):
        raise DirectoryImportError([p for p in problems if strict or p.outcome == REFUSED])
    tables, origins = convert_rows(raw_rows, problems)
    report = ImportReport(skipped_tables=skipped)
    with session_scope(url) as session:
        for table, rows in haven_taxonomies().items():
            for row_id, row in rows.items():
                tables[table].setdefault(row_id, row)
        resolve_references(session, tables, origins, problems)
        if strict and problems:
            raise DirectoryImportError(problems)
        if on_total:
            on_total(sum(len(rows) for rows in tables.values()))
        report.kept_hidden = keep_hidden_fields(session, tables)
        write_tables(session, tables, report, progress)
        points.rebuild(session)  # the search index, in the same transaction
    kept = {(table, row_id) for table, rows in tables.items() for row_id in rows}
    skipped_rows = {p.key for p in problems if p.outcome == SKIPPED} - kept
    repaired_rows = {p.key for p in problems if p.outcome != SKIPPED} & kept
    report.warnings, report.skipped_rows = problems, len(skipped_rows)
    report.repaired_rows = len(repaired_rows)
    return report


def keep_hidden_fields(session: Session, tables: dict[str, dict[str, dict]]) -> int:
    """A confidential location re-imported from a default (redacted) export keeps the
    address and coordinates the database has: an empty hidden field never overwrites a
    stored one. Returns how many rows kept something."""
    locations, addresses = tables.get("location", {}), tables.get("address", {})
    hidden = confidential_ids(
        session, [*locations, *(row.get("location_id") for row in addresses.values())]
    )
    kept = 0
    for model, rows, fields, owner in (
        (Location, locations, HIDDEN_LOCATION_FIELDS, "id"),
        (Address, addresses, HIDDEN_ADDRESS_FIELDS, "location_id"),
    ):
        for row_id, row in rows.items():
            if row.get(owner) not in hidden:
                continue
            stored = session.get(model, row_id)
            if stored is None:
                continue
            restored = {f: getattr(stored, f) for f in fields if row.get(f) is None}
            restored = {f: v for f, v in restored.items() if v is not None}
            if restored:
                row.update(restored)
                kept += 1
    return kept


# ---------------------------------------------------------------- exporting

_FIELD_TYPES = {
    sa.Float: "number", sa.Integer: "integer", sa.DateTime: "datetime", sa.Date: "date",
}  # fmt: skip


def _field_type(column: sa.Column) -> str:
    return next((name for kind, name in _FIELD_TYPES.items() if isinstance(column.type, kind)),
                "string")  # fmt: skip


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def dump_tables(
    url: str | None = None, include_confidential: bool = False
) -> dict[str, list[dict]]:
    """Every directory row, table by table, ordered by id (plain Python values); confidential
    locations and their addresses redacted unless ``include_confidential``."""
    with session_scope(url) as session:
        tables = {
            model.__tablename__: [
                dict(row._mapping)
                for row in session.execute(sa.select(model.__table__).order_by(model.id))
            ]
            for model in TABLES
        }
        secret = (
            set()
            if include_confidential
            else confidential_ids(session, [row["id"] for row in tables["location"]])
        )
    for index, row in enumerate(tables["location"]):
        if row["id"] in secret:
            tables["location"][index], _ = redact(row, [])
    for index, row in enumerate(tables["address"]):
        if row["location_id"] in secret:
            _, (tables["address"][index],) = redact({}, [row])
    return tables


def export_directory(
    destination: Path, url: str | None = None, include_confidential: bool = False
) -> dict[str, int]:
    """Write the directory as an HSDS data package folder, or as tables in one ``.json``.

    Confidential locations lose their street address, postal code, coordinates and notes
    unless ``include_confidential``; then every file written is readable by its owner only.
    """
    tables = dump_tables(url, include_confidential)
    destination = Path(destination)
    private = include_confidential
    if destination.suffix.lower() == ".json":
        destination.parent.mkdir(parents=True, exist_ok=True)
        data = {
            table: [{key: _cell(value) for key, value in row.items()} for row in rows]
            for table, rows in tables.items()
        }
        _write_private(destination, private)
        destination.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", "utf-8")
        return {table: len(rows) for table, rows in tables.items()}
    destination.mkdir(mode=0o700 if private else 0o777, parents=True, exist_ok=True)
    if private:
        destination.chmod(0o700)
    resources = []
    for model in TABLES:
        table = model.__tablename__
        columns = [column.name for column in model.__table__.columns]
        filename = FILE_NAMES[table]
        _write_private(destination / filename, private)
        with (destination / filename).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            for row in tables[table]:
                writer.writerow(["" if row[c] is None else _cell(row[c]) for c in columns])
        resources.append({
            "name": table, "path": filename, "profile": "tabular-data-resource",
            "schema": {"fields": [{"name": c.name, "type": _field_type(c)}
                                  for c in model.__table__.columns]},
        })  # fmt: skip
    package = {
        "name": "haven-directory-export",
        "title": "Haven service directory (HSDS 3.0)",
        "profile": "tabular-data-package",
        "created": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "resources": resources,
    }
    _write_private(destination / "datapackage.json", private)
    (destination / "datapackage.json").write_text(json.dumps(package, indent=1) + "\n", "utf-8")
    return {table: len(rows) for table, rows in tables.items()}


def _write_private(path: Path, private: bool) -> None:
    """Before writing ``path``: when ``private``, create it (or tighten it) to mode 0600."""
    if private:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        path.chmod(0o600)
