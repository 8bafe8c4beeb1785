"""The HSDS read API to the letter of the specification (real SQLite, the shipped directory).

Every endpoint is called through the Sanic application (over ASGI, no server), lists with
and without filters and past their end, and every answer is validated with jsonschema
against the HSDS 3.0 schemas in ``tests/fixtures/hsds/schema/``: copied unchanged, in the
upstream layout, from github.com/openreferral/specification (commit 279fd2e). An answer is
checked against the response schema its path has in the specification's ``openapi.json``;
the schema URLs it names are mapped to the copies.

Two things are not checked to the letter: ``format: uuid`` (HSDS wants UUID ids; Haven
serves the ids its data has, such as ``sample-hou-svc-01``), and the specification's
``/service_at_locations/{id}``, which names ``compiled/service.json`` by mistake (its own
example is a service_at_location): ``compiled/service_at_location.json`` is used instead.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import math
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from jsonschema import FormatChecker, RefResolver
from jsonschema.validators import validator_for
from sanic import Sanic

from bot.db.engine import get_engine
from bot.db.migrate import upgrade
from bot.directory.geocode import geocode_zip
from bot.directory.hsds_io import import_directory
from bot.directory.search import haversine_km
from bot.settings import get_settings
from bot.web.api import OPENAPI_FILE
from bot.web.app import create_app

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "tests" / "fixtures" / "hsds" / "schema"
SPEC_BASE = "https://raw.githubusercontent.com/openreferral/specification/3.0/schema/"
SPEC = json.loads((SCHEMAS / "openapi.json").read_text(encoding="utf-8"))
# The specification's mistake (module docstring): the schema the path's example follows.
SCHEMA_FIXES = {"/service_at_locations/{id}": "compiled/service_at_location.json"}
FULL_SCHEMAS = {
    "/services": "compiled/service.json",
    "/service_at_locations": "compiled/service_at_location.json",
    "/organizations": "compiled/organization.json",
}
PAGE_FIELDS = ("total_items", "total_pages", "page_number", "size", "first_page",
               "last_page", "empty", "contents")  # fmt: skip
HAVEN_EXTENSIONS = {
    "/services": {"postcode", "proximity", "lat", "lon"},
    "/service_at_locations": {"lat", "lon"},
}
Get = Callable[[str], tuple[int, Any]]

# Formats asserted (2020-12 leaves them to the validator): all HSDS uses but uuid.
FORMATS = FormatChecker(formats=("email", "date", "time"))


@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    """RFC 3339: a date, a time and a time zone."""
    if not isinstance(value, str):
        return True
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None


@FORMATS.checks("uri")
def _is_uri(value: object) -> bool:
    return not isinstance(value, str) or (bool(urllib.parse.urlsplit(value).scheme)
                                          and " " not in value)  # fmt: skip


@functools.cache
def _resolver() -> RefResolver:
    store = {
        SPEC_BASE + path.relative_to(SCHEMAS).as_posix(): json.loads(path.read_text("utf-8"))
        for path in SCHEMAS.rglob("*.json")
    }
    return RefResolver(base_uri=SPEC_BASE + "openapi.json", referrer=SPEC, store=store)


@functools.cache
def _validator(schema_json: str) -> Any:
    schema = json.loads(schema_json)
    cls = validator_for({"$schema": SPEC["jsonSchemaDialect"]})
    return cls(schema, resolver=_resolver(), format_checker=FORMATS)


def _response_schema(path: str) -> dict:
    if path in SCHEMA_FIXES:
        return {"$ref": SPEC_BASE + SCHEMA_FIXES[path]}
    return SPEC["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]


def assert_valid(schema: dict, body: Any, what: str) -> None:
    errors = sorted(_validator(json.dumps(schema)).iter_errors(body), key=lambda e: e.json_path)
    found = [f"{e.json_path}: {e.message[:160]}" for e in errors[:15]]
    assert not errors, f"{what}: {len(errors)} schema errors\n" + "\n".join(found)


def assert_page(body: dict, page: int, per_page: int) -> None:
    """The page fields, as the specification's Page schema describes them."""
    assert list(body)[: len(PAGE_FIELDS)] == list(PAGE_FIELDS)
    assert body["size"] == len(body["contents"]) <= per_page
    assert body["total_pages"] == math.ceil(body["total_items"] / per_page)
    assert body["page_number"] == page
    assert body["first_page"] is (page == 1)
    assert body["last_page"] is (page >= body["total_pages"])
    assert body["empty"] is (not body["contents"])


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('api') / 'haven.db'}"
    upgrade(url)
    for path in (
        ROOT / "data" / "directory" / "national.json",
        ROOT / "data" / "directory" / "sample",
    ):
        import_directory(path, url)
    return url


