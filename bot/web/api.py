"""The HSDS 3.0 read API over Haven's directory (``/api/…``): read-only and paginated.

Other tools (a 211's, a coalition's) query the directory the way the HSDS API
specification defines it: ``/api/`` and ``/api/openapi.json`` (what is served, in
OpenAPI 3.1), ``/services``, ``/service_at_locations``, ``/organizations``,
``/taxonomies``, ``/taxonomy_terms``, each with ``/{id}``. Objects follow the HSDS JSON
schemas (``bot.directory.hsds_objects``), confidential addresses never included; the lists'
order and filters are in ``bot.web.listing``. Bad parameters get a 400 with the reason, an
unknown or inactive id a 404 (docs/directory.md, "The HSDS read API").
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.orm import Session

from bot.db.engine import session_scope
from bot.directory.geocode import CITY_RADIUS_KM, ZIP_CODE, geocode_zip
from bot.directory.hsds_objects import (
    organization_objects,
    service_at_location_objects,
    service_objects,
    taxonomy_objects,
    taxonomy_term_objects,
)
from bot.directory.search import SearchQuery
from bot.settings import get_settings
from bot.web.listing import (
    Page,
    ServiceFilter,
    is_listed_service,
    is_listed_service_at_location,
    list_organization_ids,
    list_service_at_location_ids,
    list_service_ids,
    list_taxonomy_ids,
    list_taxonomy_term_ids,
    listed_services_by_organization,
)

HSDS_VERSION = "3.0"
PROFILE_URL = "https://docs.openreferral.org/en/latest/hsds/"
OPENAPI_FILE = Path(__file__).with_name("openapi.json")
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
MAX_PAGE = 100_000
MAX_PROXIMITY_METERS = 500_000  # 500 km: a state-wide search
BOOLEANS = {"true": True, "1": True, "false": False, "0": False}

api = Blueprint("hsds_api", url_prefix="/api")


class BadRequest(ValueError):
    """A parameter the API cannot use; the message says which and why."""


def _text(request: Request, name: str, limit: int = 200) -> str | None:
    raw = request.args.get(name)
    if raw is None or not raw.strip():
        return None
    if len(raw) > limit or "\x00" in raw:
        raise BadRequest(f"{name} is too long or not text (at most {limit} characters)")
    return raw.strip()


def _integer(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = _text(request, name, limit=20)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}")
    return value


def _number(request: Request, name: str) -> float | None:
    raw = _text(request, name, limit=30)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a number") from None
    if not math.isfinite(value):
        raise BadRequest(f"{name} must be a finite number")
    return value


def _boolean(request: Request, name: str) -> bool:
    raw = _text(request, name, limit=10)
    if raw is None:
        return False
    if raw.lower() not in BOOLEANS:
        raise BadRequest(f"{name} must be true or false")
    return BOOLEANS[raw.lower()]


def _datetime(request: Request, name: str) -> dt.datetime | None:
    """A date or date-time parameter as naive UTC (how the directory stores them)."""
    raw = _text(request, name, limit=40)
    if raw is None:
        return None
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name} must be an ISO 8601 date-time (2024-05-01T00:00:00Z)") from None
    if value.tzinfo is not None:
        try:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        except OverflowError:  # 9999-12-31T23:00:00-05:00 is past the last UTC date
            raise BadRequest(f"{name} is out of range") from None
    return value


def _place(request: Request) -> dict[str, Any]:
    """The ``SearchQuery`` fields for ``postcode`` or ``lat``/``lon``, and ``proximity``
    (meters from that point; a city's radius, 40 km, without it)."""
    postcode = _text(request, "postcode", limit=20)
    latitude, longitude = _number(request, "lat"), _number(request, "lon")
    proximity = _number(request, "proximity")
    if (latitude is None) != (longitude is None):
        raise BadRequest("lat and lon go together: give both or neither")
    if postcode is not None and latitude is not None:
        raise BadRequest("give a postcode or lat and lon, not both")
    if proximity is not None and not 0 < proximity <= MAX_PROXIMITY_METERS:
        raise BadRequest(f"proximity must be more than 0 and at most {MAX_PROXIMITY_METERS} meters")
    radius_km = proximity / 1000 if proximity is not None else CITY_RADIUS_KM
    if postcode is not None:
        if not ZIP_CODE.fullmatch(postcode):
            raise BadRequest("postcode must be a 5-digit US ZIP code")
        place = geocode_zip(postcode)
        if place is None:
            raise BadRequest("postcode is not a known US ZIP code")
        return {"latitude": place.latitude, "longitude": place.longitude,
                "radius_km": radius_km, "state": place.state, "areas": place.areas}  # fmt: skip
    if latitude is not None:
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise BadRequest("lat must be between -90 and 90, lon between -180 and 180")
        return {"latitude": latitude, "longitude": longitude, "radius_km": radius_km}
    if proximity is not None:
        raise BadRequest("proximity needs a postcode (or lat and lon)")
    return {}


def _service_filter(request: Request) -> ServiceFilter:
    """The filters of ``/services`` and ``/service_at_locations``."""
    query = SearchQuery(
        taxonomy_term_id=_text(request, "taxonomy_term_id"),
        text=_text(request, "search"),
        national_fallback=False,
        **_place(request),
    )
    return ServiceFilter(
        query=query,
        organization_id=_text(request, "organization_id"),
        taxonomy_id=_text(request, "taxonomy_id"),
        modified_after=_datetime(request, "modified_after"),
    )


def _page(total: int, page: int, per_page: int, contents: list[dict]) -> dict[str, Any]:
    """An HSDS page (the specification's ``Page`` schema, with its ``contents``)."""
    pages = math.ceil(total / per_page)
    return {
        "total_items": total,
        "total_pages": pages,
        "page_number": page,
        "size": len(contents),
        "first_page": page == 1,
        "last_page": page >= pages,
        "empty": not contents,
        "contents": contents,
    }


Find = Callable[[Session, int, int], Page]  # (session, offset, limit)
Build = Callable[[Session, list[str]], list[dict]]


def _listing(request: Request, find: Find, build: Build) -> dict[str, Any]:
    """One page of a list: ``find`` gives the page's ids and the total, ``build`` the
    objects."""
    page = _integer(request, "page", 1, 1, MAX_PAGE)
    per_page = _integer(request, "per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
    if _text(request, "format", limit=20) not in (None, "json"):
        raise BadRequest("format must be json (ndjson is not served)")
    with session_scope(_url()) as session:
        ids, total = find(session, (page - 1) * per_page, per_page)
        return _page(total, page, per_page, build(session, ids))


def _one(found: list[dict]) -> dict | None:
    return found[0] if found else None


async def _answer(work: Callable[[], Any]) -> HTTPResponse:
    try:
        result = await asyncio.to_thread(work)
    except BadRequest as error:
        return response.json({"error": str(error)}, status=400)
    if result is None:
        return response.json({"error": "not found"}, status=404)
    return response.json(result)


def _url() -> str:
    return get_settings().database_url


@functools.lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """Haven's OpenAPI document: the specification's, trimmed to what Haven serves."""
    return json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))


