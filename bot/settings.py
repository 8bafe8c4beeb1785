"""Haven's configuration, read once from the environment with defaults that work on a laptop.

Every port, URL, path and secret the code uses comes from here; nothing else reads
``os.environ`` for Haven settings. Secrets that are not set are generated on first run
into ``var/`` (never committed).
"""

from __future__ import annotations

import base64
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
    actions_bind_host: str
    rasa_port: int
    actions_port: int
    web_port: int
    database_url: str
    tracker_store_url: str
    default_language: str
    max_message_chars: int
    max_request_bytes: int
    keep_alive_seconds: int
    retention_days: int
    purge_interval_minutes: int
    log_level: str
    rasa_token_env: str
    actions_secret_env: str
    log_secret_env: str
    telegram_token: str = ""  # TELEGRAM_TOKEN from BotFather: the Telegram channel is on
    telegram_api_url: str = "https://api.telegram.org/bot"  # the token is appended
    telegram_webhook_url: str = ""  # public HTTPS URL of the webhook: webhook mode, else polling
    telegram_secret_env: str = ""
    handoff: str = "on"  # HAVEN_HANDOFF: "off" sends every "talk to a person" to the hotline
    organisation: str = ""  # HAVEN_ORGANISATION: who the case managers work for
    staff_hours: str = "mon-fri 09:00-17:00"  # HAVEN_STAFF_HOURS (bot.handoff.hours)
    staff_timezone: str = "America/New_York"  # HAVEN_STAFF_TIMEZONE (IANA name)
    staff_telegram_chat: str = ""  # HAVEN_STAFF_TELEGRAM_CHAT: a staff group to notify
    public_url: str = ""  # HAVEN_PUBLIC_URL: the web process as staff reach it (links)
    contact_keys_env: str = ""  # HAVEN_CONTACT_KEYS: Fernet keys, newest first, comma-separated
    staff_session_minutes: int = 30  # idle staff sessions end after this long
    staff_https: bool = False  # HAVEN_STAFF_HTTPS=1 behind TLS: the session cookie is Secure
    # Past one machine (docs/scaling.md): Redis holds Rasa's per-conversation locks and what
    # every process must share (messages waiting for a client, the sign-in limit). Empty: one
    # machine, all of it in each process's memory.
    redis_url: str = ""  # HAVEN_REDIS_URL, e.g. redis://127.0.0.1:6379/0
    rasa_workers: int = 1  # HAVEN_RASA_WORKERS: Sanic workers in each Rasa server
    log_format: str = "text"  # HAVEN_LOG_FORMAT: "text" or "json" (one JSON object per line)
    metrics_token: str = ""  # HAVEN_METRICS_TOKEN: /metrics wants "Authorization: Bearer <it>"
    # Retention of personal data besides conversations (retention_days), each its own period.
    referral_retention_days: int = 90  # a closed referral's personal data, after closing
    audit_retention_days: int = 365  # staff audit log rows (who looked at what, no user text)

    @property
    def contact_keys(self) -> list[str]:
        """Keys that encrypt contact details at rest (``bot.handoff.crypto``): HAVEN_CONTACT_KEYS
        (newest first; older ones still decrypt, for rotation), else one generated into
        var/ once."""
        if self.contact_keys_env:
            return [k.strip() for k in self.contact_keys_env.split(",") if k.strip()]
        return [_read_or_create_secret(self.var_dir / "contact-key", fernet=True)]

    @property
    def console_url(self) -> str:
        """Where staff open the console (links in staff notifications)."""
        return (self.public_url or f"http://127.0.0.1:{self.web_port}").rstrip("/") + "/staff"

    @property
    def telegram_mode(self) -> str | None:
        """None (no token), "webhook" (a public URL is set) or "polling"."""
        if not self.telegram_token:
            return None
        return "webhook" if self.telegram_webhook_url else "polling"

    @property
    def telegram_secret(self) -> str:
        """What Telegram must send in ``X-Telegram-Bot-Api-Secret-Token`` with every webhook
        call: TELEGRAM_WEBHOOK_SECRET, else one generated into var/ once (Telegram allows
        1-256 characters of A-Z, a-z, 0-9, _ and -)."""
        return self.telegram_secret_env or _read_or_create_secret(self.var_dir / "telegram-secret")

    @property
    def rasa_url(self) -> str:
        return f"http://{self.bind_host}:{self.rasa_port}"

    @property
    def rasa_internal_url(self) -> str:
        """Where the web process reaches the Rasa server (the web chat's messages)."""
        return _env("HAVEN_RASA_URL", f"http://127.0.0.1:{self.rasa_port}")

    @property
    def quick_exit_url(self) -> str:
        """The neutral page the web chat's quick exit replaces itself with."""
        return _env("HAVEN_QUICK_EXIT_URL", "https://www.google.com/search?q=weather")

    @property
    def action_endpoint_url(self) -> str:
        return _env("HAVEN_ACTION_ENDPOINT_URL", f"http://127.0.0.1:{self.actions_port}/webhook")

    @property
    def rasa_token(self) -> str:
        """The secret that signs Rasa HTTP API tokens (JWT): HAVEN_RASA_TOKEN, else one
        generated into var/ once. It never appears on a command line or in a URL."""
        return self.rasa_token_env or _read_or_create_secret(self.var_dir / "rasa-token")

    @property
    def actions_secret(self) -> str:
        """Shared secret Rasa sends to the bot service: HAVEN_ACTIONS_SECRET, else var/."""
        return self.actions_secret_env or _read_or_create_secret(self.var_dir / "actions-secret")

    @property
    def log_secret(self) -> str:
        """Key of the HMAC that pseudonymises conversation ids in logs (same on every server
        that shares logs: set HAVEN_LOG_SECRET), else generated into var/ once."""
        return self.log_secret_env or _read_or_create_secret(self.var_dir / "log-secret")


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` readable by its owner only (0700); tighten it if it already exists."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_mode & 0o077 and info.st_uid == os.getuid():
        path.chmod(0o700)
    return path


def _read_or_create_secret(path: Path, fernet: bool = False) -> str:
    """The secret in ``path``; created (0600, atomically) by whoever asks first (a Fernet
    key, 32 random bytes in url-safe base64, when ``fernet``)."""
    if not path.exists():
        ensure_private_dir(path.parent)
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            secret = secrets.token_bytes(32) if fernet else None
            text = base64.urlsafe_b64encode(secret).decode() if fernet else None
            text = text or secrets.token_urlsafe(32)
            handle.write(text + "\n")
        try:
            os.link(draft, path)  # fails if another process was first: then use theirs
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


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
        # Internal only: Rasa calls it on the same machine unless an operator says otherwise.
        actions_bind_host=_env("HAVEN_ACTIONS_BIND_HOST", "127.0.0.1"),
        rasa_port=_env_int("HAVEN_RASA_PORT", 5005),
        actions_port=_env_int("HAVEN_ACTIONS_PORT", 5055),
        web_port=_env_int("HAVEN_WEB_PORT", 8080),
        database_url=_env("HAVEN_DATABASE_URL", f"sqlite:///{var_dir}/haven.db"),
        tracker_store_url=_env("HAVEN_TRACKER_STORE_URL", f"sqlite:///{var_dir}/tracker.db"),
        default_language=_env("HAVEN_DEFAULT_LANGUAGE", "en"),
        max_message_chars=_env_int("HAVEN_MAX_MESSAGE_CHARS", 2000),
        max_request_bytes=_env_int("HAVEN_MAX_REQUEST_BYTES", 64 * 1024),
        # Longer than any client's or proxy's idle keep-alive (aiohttp 15 s, nginx 60 s), so
        # a server never closes a connection that a client is about to reuse.
        keep_alive_seconds=_env_int("HAVEN_KEEP_ALIVE_SECONDS", 75),
        retention_days=_env_int("HAVEN_RETENTION_DAYS", 30),
        purge_interval_minutes=_env_int("HAVEN_PURGE_INTERVAL_MINUTES", 60),
        log_level=_env("HAVEN_LOG_LEVEL", "INFO").upper(),
        rasa_token_env=_env("HAVEN_RASA_TOKEN", ""),
        actions_secret_env=_env("HAVEN_ACTIONS_SECRET", ""),
        log_secret_env=_env("HAVEN_LOG_SECRET", ""),
        telegram_token=_env("TELEGRAM_TOKEN", ""),
        telegram_api_url=_env("TELEGRAM_API_URL", "https://api.telegram.org/bot"),
        telegram_webhook_url=_env("TELEGRAM_WEBHOOK_URL", ""),
        telegram_secret_env=_env("TELEGRAM_WEBHOOK_SECRET", ""),
        handoff=_env("HAVEN_HANDOFF", "on").lower(),
        organisation=_env("HAVEN_ORGANISATION", ""),
        staff_hours=_env("HAVEN_STAFF_HOURS", "mon-fri 09:00-17:00"),
        staff_timezone=_env("HAVEN_STAFF_TIMEZONE", "America/New_York"),
        staff_telegram_chat=_env("HAVEN_STAFF_TELEGRAM_CHAT", ""),
        public_url=_env("HAVEN_PUBLIC_URL", ""),
        contact_keys_env=_env("HAVEN_CONTACT_KEYS", ""),
        staff_session_minutes=_env_int("HAVEN_STAFF_SESSION_MINUTES", 30),
        staff_https=_env("HAVEN_STAFF_HTTPS", "") in {"1", "true", "yes", "on"},
        redis_url=_env("HAVEN_REDIS_URL", ""),
        rasa_workers=max(1, _env_int("HAVEN_RASA_WORKERS", 1)),
        log_format=_env("HAVEN_LOG_FORMAT", "text").lower(),
        metrics_token=_env("HAVEN_METRICS_TOKEN", ""),
        referral_retention_days=_env_int("HAVEN_REFERRAL_RETENTION_DAYS", 90),
        audit_retention_days=_env_int("HAVEN_AUDIT_RETENTION_DAYS", 365),
    )
