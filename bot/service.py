"""The bot service process: Haven's custom actions over rasa-sdk (``/webhook``, ``/health``)."""

from __future__ import annotations

import logging
import os

from rasa_sdk.endpoint import run

from bot.settings import get_settings


def main() -> None:
    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
    # Internal only: Rasa calls it server-to-server, so bind to Haven's host and allow no CORS.
    os.environ["SANIC_HOST"] = settings.bind_host
    run("bot.actions", port=settings.actions_port, cors_origins=None, auto_reload=False)


if __name__ == "__main__":
    main()
