"""The web process's Sanic application: ``/healthz`` and ``/readyz`` (``bot.health``),
``/metrics`` (``bot.metrics``), the HSDS read API (``/api/``), the web chat (``/``,
``/static/``, ``/chat/``) and the staff console (``/staff/``).

Each blueprint sets its own page policy (Sanic scopes a blueprint's middleware to its
routes): the chat's forms post nowhere, the console's post to this origin."""

from __future__ import annotations

from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import health, metrics
from bot.web.api import api
from bot.web.chat import chat
from bot.web.staff import staff_console


def create_app(name: str = "haven_web") -> Sanic:
    """Build the web application; every response is marked not to be cached
    (docs/safety-and-privacy.md)."""
    app = Sanic(name)
    metrics.install(app, "web")  # GET /metrics; every request counted and timed
    health.install(app, "web")  # GET /healthz (always 200) and /readyz, with dependencies
    app.blueprint(api)
    app.blueprint(chat)
    app.blueprint(staff_console)

    @app.middleware("response")
    async def no_store(request: Request, resp: HTTPResponse) -> None:
        resp.headers["Cache-Control"] = "no-store"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"

    return app
