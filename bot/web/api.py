"""The HSDS 3.0 read API over Haven's directory (``/api/…``): read-only and paginated.

Other tools (a 211's, a coalition's) can query the directory the way HSDS defines it:
``GET /api/``, ``/api/services``, ``/api/services/{id}``, ``/api/service_at_locations``
(``postcode``, ``proximity`` in miles, ``taxonomy_term_id``, ``search``, ``page``,
``per_page``) and ``/api/service_at_locations/{id}``. Confidential addresses are never
included (``bot.directory.hsds_objects``). Bad parameters get a 400 with the reason.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.db.engine import session_scope
from bot.directory.geocode import geocode_zip
from bot.directory.hsds_objects import service_at_location_objects, service_objects
from bot.directory.search import (
    SearchQuery,
    list_service_at_location_ids,
    list_service_ids,
)
from bot.settings import get_settings

HSDS_VERSION = "3.0"
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
MAX_PROXIMITY_MILES = 500.0
KM_PER_MILE = 1.609344

api = Blueprint("hsds_api", url_prefix="/api")


class BadRequest(ValueError):
    """A parameter the API cannot use; the message says which and why."""


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}")
    return value


def _text_param(request: Request, name: str, limit: int = 200) -> str | None:
    raw = request.args.get(name)
    if raw is None or not raw.strip():
        return None
    if len(raw) > limit or "\x00" in raw:
        raise BadRequest(f"{name} is too long or not text")
    return raw.strip()


def _query(request: Request) -> SearchQuery:
    term = _text_param(request, "taxonomy_term_id")
    text = _text_param(request, "search")
    postcode = _text_param(request, "postcode", limit=10)
    proximity_raw = _text_param(request, "proximity", limit=10)
    latitude = longitude = place = None
    radius_km = 40.0
    if proximity_raw is not None and postcode is None:
        raise BadRequest("proximity needs a postcode")
    if postcode is not None:
        place = geocode_zip(postcode) if postcode.isdigit() and len(postcode) == 5 else None
        if place is None:
            raise BadRequest("postcode must be a known 5-digit US ZIP code")
        latitude, longitude = place.latitude, place.longitude
        if proximity_raw is not None:
            try:
                miles = float(proximity_raw)
            except ValueError:
                raise BadRequest("proximity must be a number of miles") from None
            if not 0 < miles <= MAX_PROXIMITY_MILES or math.isnan(miles):
                raise BadRequest(f"proximity must be between 0 and {MAX_PROXIMITY_MILES:g} miles")
            radius_km = miles * KM_PER_MILE
    return SearchQuery(
        taxonomy_term_id=term,
        text=text,
        latitude=latitude,
        longitude=longitude,
        radius_km=radius_km,
        state=place.state if place else None,
        areas=place.areas if place else (),
        national_fallback=False,
    )


def _page(total: int, page: int, per_page: int, contents: list[dict]) -> dict[str, Any]:
    pages = max(1, math.ceil(total / per_page))
    return {
        "total_items": total,
        "total_pages": pages,
        "page_number": page,
        "size": per_page,
        "first_page": page == 1,
        "last_page": page >= pages,
        "empty": not contents,
        "contents": contents,
    }


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


@api.get("/")
async def api_root(request: Request) -> HTTPResponse:
    return response.json(
        {
            "version": HSDS_VERSION,
            "profile": "https://docs.openreferral.org/en/latest/hsds/",
            "description": "Haven service directory (read-only). Confidential addresses "
            "are never published.",
            "endpoints": ["/api/services", "/api/services/{id}", "/api/service_at_locations",
                          "/api/service_at_locations/{id}"],
        }
    )  # fmt: skip


def _listing(request: Request, find: Callable, objects: Callable) -> Callable[[], dict]:
    """A paginated HSDS list: ``find`` gives (ids, total) for a page, ``objects`` the items."""

    def work() -> dict:
        query = _query(request)
        page = _int_param(request, "page", 1, 1, 100_000)
        per_page = _int_param(request, "per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
        with session_scope(_url()) as session:
            ids, total = find(session, query, (page - 1) * per_page, per_page)
            return _page(total, page, per_page, objects(session, ids))

    return work


@api.get("/services")
async def list_services(request: Request) -> HTTPResponse:
    return await _answer(_listing(request, list_service_ids, service_objects))


@api.get("/services/<service_id>")
async def get_service(request: Request, service_id: str) -> HTTPResponse:
    def work() -> dict | None:
        with session_scope(_url()) as session:
            found = service_objects(session, [service_id])
        return found[0] if found else None

    return await _answer(work)


@api.get("/service_at_locations")
async def list_service_at_locations(request: Request) -> HTTPResponse:
    return await _answer(
        _listing(request, list_service_at_location_ids, service_at_location_objects)
    )


@api.get("/service_at_locations/<sal_id>")
async def get_service_at_location(request: Request, sal_id: str) -> HTTPResponse:
    def work() -> dict | None:
        with session_scope(_url()) as session:
            found = service_at_location_objects(session, [sal_id])
        return found[0] if found else None

    return await _answer(work)
