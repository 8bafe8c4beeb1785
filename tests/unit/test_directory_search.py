"""Geocoding, the need vocabulary and search over the shipped directory data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bot.db.engine import session_scope
from bot.db.migrate import upgrade
from bot.directory.geocode import find_place, geocode_city, geocode_zip
from bot.directory.hsds_io import dump_tables, import_directory
from bot.directory.search import Hours, SearchQuery, is_open, search
from bot.directory.vocabulary import load_vocabulary

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "directory"
HOUSTON = geocode_city("Houston")
# A Tuesday, 10:30 in Houston (16:30 UTC in November).
TUESDAY_MORNING = dt.datetime(2026, 11, 24, 16, 30, tzinfo=dt.timezone.utc)
SUNDAY_3AM = dt.datetime(2026, 11, 22, 9, 0, tzinfo=dt.timezone.utc)


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


def near_houston(**fields) -> dict:
    return dict(
        latitude=HOUSTON.latitude,
        longitude=HOUSTON.longitude,
        state="TX",
        areas=HOUSTON.areas,
        **fields,
    )


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
