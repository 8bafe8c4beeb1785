"""Haven's configuration, read once from the environment with defaults that work on a laptop.

Every port, URL, path and secret the code uses comes from here; nothing else reads
``os.environ`` for Haven settings. Secrets that are not set are generated on first run
into ``var/`` (never committed).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as error:
        raise SystemExit(f"{name} must be a whole number, got {raw!r}") from error


@dataclass(frozen=True)
class Settings:
    """Haven's settings; see README "Configuration" for each variable."""

    project_root: Path
    var_dir: Path
    model_dir: Path
    locales_dir: Path
    bind_host: str
    rasa_port: int
    actions_port: int
    web_port: int
    database_url: str
    tracker_store_url: str
    redis_url: str
    default_language: str
    max_message_chars: int
    retention_days: int
    log_level: str
    rasa_token_env: str

    @property
    def rasa_url(self) -> str:
        return f"http://{self.bind_host}:{self.rasa_port}"

    @property
    def action_endpoint_url(self) -> str:
        return _env("HAVEN_ACTION_ENDPOINT_URL", f"http://127.0.0.1:{self.actions_port}/webhook")

    @property
    def rasa_token(self) -> str:
        """The Rasa HTTP API token: HAVEN_RASA_TOKEN, else one generated into var/ once."""
        if self.rasa_token_env:
            return self.rasa_token_env
        return _read_or_create_secret(self.var_dir / "rasa-token")


def _read_or_create_secret(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment (cached; tests call ``get_settings.cache_clear()``)."""
    root = Path(_env("HAVEN_PROJECT_ROOT", str(PROJECT_ROOT)))
    var_dir = Path(_env("HAVEN_VAR_DIR", str(root / "var")))
    return Settings(
        project_root=root,
        var_dir=var_dir,
        model_dir=Path(_env("HAVEN_MODEL_DIR", str(root / "models"))),
        locales_dir=root / "locales",
        bind_host=_env("HAVEN_BIND_HOST", "127.0.0.1"),
        rasa_port=_env_int("HAVEN_RASA_PORT", 5005),
        actions_port=_env_int("HAVEN_ACTIONS_PORT", 5055),
        web_port=_env_int("HAVEN_WEB_PORT", 8080),
        database_url=_env("HAVEN_DATABASE_URL", f"sqlite:///{var_dir}/haven.db"),
        tracker_store_url=_env("HAVEN_TRACKER_STORE_URL", f"sqlite:///{var_dir}/tracker.db"),
        redis_url=_env("HAVEN_REDIS_URL", ""),
        default_language=_env("HAVEN_DEFAULT_LANGUAGE", "en"),
        max_message_chars=_env_int("HAVEN_MAX_MESSAGE_CHARS", 2000),
        retention_days=_env_int("HAVEN_RETENTION_DAYS", 30),
        log_level=_env("HAVEN_LOG_LEVEL", "INFO").upper(),
        rasa_token_env=_env("HAVEN_RASA_TOKEN", ""),
    )