@pytest.fixture(scope="module")
def get(database: str) -> Iterator[Get]:
    """GET a path of the web application: (status, JSON body)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HAVEN_DATABASE_URL", database)
        get_settings.cache_clear()
        app = create_app("haven_api_test")
        loop = asyncio.new_event_loop()
        loop.run_until_complete(app._startup())
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://haven")

        def fetch(path: str) -> tuple[int, Any]:
            reply = loop.run_until_complete(client.get(path))
            assert reply.headers["content-type"].startswith("application/json"), path
            return reply.status_code, reply.json()

        yield fetch
        loop.run_until_complete(client.aclose())
        loop.close()
        Sanic._app_registry.pop("haven_api_test", None)
    get_settings.cache_clear()


def _ids(get: Get, path: str, query: str = "") -> list[str]:
    """Every id a list gives, page by page."""
    ids, page = [], 1
    while True:
        status, body = get(f"/api{path}?per_page=100&page={page}{query}")
        assert status == 200, body
        ids += [item["id"] for item in body["contents"]]
        if body["last_page"]:
            return ids
        page += 1


LISTS = [
    ("/services", ""),
    ("/services", "full=true&per_page=100"),
    ("/services", "postcode=77002&proximity=5000"),
    ("/services", "postcode=77002-1234&full=true"),
    ("/services", "lat=29.76&lon=-95.37&proximity=3000&full=true"),
    ("/services", "taxonomy_term_id=haven-need-food&search=pantry"),
    ("/services", "taxonomy_id=haven-needs&organization_id=sample-hou-org-01"),
    ("/services", "modified_after=2020-01-01T00:00:00Z&format=json&minimal=false"),
    ("/services", "page=1000"),
    ("/service_at_locations", ""),
    ("/service_at_locations", "full=true&per_page=100"),
    ("/service_at_locations", "postcode=77002&proximity=8000&full=true"),
    ("/service_at_locations", "postcode=77009&taxonomy_term_id=haven-need-shelter"),
    ("/service_at_locations", "search=shelter&taxonomy_id=haven-needs&page=2&per_page=3"),
    ("/service_at_locations", "page=1000"),
    ("/organizations", ""),
    ("/organizations", "search=legal"),
    ("/organizations", "full=true&per_page=100"),
    ("/organizations", "full_service=true&per_page=10"),
    ("/organizations", "page=1000"),
    ("/taxonomies", ""),
    ("/taxonomies", "search=need"),
    ("/taxonomies", "page=1000"),
    ("/taxonomy_terms", ""),
    ("/taxonomy_terms", "taxonomy_id=haven-needs&per_page=100"),
    ("/taxonomy_terms", "top_only=true&search=food"),
    ("/taxonomy_terms", "parent_id=no-such-term"),
    ("/taxonomy_terms", "page=1000"),
]


@pytest.mark.parametrize(("path", "query"), LISTS)
def test_every_list_answers_to_the_specification(get: Get, path: str, query: str) -> None:
    status, body = get(f"/api{path}?{query}")
    assert status == 200, body
    args = dict(urllib.parse.parse_qsl(query))
    assert_page(body, int(args.get("page", 1)), int(args.get("per_page", 20)))
    assert_valid(_response_schema(path), body, f"{path}?{query}")
    if args.get("full") == "true" or args.get("full_service") == "true":
        schema = {"$ref": SPEC_BASE + FULL_SCHEMAS[path]}
        for item in body["contents"]:
            assert_valid(schema, item, f"{path}?{query}: {item['id']}")
    if args.get("page") == "1000":
        assert body["empty"] and body["last_page"] and body["total_items"] > 0


@pytest.mark.parametrize("path", ["/services", "/service_at_locations", "/organizations",
                                  "/taxonomies", "/taxonomy_terms"])  # fmt: skip
def test_every_item_answers_to_the_specification(get: Get, path: str) -> None:
    ids = _ids(get, path)
    assert ids and len(ids) == len(set(ids))
    schema = _response_schema(f"{path}/{{id}}")
    for item_id in ids:
        status, body = get(f"/api{path}/{urllib.parse.quote(item_id)}")
        assert status == 200 and body["id"] == item_id, body
        assert_valid(schema, body, f"{path}/{item_id}")


def test_root_and_openapi_document(get: Get) -> None:
    status, root = get("/api/")
    assert status == 200
    assert_valid(_response_schema("/"), root, "/")
    assert root["version"] == "3.0" and root["openapi_url"] == "http://haven/api/openapi.json"
    status, document = get("/api/openapi.json")
    assert status == 200
    assert document == json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))
    assert document["servers"] == [
        {"url": "/api", "description": document["servers"][0]["description"]}
    ]
    assert document["openapi"] == SPEC["openapi"]


def _parameters(document: dict, path: str) -> set[str]:
    item = document["paths"][path]
    found = set()
    for parameter in item.get("parameters", []) + item["get"].get("parameters", []):
        if "$ref" in parameter:
            parameter = document["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[1]]
        found.add(parameter["name"])
    return found


def test_the_openapi_document_is_the_specifications_trimmed_to_what_is_served() -> None:
    document = json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))
    app = create_app("haven_openapi_test")
    try:
        served = {
            "/" + route.path.removeprefix("api").strip("/").replace("<", "{").replace(">", "}")
            for route in app.router.routes
            if route.path.startswith("api")
        }
    finally:
        Sanic._app_registry.pop("haven_openapi_test", None)
    served = {path if "{" not in path else path.rsplit("/", 1)[0] + "/{id}" for path in served}
    assert served == set(document["paths"])
    for path in document["paths"]:
        if path == "/openapi.json":
            continue  # served at the root's openapi_url
        assert path in SPEC["paths"], path
        extra = _parameters(document, path) - _parameters(SPEC, path)
        assert extra <= HAVEN_EXTENSIONS.get(path, set()), (path, extra)


def test_size_is_the_number_of_items_on_the_page(get: Get) -> None:
    _, first = get("/api/services?per_page=7")
    _, last = get(f"/api/services?per_page=7&page={first['total_pages']}")
    assert first["size"] == 7 and not first["last_page"]
    assert last["last_page"] and last["size"] == first["total_items"] - 7 * (
        first["total_pages"] - 1
    )


def test_inactive_services_are_neither_listed_nor_shown(get: Get, database: str) -> None:
    with get_engine(database).connect() as connection:
        inactive = connection.execute(
            sa.text("SELECT id, organization_id FROM service WHERE status != 'active'")
        ).all()
        sals = (
            connection.execute(
                sa.text(
                    "SELECT id FROM service_at_location WHERE service_id IN "
                    "(SELECT id FROM service WHERE status != 'active')"
                )  # fmt: skip
            )
            .scalars()
            .all()
        )
    assert inactive, "the sample must have an inactive service to test"
    listed = set(_ids(get, "/services"))
    listed_sals = set(_ids(get, "/service_at_locations"))
    for service_id, organization_id in inactive:
        assert get(f"/api/services/{service_id}")[0] == 404
        assert service_id not in listed
        status, organization = get(f"/api/organizations/{organization_id}?full_service=true")
        assert status == 200
        assert service_id not in [s["id"] for s in organization["services"]]
    for sal_id in sals:
        assert get(f"/api/service_at_locations/{sal_id}")[0] == 404
        assert sal_id not in listed_sals


def test_postcode_and_proximity_in_meters(get: Get) -> None:
    center = geocode_zip("77002")
    everything = get("/api/services")[1]["total_items"]
    for path in ("/services", "/service_at_locations"):
        near = set(_ids(get, path, "&postcode=77002&proximity=2000"))
        wider = set(_ids(get, path, "&postcode=77002&proximity=20000"))
        default = set(_ids(get, path, "&postcode=77002"))
        assert near < wider <= default and len(default) < everything
        assert not any("-lax-" in i or "-nyc-" in i for i in default)  # other cities
    status, body = get(
        "/api/service_at_locations?postcode=77002&proximity=3000&full=true&per_page=100"
    )
    distances = []
    for item in body["contents"]:
        location = item["location"]
        if "latitude" in location:  # confidential locations have none, and no place in the order
            distances.append(
                haversine_km(
                    center.latitude, center.longitude, location["latitude"], location["longitude"]
                )
            )
    assert distances and max(distances) <= 3.0 and distances == sorted(distances)


def test_lat_and_lon_find_what_the_postcode_finds_by_distance(get: Get) -> None:
    center = geocode_zip("77002")
    by_point = set(
        _ids(
            get,
            "/service_at_locations",
            f"&lat={center.latitude}&lon={center.longitude}&proximity=4000",
        )
    )
    by_postcode = set(_ids(get, "/service_at_locations", "&postcode=77002&proximity=4000"))
    assert by_point and by_point <= by_postcode  # the postcode adds shelters by city


def test_filters_narrow_the_lists(get: Get) -> None:
    organization = set(_ids(get, "/services", "&organization_id=sample-hou-org-01"))
    assert organization and all(i.startswith("sample-hou-svc-") for i in organization)
    assert set(_ids(get, "/services", "&taxonomy_id=haven-needs")) >= organization
    assert not _ids(get, "/services", "&taxonomy_id=no-such-taxonomy")
    assert not _ids(get, "/services", "&modified_after=2999-01-01")
    terms = _ids(get, "/taxonomy_terms", "&taxonomy_id=haven-profile")
    assert terms and all(t.startswith("haven-profile-") for t in terms)
    assert _ids(get, "/organizations", "&search=LEGAL") == _ids(
        get, "/organizations", "&search=legal"
    )


BAD = [
    ("/services", "proximity=-1&postcode=77002", "proximity must be more than 0"),
    ("/services", "proximity=0&postcode=77002", "proximity must be more than 0"),
    ("/service_at_locations", "proximity=1e9&postcode=77002", "at most 500000 meters"),
    ("/service_at_locations", "proximity=nan&postcode=77002", "proximity must be a finite number"),
    ("/service_at_locations", "proximity=inf&postcode=77002", "proximity must be a finite number"),
    ("/service_at_locations", "proximity=ten&postcode=77002", "proximity must be a number"),
    ("/service_at_locations", "proximity=5000", "proximity needs a postcode"),
    ("/services", "lat=29.7", "lat and lon go together"),
    ("/service_at_locations", "lon=-95.3", "lat and lon go together"),
    ("/services", "lat=91&lon=0", "lat must be between -90 and 90"),
    ("/services", "lat=29.7&lon=-95.3&postcode=77002", "not both"),
    ("/services", "postcode=7700", "postcode must be a 5-digit US ZIP code"),
    ("/services", "postcode=770021", "postcode must be a 5-digit US ZIP code"),
    ("/service_at_locations", "postcode=abcde", "postcode must be a 5-digit US ZIP code"),
    ("/service_at_locations", "postcode=00000", "postcode is not a known US ZIP code"),
    ("/services", "page=0", "page must be between 1 and 100000"),
    ("/organizations", "page=abc", "page must be a whole number"),
    ("/taxonomies", "page=1000000", "page must be between 1 and 100000"),
    ("/services", "per_page=10000", "per_page must be between 1 and 100"),
    ("/taxonomy_terms", "per_page=0", "per_page must be between 1 and 100"),
    ("/services", "search=" + "x" * 500, "search is too long"),
    ("/organizations", "search=" + "x" * 500, "search is too long"),
    ("/services", "full=maybe", "full must be true or false"),
    ("/taxonomy_terms", "top_only=yes", "top_only must be true or false"),
    ("/services", "modified_after=last-week", "modified_after must be an ISO 8601 date-time"),
    ("/services", "format=ndjson", "format must be json"),
    ("/services", "minimal=true", "minimal is not supported"),
]


@pytest.mark.parametrize(("path", "query", "message"), BAD)
def test_bad_parameters_get_a_clear_400(get: Get, path: str, query: str, message: str) -> None:
    status, body = get(f"/api{path}?{query}")
    assert status == 400 and message in body["error"], body
    assert get(f"/api{path}")[0] == 200  # and nothing is lost


def test_sql_in_a_search_or_an_id_is_just_text(get: Get, database: str) -> None:
    attack = urllib.parse.quote("' OR 1=1; DROP TABLE service; --")
    for path in ("/services", "/service_at_locations", "/organizations", "/taxonomies",
                 "/taxonomy_terms"):  # fmt: skip
        status, body = get(f"/api{path}?search={attack}")
        assert status == 200 and body["total_items"] == 0, path
        assert get(f"/api{path}/{attack}")[0] == 404
    percent = get("/api/services?search=%25")[1]["total_items"]  # a literal "%", not "anything"
    assert percent < get("/api/services")[1]["total_items"]
    with get_engine(database).connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM service")).scalar() > 100


@pytest.mark.parametrize("path", ["/services", "/service_at_locations", "/organizations",
                                  "/taxonomies", "/taxonomy_terms"])  # fmt: skip
def test_an_unknown_id_is_404(get: Get, path: str) -> None:
    status, body = get(f"/api{path}/no-such-id")
    assert status == 404 and body == {"error": "not found"}