@api.get("/")
async def api_root(request: Request) -> HTTPResponse:
    return response.json(
        {
            "version": HSDS_VERSION,
            "profile": PROFILE_URL,
            "openapi_url": request.url_for("hsds_api.get_openapi"),
            "description": "Haven service directory (read-only). Confidential addresses "
            "are never published.",
        }
    )


@api.get("/openapi.json")
async def get_openapi(request: Request) -> HTTPResponse:
    return response.json(openapi_document())


@api.get("/services")
async def list_services(request: Request) -> HTTPResponse:
    def work() -> dict:
        if _boolean(request, "minimal"):
            raise BadRequest("minimal is not supported: ask for pages of services")
        wanted, full = _service_filter(request), _boolean(request, "full")
        return _listing(
            request,
            lambda session, offset, limit: list_service_ids(session, wanted, offset, limit),
            lambda session, ids: service_objects(session, ids, full=full),
        )

    return await _answer(work)


@api.get("/services/<service_id>")
async def get_service(request: Request, service_id: str) -> HTTPResponse:
    def work() -> dict | None:
        with session_scope(_url()) as session:
            if not is_listed_service(session, service_id):
                return None
            return _one(service_objects(session, [service_id]))

    return await _answer(work)


@api.get("/service_at_locations")
async def list_service_at_locations(request: Request) -> HTTPResponse:
    def work() -> dict:
        wanted, full = _service_filter(request), _boolean(request, "full")
        return _listing(
            request,
            lambda session, offset, limit: list_service_at_location_ids(
                session, wanted, offset, limit
            ),
            lambda session, ids: service_at_location_objects(session, ids, full=full),
        )

    return await _answer(work)


