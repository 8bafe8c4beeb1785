"""Geocoding, the need vocabulary and search over the shipped directory data."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.db.engine import get_engine, session_scope
from bot.db.migrate import downgrade, upgrade
from bot.directory.confidential import confidential_ids
from bot.directory.geocode import find_place, geocode_city, geocode_zip
from bot.directory.hsds_io import dump_tables, import_directory
from bot.directory.ranking import (
    AUDIENCES,
    CAPACITY_STALE_AFTER,
    OPEN_TO_ALL,
    QUALIFIERS,
    STALE_AFTER_DAYS,
    fit_note,
    load_facts,
)
from bot.directory.search import Hours, SearchQuery, is_open, search
from bot.directory.taxonomy import PROFILE_TERMS
from bot.directory.vocabulary import load_vocabulary
from tests.search_sql import CANDIDATE_INDEXES, candidate_plans

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "directory"
HOUSTON = geocode_city("Houston")
UTC = dt.timezone.utc
# A Tuesday, 10:30 in Houston (16:30 UTC in November).
TUESDAY_MORNING = dt.datetime(2026, 11, 24, 16, 30, tzinfo=UTC)
TUESDAY_EVENING = dt.datetime(2026, 11, 25, 1, 30, tzinfo=UTC)  # 19:30 in Houston
SUNDAY_3AM = dt.datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
SUNDAY_NOON_UTC = dt.datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # the sample's beds were counted
DERIVED = ("search_point", "search_service", "search_hours")  # the search index's tables


@pytest.fixture(scope="module")
def url(tmp_path_factory) -> str:
    database = f"sqlite:///{tmp_path_factory.mktemp('search') / 'haven.db'}"
    upgrade(database)
    import_directory(DATA / "national.json", database)
    import_directory(DATA / "sample", database)
    return database


def run(url: str, now: dt.datetime = TUESDAY_MORNING, limit: int = 50, **fields):
    with session_scope(url) as session:
        return search(session, SearchQuery(**fields), limit=limit, now=now)


def near(city: str, **fields) -> dict:
    place = geocode_city(city)
    return dict(
        latitude=place.latitude,
        longitude=place.longitude,
        state=place.state,
        areas=place.areas,
        **fields,
    )


def near_houston(**fields) -> dict:
    return near("Houston", **fields)


# ---------------------------------------------------------------- geocoding (offline)


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("I need a lawyer in Houston", "Houston, TX"),
        ("necesito comida cerca de 77002", "77002 (Houston, TX)"),
        ("nueva york", "New York, NY"),
        ("Miami FL", "Miami, FL"),
        ("in Springfield, IL", "Springfield, IL"),
        ("estoy en Texas", "Texas"),
        ("my zip is 10001", "10001 (New York, NY)"),
    ],
)
def test_places_resolve_offline(text: str, label: str) -> None:
    assert find_place(text).label == label


@pytest.mark.parametrize("text", ["I need help", "food", "I am in danger", "yes", "ok", "hola"])
def test_ordinary_words_are_not_places(text: str) -> None:
    assert find_place(text) is None
    assert find_place(text, place_only=True) is None


def test_zip_code_has_coordinates_and_time_zone() -> None:
    place = geocode_zip("77002")
    assert round(place.latitude, 1) == 29.8 and place.timezone == "America/Chicago"
    assert geocode_zip("00000") is None


def test_no_network_is_needed(monkeypatch) -> None:
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("geocoding tried the network")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    assert find_place("Chicago").state == "IL"


# ---------------------------------------------------------------- vocabulary


@pytest.mark.parametrize(
    ("text", "need"),
    [
        ("a place to sleep", "emergency_shelter"),
        ("comida", "food"),
        ("un abogado", "legal_aid"),
        ("my tooth hurts", "dental"),
        ("I need a job", "employment"),
        ("counseling", "mental_health"),
        ("necesito un médico", "medical"),
        ("NECESITO UN MEDICO", "medical"),
    ],
)
def test_needs_are_understood_in_both_languages(text: str, need: str) -> None:
    assert load_vocabulary().needs(text)[:1] == [need]


def test_filters_are_read_from_words() -> None:
    kinds = {(m.kind, m.value) for m in load_vocabulary().matches("free food open now for men")}
    assert {("free", "true"), ("open_now", "true"), ("population", "men")} <= kinds
    spanish = {(m.kind, m.value) for m in load_vocabulary().matches("que hablen español")}
    assert ("language", "es") in spanish


def test_every_category_has_words_in_both_languages() -> None:
    import yaml

    data = yaml.safe_load((DATA / "needs.yml").read_text(encoding="utf-8"))
    for category in data["categories"]:
        assert category["words"]["en"] and category["words"]["es"], category["id"]


# ---------------------------------------------------------------- search


def test_legal_services_in_houston(url: str) -> None:
    found = run(url, **near_houston(need="legal_aid"))
    assert found.total >= 3 and not found.national_fallback
    for result in found.results:
        assert "legal_aid" in result.categories
        assert result.phones and result.city == "Houston"
        assert result.distance_km is None or result.distance_km <= 40


def test_confidential_addresses_never_leave_search(url: str) -> None:
    tables = dump_tables(url, include_confidential=True)
    confidential = {
        a["link_id"]
        for a in tables["attribute"]
        if a["taxonomy_term_id"] == "haven-profile-address_confidential" and a["value"] == "true"
    }
    hidden = {a["address_1"] for a in tables["address"] if a["location_id"] in confidential}
    assert hidden
    seen_confidential = 0
    for need in load_vocabulary().category_ids:
        for city in ("Houston", "Los Angeles", "New York", "Atlanta", "Chicago", "Miami"):
            place = geocode_city(city)
            query = {
                "latitude": place.latitude, "longitude": place.longitude,
                "state": place.state, "areas": place.areas,
            }  # fmt: skip
            for result in run(url, need=need, **query).results:
                if result.confidential:
                    seen_confidential += 1
                    assert result.address is None and result.distance_km is None
                    assert result.phones  # the intake phone is how to reach it
                assert result.address not in hidden
    assert seen_confidential > 0


def test_language_filter(url: str) -> None:
    found = run(url, **near_houston(need="food", language="vi"))
    assert found.results and all("vi" in r.languages for r in found.results)


def test_population_filter_men_and_boys(url: str) -> None:
    men = run(url, **near_houston(need="emergency_shelter", population="men"))
    assert men.results and all({"men", "all"} & set(r.populations) for r in men.results)
    assert "men" in men.results[0].populations  # an exact match ranks first
    boys = run(url, **near_houston(need="emergency_shelter", population="boys"))
    assert any("boys" in r.populations for r in boys.results)
    assert all("men" not in r.populations for r in boys.results)


def test_free_filter(url: str) -> None:
    found = run(url, **near_houston(need="food", cost="free"))
    assert found.results and all(r.cost == "free" for r in found.results)


def test_open_now_uses_each_services_time_zone(url: str) -> None:
    morning = run(url, **near_houston(need="legal_aid", open_now=True))
    night = run(url, now=SUNDAY_3AM, **near_houston(need="legal_aid", open_now=True))
    assert morning.total > night.total
    assert all(r.open_now for r in morning.results)


def test_is_open_handles_overnight_and_unknown() -> None:
    overnight = (Hours(("MO", "TU"), "20:00", "08:00", None),)
    chicago = __import__("zoneinfo").ZoneInfo("America/Chicago")
    monday_late = dt.datetime(2026, 11, 23, 23, 0, tzinfo=chicago)
    tuesday_early = dt.datetime(2026, 11, 24, 7, 0, tzinfo=chicago)
    tuesday_noon = dt.datetime(2026, 11, 24, 12, 0, tzinfo=chicago)
    assert is_open(overnight, chicago, monday_late) is True
    assert is_open(overnight, chicago, tuesday_early) is True
    assert is_open(overnight, chicago, tuesday_noon) is False
    assert is_open((), chicago, tuesday_noon) is None
    assert is_open(overnight, None, tuesday_noon) is None


def test_national_fallback_says_it_is_national(url: str) -> None:
    nowhere = geocode_city("Anchorage")
    found = run(url, need="legal_aid", latitude=nowhere.latitude, longitude=nowhere.longitude)
    assert found.national_fallback and found.results
    assert all(r.national for r in found.results)
    skipped = run(url, need="safety")
    assert skipped.national_fallback and any("Hotline" in r.name for r in skipped.results)


def test_inactive_services_are_never_shown(url: str) -> None:
    inactive = {s["id"] for s in dump_tables(url)["service"] if s["status"] != "active"}
    assert inactive
    for need in load_vocabulary().category_ids:
        for city in ("Los Angeles", "New York"):
            place = geocode_city(city)
            found = run(url, need=need, latitude=place.latitude, longitude=place.longitude)
            assert not inactive & {r.service_id for r in found.results}


def test_pages_do_not_repeat(url: str) -> None:
    query = SearchQuery(**near_houston(need="case_management"))
    with session_scope(url) as session:
        first = search(session, query, offset=0, limit=3, now=TUESDAY_MORNING)
        second = search(session, query, offset=3, limit=3, now=TUESDAY_MORNING)
    assert first.total == second.total
    assert not {r.service_id for r in first.results} & {r.service_id for r in second.results}


def test_stale_listings_are_marked(url: str) -> None:
    results = [r for n in ("legal_aid", "food", "emergency_shelter", "case_management")
               for r in run(url, **near_houston(need=n)).results]  # fmt: skip
    stale = [r for r in results if r.stale]
    assert stale and len(stale) < len(results)
    assert all(r.assured_date < dt.date.today() - dt.timedelta(days=180) for r in stale)


def test_search_text_is_a_parameter_not_sql(url: str) -> None:
    for text in ("'; DROP TABLE service;--", "%", "_", "\\", "<b>x</b>", "😀"):
        run(url, text=text, national_fallback=False)
    assert run(url, text="pantry", national_fallback=False).total >= 1
    assert dump_tables(url)["service"]


# ---------------------------------------------------------------- ranking, paging, fit


def score(result, query: SearchQuery) -> float:
    """The documented score (docs/directory.md), computed again from a result."""
    value = result.distance_km if result.distance_km is not None else query.radius_km / 2
    value -= 8 if query.language in result.languages else 0
    value -= 5 if "trafficking_specialized" in result.populations else 0
    value -= 5 if query.population in result.populations else 0
    return value + (10 if result.stale else 0)


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"need": "case_management"},
        {"need": "food", "language": "es"},
        {"need": "emergency_shelter", "population": "men"},
        {"need": "legal_aid", "open_now": True},
    ],
)
def test_ranking_follows_fit_fullness_score_and_name(url: str, fields: dict) -> None:
    query = SearchQuery(**near_houston(**fields))
    with session_scope(url) as session:
        found = search(session, query, limit=1000, now=TUESDAY_MORNING)
    keys = [(not r.fits, r.full, score(r, query), r.name.lower()) for r in found.results]
    assert keys == sorted(keys)
    assert len({r.service_id for r in found.results}) == len(found.results) == found.total


@pytest.mark.parametrize(
    "fields",
    [{}, {"need": "case_management"}, {"gender": "man", "age_group": "adult"}, {"open_now": True}],
)
def test_a_page_is_the_slice_of_the_full_ranking(url: str, fields: dict) -> None:
    query = SearchQuery(**near_houston(**fields))
    with session_scope(url) as session:
        full = search(session, query, limit=1000, now=TUESDAY_EVENING)
        for offset in (0, 3, 6):
            page = search(session, query, offset=offset, limit=3, now=TUESDAY_EVENING)
            assert page.total == full.total and page.offset == offset
            assert page.results == full.results[offset : offset + 3]
            assert page.has_more == (offset + 3 < full.total)
    assert full.total > 6 or fields.get("need")


def test_total_counts_each_matching_service_once(url: str) -> None:
    tables = dump_tables(url)
    active = {s["id"] for s in tables["service"] if s["status"] == "active"}
    located = {sal["service_id"] for sal in tables["service_at_location"]}
    for need in ("legal_aid", "food", "emergency_shelter"):
        term = f"haven-need-{need}"
        expected = {a["link_id"] for a in tables["attribute"] if a["taxonomy_term_id"] == term}
        found = run(url, need=need, national_fallback=False, limit=3)  # every place, no box
        assert found.total == len(expected & active & located) > 3
        assert len(found.results) == 3


@pytest.mark.parametrize("now", [TUESDAY_MORNING, TUESDAY_EVENING, SUNDAY_3AM])
def test_open_now_keeps_exactly_the_open_results(url: str, now: dt.datetime) -> None:
    every = run(url, now=now, limit=1000, **near_houston())
    open_only = run(url, now=now, limit=1000, **near_houston(open_now=True))
    expected = tuple(r for r in every.results if r.open_now)
    assert expected and len(expected) < every.total
    assert open_only.results == expected and open_only.total == len(expected)


def test_every_population_value_is_read_for_fit() -> None:
    groups = (set(AUDIENCES), set(OPEN_TO_ALL), set(QUALIFIERS))
    assert set().union(*groups) == set(PROFILE_TERMS["population"])
    assert sum(len(g) for g in groups) == len(PROFILE_TERMS["population"])


@pytest.mark.parametrize(
    ("populations", "gender", "age_group", "note"),
    [
        (("girls",), "man", "adult", "minors_only"),
        (("women", "girls", "families"), "man", "adult", "women_only"),
        (("women", "girls", "families"), "man", None, "women_only"),
        (("men", "trafficking_specialized"), "woman", "adult", "men_only"),
        (("men",), None, "youth", "adults_only"),
        (("women", "families"), "woman", "youth", "adults_only"),
        (("boys",), "woman", "youth", "men_only"),
        (("boys", "unaccompanied_minors"), "woman", "youth", None),
        (("lgbtq", "minors"), "woman", "adult", "minors_only"),
        (("men", "girls"), "woman", "adult", "restricted"),
        (("men",), "man", "adult", None),
        (("girls",), "woman", "youth", None),
        (("men", "all"), "woman", "adult", None),
        (("families",), "man", "adult", None),
        (("lgbtq", "trafficking_specialized"), "man", "youth", None),
        (("women",), None, None, None),
        (("women",), "nonbinary", "adult", None),
        ((), "man", "adult", None),
    ],
)
def test_fit_note(populations, gender, age_group, note) -> None:
    assert fit_note(populations, gender, age_group) == note


def test_a_man_sees_the_shelter_for_women_and_girls_last_and_told_why(url: str) -> None:
    man = run(url, **near("Atlanta", need="emergency_shelter", gender="man", age_group="adult"))
    anyone = run(url, **near("Atlanta", need="emergency_shelter"))
    assert man.total == anyone.total  # never dropped
    assert all(r.fits and r.fit_note is None for r in anyone.results)
    fits = [r.fits for r in man.results]
    assert True in fits and fits == sorted(fits, reverse=True)
    girls = [r for r in man.results if "girls" in r.populations]
    assert girls and all(not r.fits and r.fit_note == "women_only" for r in girls)


def test_a_youth_sees_adult_shelters_after_the_boys_shelter(url: str) -> None:
    youth = run(url, **near_houston(need="emergency_shelter", gender="man", age_group="youth"))
    assert youth.results[0].fits and "boys" in youth.results[0].populations
    adults = [r for r in youth.results if {"men", "women"} & set(r.populations)]
    assert adults and all(r.fit_note == "adults_only" for r in adults)
    adult_woman = {"gender": "woman", "age_group": "adult"}
    woman = run(url, **near("New York", need="emergency_shelter", **adult_woman))
    assert woman.results[0].service_id == "sample-ny-svc-02"  # the farthest, but for her
    notes = {r.service_id: r.fit_note for r in woman.results}
    assert notes["sample-ny-svc-16"] == "minors_only"  # LGBTQ youth shelter
    assert notes["sample-ny-svc-17"] == "men_only"
    assert notes["sample-ny-svc-02"] is None


def test_with_children_ranks_family_services_as_an_exact_match(url: str) -> None:
    plain = run(url, **near_houston(need="legal_aid"))
    family = run(url, **near_houston(need="legal_aid", with_children=True))

    def place(found) -> int:
        return [r.name for r in found.results].index("Guardianship and Family Court Help (sample)")

    assert place(family) < place(plain)
    assert family.total == plain.total and all(r.fits for r in family.results)


def test_a_full_shelter_comes_last_with_the_date_of_its_count(url: str) -> None:
    found = run(url, now=SUNDAY_NOON_UTC, **near("Los Angeles", need="emergency_shelter"))
    assert found.total >= 3 and found.results[-1].full
    full = found.results[-1]
    assert full.beds_available == 0 and full.fits
    assert full.capacity_updated == dt.datetime(2026, 11, 21, 23, 0, tzinfo=UTC)
    assert not full.capacity_stale  # counted 13 hours before
    assert not any(r.full for r in found.results[:-1])
    men = next(r for r in found.results if r.service_id == "sample-la-svc-19")
    assert men.beds_available == 7 and men.capacity_stale  # counted on the 19th
    assert men.capacity_updated == dt.datetime(2026, 11, 19, 18, 0, tzinfo=UTC)
    later = run(url, now=TUESDAY_MORNING, **near("Los Angeles", need="emergency_shelter"))
    assert all(r.capacity_stale for r in later.results if r.beds_available is not None)
    assert CAPACITY_STALE_AFTER < TUESDAY_MORNING - full.capacity_updated


def test_a_full_shelter_comes_after_farther_ones(url: str) -> None:
    query = SearchQuery(**near("New York", need="emergency_shelter"))
    with session_scope(url) as session:
        found = search(session, query, now=SUNDAY_NOON_UTC)
    men = found.results[-1]
    assert men.service_id == "sample-ny-svc-17" and men.full and men.fits
    assert score(men, query) < score(found.results[-2], query)  # it would rank before it
    assert not men.capacity_stale


def test_results_without_a_count_have_no_date(url: str) -> None:
    found = run(url, **near_houston(need="legal_aid"))
    for result in found.results:
        assert result.beds_available is None and result.capacity_updated is None
        assert not result.full and not result.capacity_stale


def test_stale_is_measured_from_the_search_time(url: str) -> None:
    found = run(url, **near_houston(need="legal_aid"))
    for result in found.results:
        old = (TUESDAY_MORNING.date() - result.assured_date).days > STALE_AFTER_DAYS
        assert result.stale == old


# ---------------------------------------------------------------- the search index


def _table(url: str, name: str) -> list[dict]:
    with session_scope(url) as session:
        statement = sa.select(sa.text("*")).select_from(sa.table(name))
        return [dict(row._mapping) for row in session.execute(statement)]


def test_confidential_search_points_carry_no_coordinates(url: str) -> None:
    points = _table(url, "search_point")
    with session_scope(url) as session:
        hidden = confidential_ids(session, {p["location_id"] for p in points})
    assert hidden  # the sample has confidential shelters
    for point in points:
        if point["location_id"] in hidden:
            assert point["latitude"] is None and point["longitude"] is None, point
            assert point["state"] and point["city"], point
        else:
            assert point["latitude"] is not None and point["state"] is None, point


def test_the_search_index_follows_every_import(tmp_path: Path) -> None:
    """Moving a location and recounting beds in a re-import changes what search finds:
    the derived tables are rebuilt with the rows they come from."""
    database = f"sqlite:///{tmp_path / 'haven.db'}"
    upgrade(database)
    import_directory(DATA / "sample", database)
    before = run(database, **near_houston(need="legal_aid"))
    moved = before.results[0]
    assert moved.confidential is False and moved.service_at_location_id
    package = tmp_path / "package"
    shutil.copytree(DATA / "sample", package)
    location_id = next(
        row["location_id"]
        for row in _csv(package / "service_at_locations.csv")
        if row["id"] == moved.service_at_location_id
    )
    dallas = geocode_city("Dallas")
    _edit_csv(package / "locations.csv", location_id,
              latitude=str(dallas.latitude), longitude=str(dallas.longitude))  # fmt: skip
    import_directory(package, database)
    after = run(database, **near_houston(need="legal_aid"))
    assert moved.service_id not in {r.service_id for r in after.results}
    assert after.total < before.total  # (other services at the moved place went too)
    in_dallas = run(database, **near("Dallas", need="legal_aid"))
    assert moved.service_id in {r.service_id for r in in_dallas.results}


def test_a_recount_in_a_reimport_changes_the_ranking(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'haven.db'}"
    upgrade(database)
    import_directory(DATA / "sample", database)
    package = tmp_path / "package"
    shutil.copytree(DATA / "sample", package)
    counts = _csv(package / "service_capacities.csv")
    counted = counts[0]["service_id"]
    _edit_csv(package / "service_capacities.csv", counts[0]["id"], available="0")
    import_directory(package, database)
    with session_scope(database) as session:
        facts = load_facts(session, [counted], SearchQuery(), SUNDAY_NOON_UTC)
    assert facts[counted].full and facts[counted].capacity.available == 0


def test_the_migration_fills_the_index_of_a_directory_imported_before_it(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'haven.db'}"
    upgrade(database)
    import_directory(DATA / "national.json", database)
    import_directory(DATA / "sample", database)
    query = near_houston(need="emergency_shelter", open_now=True)
    before = run(database, limit=50, **query)
    counts = {name: len(_table(database, name)) for name in DERIVED}
    downgrade(database, "0003_search_indexes")
    upgrade(database)
    assert {name: len(_table(database, name)) for name in DERIVED} == counts
    assert run(database, limit=50, **query) == before and before.total


def test_one_statement_serves_every_value_of_its_filters(url: str) -> None:
    """A search statement is built once per set of filters and reused with other values:
    each search still gets its own values."""
    for language in ("vi", "es", "vi", "zh"):
        found = run(url, **near_houston(need="food", language=language))
        assert all(language in r.languages for r in found.results), language
    for population, refused in (("boys", "men"), ("men", "boys"), ("boys", "men")):
        found = run(url, **near_houston(need="emergency_shelter", population=population))
        assert found.results and all(refused not in r.populations for r in found.results)


def test_sqlite_reads_the_box_and_the_state_from_the_search_point_indexes(url: str) -> None:
    """The same plan as on PostgreSQL (test_directory_postgres.py): each candidate read
    from its search point index, the other filters through the attribute index."""
    query = SearchQuery(**near_houston(need="legal_aid", cost="free"))
    with get_engine(url).connect() as connection:
        plans = candidate_plans(url, query, connection, "EXPLAIN QUERY PLAN")
    assert set(plans) == set(CANDIDATE_INDEXES)
    for marker, index in CANDIDATE_INDEXES.items():
        assert f"INDEX {index}" in plans[marker], plans[marker]
        assert "ix_attribute_term_entity_link_value" in plans[marker], plans[marker]


def _csv(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _edit_csv(path: Path, row_id: str, **values: str) -> None:
    rows = _csv(path)
    assert any(row["id"] == row_id for row in rows)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**row, **values} if row["id"] == row_id else row for row in rows)
