"""The bot service process: Haven's custom actions over rasa-sdk (``/webhook``, ``/health``).

Internal only. It binds to 127.0.0.1 whatever ``HAVEN_BIND_HOST`` says (an operator who
runs actions on another machine sets ``HAVEN_ACTIONS_BIND_HOST``), and every call but
``/health``, ``/readyz`` and ``/metrics`` must carry the shared secret that Rasa sends
(``endpoints.yml``), so that even a wider binding never lets anyone else run an action or
read a conversation's state.
"""

from __future__ import annotations

import hmac
import os

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import health, logs, metrics
from bot.settings import get_settings

# Rasa sends the whole conversation with each call: larger than any user request.
MAX_ACTION_CALL_BYTES = 16 * 1024 * 1024
# Answered without the actions secret: health (bot.health) and metrics (bot.metrics, which
# wants HAVEN_METRICS_TOKEN when it is set).
OPEN_PATHS = frozenset({"/health", "/readyz", "/metrics"})


def create_service(secret: str) -> Sanic:
    """The rasa-sdk action server with Haven's shared-secret check and limits."""
    from rasa_sdk.endpoint import create_app  # here: after main() set up logging

    settings = get_settings()
    app = create_app("bot.actions", cors_origins=None, auto_reload=False)
    app.config.REQUEST_MAX_SIZE = MAX_ACTION_CALL_BYTES
    app.config.KEEP_ALIVE_TIMEOUT = settings.keep_alive_seconds
    expected = f"Bearer {secret}".encode()
    metrics.install(app, "bot")  # first: requests refused below are counted and timed too
    health.install(app, "bot")

    @app.middleware("request")
    async def require_secret(request: Request) -> HTTPResponse | None:
        if request.path in OPEN_PATHS:
            return None
        given = (request.headers.get("Authorization") or "").encode()
        if not hmac.compare_digest(given, expected):
            return response.json({"error": "not authorised"}, status=401)
        return None

    @app.middleware("response")
    async def no_store(request: Request, resp: HTTPResponse) -> None:
        resp.headers["Cache-Control"] = "no-store"  # like every response of every process

    return app


def warm_up() -> None:
    """Load what the first search would otherwise load while a user waits (about 2 s):
    the offline ZIP and city index and the needs vocabulary."""
    from bot.directory.geocode import find_place
    from bot.directory.vocabulary import load_vocabulary

    find_place("Houston, TX")
    load_vocabulary()


def main() -> None:
    settings = get_settings()
    os.umask(0o077)
    logs.configure_service("bot", settings.log_level)  # text, or JSON lines (HAVEN_LOG_FORMAT)
    app = create_service(settings.actions_secret)
    warm_up()
    app.run(
        host=settings.actions_bind_host,
        port=settings.actions_port,
        access_log=False,
        motd=False,
        workers=1,
    )


if __name__ == "__main__":
    main()
