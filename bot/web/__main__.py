"""Run the web process: ``python -m bot.web``."""

from __future__ import annotations

import os

from bot import logs
from bot.settings import get_settings
from bot.web.app import create_app


def main() -> None:
    settings = get_settings()
    os.umask(0o077)
    logs.configure("web")  # JSON lines when HAVEN_LOG_FORMAT=json; else as Sanic sets it up
    app = create_app()
    app.config.REQUEST_MAX_SIZE = settings.max_request_bytes
    app.config.KEEP_ALIVE_TIMEOUT = settings.keep_alive_seconds
    app.run(host=settings.bind_host, port=settings.web_port, access_log=False, motd=False)


if __name__ == "__main__":
    main()