@api.get("/service_at_locations/<sal_id>")
async def get_service_at_location(request: Request, sal_id: str) -> HTTPResponse:
    def work() -> dict | None:
        with session_scope(_url()) as session:
            if not is_listed_service_at_location(session, sal_id):
                return None
            return _one(service_at_location_objects(session, [sal_id]))

    return await _answer(work)


def _organizations(session: Session, ids: list[str], full: bool, full_service: bool) -> list:
    if not (full or full_service):
        return organization_objects(session, ids)
    services = listed_services_by_organization(session, ids)
    return organization_objects(session, ids, services, full_services=full_service)


@api.get("/organizations")
async def list_organizations(request: Request) -> HTTPResponse:
    def work() -> dict:
        text = _text(request, "search")
        full, full_service = _boolean(request, "full"), _boolean(request, "full_service")
        return _listing(
            request,
            lambda session, offset, limit: list_organization_ids(session, text, offset, limit),
            lambda session, ids: _organizations(session, ids, full, full_service),
        )

    return await _answer(work)


@api.get("/organizations/<organization_id>")
async def get_organization(request: Request, organization_id: str) -> HTTPResponse:
    def work() -> dict | None:
        full_service = _boolean(request, "full_service")
        with session_scope(_url()) as session:
            return _one(_organizations(session, [organization_id], True, full_service))

    return await _answer(work)


@api.get("/taxonomies")
async def list_taxonomies(request: Request) -> HTTPResponse:
    def work() -> dict:
        text = _text(request, "search")
        return _listing(
            request,
            lambda session, offset, limit: list_taxonomy_ids(session, text, offset, limit),
            taxonomy_objects,
        )

    return await _answer(work)


@api.get("/taxonomies/<taxonomy_id>")
async def get_taxonomy(request: Request, taxonomy_id: str) -> HTTPResponse:
    def work() -> dict | None:
        with session_scope(_url()) as session:
            return _one(taxonomy_objects(session, [taxonomy_id]))

    return await _answer(work)


@api.get("/taxonomy_terms")
async def list_taxonomy_terms(request: Request) -> HTTPResponse:
    def work() -> dict:
        text, top_only = _text(request, "search"), _boolean(request, "top_only")
        taxonomy_id, parent_id = _text(request, "taxonomy_id"), _text(request, "parent_id")
        return _listing(
            request,
            lambda session, offset, limit: list_taxonomy_term_ids(
                session, text, offset, limit, taxonomy_id, parent_id, top_only
            ),
            taxonomy_term_objects,
        )

    return await _answer(work)


@api.get("/taxonomy_terms/<term_id>")
async def get_taxonomy_term(request: Request, term_id: str) -> HTTPResponse:
    def work() -> dict | None:
        with session_scope(_url()) as session:
            return _one(taxonomy_term_objects(session, [term_id]))

    return await _answer(work)
