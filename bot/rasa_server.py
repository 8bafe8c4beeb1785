"""The Rasa server process: ``python -m bot.rasa_server --model PATH`` runs Rasa's own ``rasa run``.

It exists so that no secret is ever on a command line (``ps`` shows every process's
arguments to every user): the API's JWT secret and the action server's shared secret come
from the environment or from files under ``var/`` and are handed to Rasa in memory. It
also pins what must not be configurable by accident: Rasa logs at INFO at most (its DEBUG
lines carry message text, whatever ``LOG_LEVEL`` says), request bodies are capped
(``HAVEN_MAX_REQUEST_BYTES``, answered 413) and idle connections outlive any client's.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bot import logs
from bot.settings import ensure_private_dir, get_settings

METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


def rasa_environment(environ: dict[str, str]) -> dict[str, str]:
    """The environment Rasa reads: Sanic limits, the pinned log level, the actions secret."""
    settings = get_settings()
    env = dict(environ)
    env["LOG_LEVEL"] = "INFO"  # never DEBUG: Rasa's debug lines contain what users wrote
    env["SANIC_REQUEST_MAX_SIZE"] = str(settings.max_request_bytes)
    env["SANIC_KEEP_ALIVE_TIMEOUT"] = str(settings.keep_alive_seconds)
    env["HAVEN_ACTIONS_SECRET"] = settings.actions_secret  # endpoints.yml sends it as a header
    env["HAVEN_ACTION_ENDPOINT_URL"] = settings.action_endpoint_url
    # Several Sanic workers share one port; their locks are shared too (Redis, else
    # var/locks.db on this machine: bot/db/locks.py).
    env["SANIC_WORKERS"] = str(settings.rasa_workers)
    # Several workers add up their metrics through files in one folder (bot.metrics).
    env.pop(METRICS_DIR_ENV, None)
    if settings.rasa_workers > 1:
        env[METRICS_DIR_ENV] = str(metrics_dir())
    return env


def metrics_dir() -> Path:
    """Where this Rasa server's workers write their metrics (emptied at every start)."""
    settings = get_settings()
    return settings.var_dir / "metrics" / f"rasa-{settings.rasa_port}"


def reset_metrics_dir() -> None:
    """Start the workers' metrics from zero: the files of a previous run would be added."""
    folder = os.environ.get(METRICS_DIR_ENV)
    if folder:
        ensure_private_dir(Path(folder))
        for stale in Path(folder).glob("*.db"):
            stale.unlink()


def rasa_arguments(model: str) -> list[str]:
    """``rasa run`` arguments; the JWT secret is among them, so they stay in memory."""
    settings = get_settings()
    return [
        "rasa", "run",
        "--model", model,
        "--enable-api",
        "--jwt-secret", settings.rasa_token,
        "--jwt-method", "HS256",
        "--endpoints", str(settings.project_root / "endpoints.yml"),
        "--credentials", str(settings.project_root / "credentials.yml"),
        "--interface", settings.bind_host,
        "--port", str(settings.rasa_port),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="the trained model (.tar.gz)")
    args = parser.parse_args(argv)
    os.umask(0o077)
    logs.configure("rasa")  # JSON lines when HAVEN_LOG_FORMAT=json (Rasa's own too)
    ensure_private_dir(get_settings().var_dir)
    os.environ.update(rasa_environment(dict(os.environ)))
    reset_metrics_dir()
    from rasa.__main__ import main as rasa_main

    from bot import rasa_patches

    rasa_patches.apply()
    sys.argv = rasa_arguments(args.model)
    rasa_main()


if __name__ == "__main__":
    main()
