"""A confidential shelter cannot be located through search or the HSDS API (real SQLite).

The attacker's method: ask "what is within R of ZIP Z?" (or of a point) from many ZIP codes
and radii and watch when the shelter appears. The test builds the same directory twice,
with the shelter's hidden coordinates and postal code moved to another part of the same
city in the second, asks both every question, and requires identical answers: whatever is
asked, the answer then depends on nothing finer than the shelter's city. Every object the
API can show (services, services at locations, organizations) is identical in both too.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
import zipcodes

from bot.db.engine import get_engine, session_scope
from bot.db.migrate import upgrade
from bot.directory.geocode import geocode_zip
from bot.directory.hsds_io import export_directory, import_directory
from bot.directory.hsds_objects import (
    organization_objects,
    service_at_location_objects,
    service_objects,
)
from bot.directory.models import Organization, Service, ServiceAtLocation
from bot.directory.search import SearchQuery, search
from bot.web.api import _service_filter
from bot.web.listing import (
    list_service_at_location_ids,
    list_service_ids,
    listed_services_by_organization,
)

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "directory" / "sample"
SHELTER = "sample-hou-loc-02"  # Bayou Harbor Safe House (sample), confidential, in Houston
SHELTER_SAL = "sample-hou-sal-01"
SHELTER_ORGANIZATION = "sample-hou-org-01"
HIDDEN = ("Quiet Oak", "29.79663", "-95.36346", "29.6714", "-95.4858")  # street, coordinates
# The same shelter moved about 15 km across Houston, to another ZIP code of the city.
MOVED = {"latitude": 29.6714, "longitude": -95.4858, "postal_code": "77096"}
RADII_KM = (1.0, 5.0, 15.0, 40.0, 80.0)
PROXIMITIES = ("800", "5000", "20000", "65000")  # meters


def _zips_around_houston() -> list[str]:
    found = [
        z["zip_code"]
        for z in zipcodes.filter_by(state="TX")
        if z["lat"]
        and 29.3 < float(z["lat"]) < 30.3
        and -96.0 < float(z["long"]) < -94.8
        and z["zip_code_type"] == "STANDARD"
    ]
    return sorted(found)[::6]


@pytest.fixture(scope="module")
def directories(tmp_path_factory) -> tuple[str, str]:
    urls = []
    for name in ("original", "moved"):
        url = f"sqlite:///{tmp_path_factory.mktemp(name) / 'haven.db'}"
        upgrade(url)
        import_directory(SAMPLE, url)
        urls.append(url)
    with get_engine(urls[1]).begin() as connection:
        connection.execute(
            sa.text(
                "UPDATE location SET latitude = :latitude, longitude = :longitude WHERE id = :id"
            ),
            {**MOVED, "id": SHELTER},
        )
        connection.execute(
            sa.text("UPDATE address SET postal_code = :postal_code WHERE location_id = :id"),
            {**MOVED, "id": SHELTER},
        )
    return urls[0], urls[1]


def _chat_answers(url: str, zip_code: str) -> list:
    place = geocode_zip(zip_code)
    answers = []
    with session_scope(url) as session:
        for radius in RADII_KM:
            query = SearchQuery(
                latitude=place.latitude,
                longitude=place.longitude,
                radius_km=radius,
                state=place.state,
                areas=place.areas,
            )
            found = search(session, query, limit=500)
            rows = [(r.service_at_location_id, r.distance_km, r.address) for r in found.results]
            answers.append(rows)
    return answers


def _api_answers(url: str, zip_code: str) -> list:
    """The ids (in order) of ``/services`` and ``/service_at_locations`` near a ZIP code
    and near its centroid as a point, at every proximity: what the lists depend on."""
    place = geocode_zip(zip_code)
    point = {"lat": str(place.latitude), "lon": str(place.longitude)}
    questions = [{"postcode": zip_code}]
    for proximity in PROXIMITIES:
        questions += [{"postcode": zip_code, "proximity": proximity},
                      {**point, "proximity": proximity}]  # fmt: skip
    answers = []
    with session_scope(url) as session:
        for args in questions:
            wanted = _service_filter(SimpleNamespace(args=args))
            answers.append(list_service_at_location_ids(session, wanted, 0, 500))
            answers.append(list_service_ids(session, wanted, 0, 500))
    return answers


def _api_objects(url: str) -> str:
    """Every object the API can show (full ones, the fullest shape), as one text."""
    with session_scope(url) as session:
        services = list(session.execute(sa.select(Service.id)).scalars())
        sals = list(session.execute(sa.select(ServiceAtLocation.id)).scalars())
        organizations = list(session.execute(sa.select(Organization.id)).scalars())
        shown = listed_services_by_organization(session, organizations)
        objects = [
            service_objects(session, services),
            service_at_location_objects(session, sals),
            service_at_location_objects(session, sals, full=False),
            organization_objects(session, organizations, shown, full_services=True),
            organization_objects(session, organizations),
        ]
    return json.dumps(objects, sort_keys=True)


def test_the_attacker_learns_nothing_below_the_city(directories: tuple[str, str]) -> None:
    original, moved = directories
    zips = _zips_around_houston()
    assert len(zips) >= 30
    for zip_code in zips:
        assert _chat_answers(original, zip_code) == _chat_answers(moved, zip_code), zip_code
        assert _api_answers(original, zip_code) == _api_answers(moved, zip_code), zip_code
    shown = _api_objects(original)
    assert shown == _api_objects(moved)
    assert not any(hidden in shown for hidden in HIDDEN)


def test_the_api_finds_the_shelter_by_postcode_in_its_city_never_by_a_point(
    directories: tuple[str, str],
) -> None:
    original, _ = directories
    downtown = geocode_zip("77002")
    with session_scope(original) as session:
        for args in ({"postcode": "77002", "proximity": "800"}, {"postcode": "77002"}):
            wanted = _service_filter(SimpleNamespace(args=args))
            assert SHELTER_SAL in list_service_at_location_ids(session, wanted, 0, 500)[0]
        # A point, however close to the hidden house, has no city: the shelter never answers.
        for latitude, longitude in ((29.79663, -95.36346), (downtown.latitude, downtown.longitude)):
            args = {"lat": str(latitude), "lon": str(longitude), "proximity": "65000"}
            wanted = _service_filter(SimpleNamespace(args=args))
            assert SHELTER_SAL not in list_service_at_location_ids(session, wanted, 0, 500)[0]


def test_the_shelter_is_still_found_near_its_city_without_distance(
    directories: tuple[str, str],
) -> None:
    original, _ = directories
    answers = _chat_answers(original, "77002")  # downtown Houston
    for per_radius in answers:
        shelter = [row for row in per_radius if row[0] == SHELTER_SAL]
        assert shelter == [(SHELTER_SAL, None, None)], "found at every radius, no distance"
    far = _chat_answers(original, "77550")  # Galveston: another city and county
    assert all(SHELTER_SAL not in [row[0] for row in rows] for rows in far)


def test_the_api_shows_the_shelter_without_coordinates_or_street(
    directories: tuple[str, str],
) -> None:
    original, _ = directories
    with session_scope(original) as session:
        (obj,) = service_at_location_objects(session, [SHELTER_SAL])
        (listed,) = service_at_location_objects(session, [SHELTER_SAL], full=False)
        shown = listed_services_by_organization(session, [SHELTER_ORGANIZATION])
        (organization,) = organization_objects(session, [SHELTER_ORGANIZATION], shown)
    (in_organization,) = [loc for loc in organization["locations"] if loc["id"] == SHELTER]
    for location in (obj["location"], listed["location"], in_organization):
        assert location["name"] == "Bayou Harbor Safe House (sample)"
        for hidden in ("latitude", "longitude", "description", "transportation"):
            assert hidden not in location
    for location in (obj["location"], in_organization):
        (address,) = location["addresses"]
        assert address["city"] == "Houston" and address["state_province"] == "TX"
        assert address["address_1"] == "" and address["postal_code"] == ""  # required by HSDS
        assert "address_2" not in address and "attention" not in address


def test_export_leaves_confidential_addresses_out_unless_asked(
    directories: tuple[str, str], tmp_path: Path
) -> None:
    original, _ = directories
    export_directory(tmp_path / "public", original)
    public = (tmp_path / "public" / "addresses.csv").read_text() + (
        tmp_path / "public" / "locations.csv"
    ).read_text()
    assert "Quiet Oak" not in public and "29.79663" not in public
    assert "77009" not in public.split("sample-hou-addr-02", 1)[1].splitlines()[0]
    export_directory(tmp_path / "full", original, include_confidential=True)
    assert "Quiet Oak" in (tmp_path / "full" / "addresses.csv").read_text()
    assert (tmp_path / "full").stat().st_mode & 0o777 == 0o700
    for path in (tmp_path / "full").iterdir():
        assert path.stat().st_mode & 0o777 == 0o600, path.name
    export_directory(tmp_path / "full.json", original, include_confidential=True)
    assert (tmp_path / "full.json").stat().st_mode & 0o777 == 0o600
    # The public export still imports, and the shelter is still found by its city.
    url = f"sqlite:///{tmp_path / 'reimported.db'}"
    upgrade(url)
    import_directory(tmp_path / "public", url)
    assert SHELTER_SAL in [row[0] for row in _chat_answers(url, "77002")[0]]


def test_a_redacted_export_imported_back_never_blanks_a_shelter_address(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'haven.db'}"
    upgrade(url)
    import_directory(SAMPLE, url)

    def stored() -> tuple:
        with get_engine(url).connect() as connection:
            return connection.execute(
                sa.text(
                    "SELECT l.latitude, l.longitude, a.address_1, a.postal_code FROM location l "
                    "JOIN address a ON a.location_id = l.id WHERE l.id = :id"
                ),
                {"id": SHELTER},
            ).one()

    before = stored()
    assert None not in before
    export_directory(tmp_path / "public", url)  # the default export: addresses left out
    report = import_directory(tmp_path / "public", url)
    assert stored() == before and report.kept_hidden >= 2  # the location and its address
