"""Run the web process: ``python -m bot.web``."""

from __future__ import annotations

from bot.settings import get_settings
from bot.web.app import create_app


def main() -> None:
    settings = get_settings()
    app = create_app()
    app.run(host=settings.bind_host, port=settings.web_port, access_log=False, motd=False)


if __name__ == "__main__":
    main()
