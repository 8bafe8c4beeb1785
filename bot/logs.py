"""How Haven's processes write their logs: text (the default) or JSON lines.

With ``HAVEN_LOG_FORMAT=json`` every line a process writes is one JSON object::

    {"time": "2025-01-31T09:12:03.456Z", "level": "INFO", "logger": "rasa.core.run",
     "process": "rasa", "pid": 4242, "message": "Rasa server is up and running."}

plus ``"exception"`` (the traceback, as one string) when there is one. ``process`` is
``rasa``, ``bot``, ``web`` or ``haven`` (``haven run`` itself). ``configure`` makes it so in
three layers, because Rasa and Sanic set up logging themselves, after Haven does:

1. the root logger gets one handler that writes JSON;
2. every handler formats as JSON, whoever adds it and whenever (Rasa's coloredlogs handler,
   Sanic's own handlers): ``logging.Handler.format`` is replaced in this process;
3. ``sys.stdout`` and ``sys.stderr`` turn any line that is not JSON already (a ``print``, a
   warning, a traceback written by hand) into a JSON object with ``logger`` "stdout" or
   "stderr", so nothing reaches the output as bare text.

Output that bypasses Python (a C library writing to the file descriptor) is wrapped by
``haven run`` when it relays the line (``bot.stack``). This module adds no log lines and
changes no log levels: what was not logged in text is not logged in JSON either.
"""

from __future__ import annotations

import atexit
import datetime as dt
import io
import json
import logging
import os
import re
import sys
import threading
import time
from typing import Any

from bot.settings import get_settings

TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"
_state: dict[str, Any] = {"process": None}


def json_enabled() -> bool:
    return get_settings().log_format == "json"


def _time(created: float) -> str:
    moment = dt.datetime.fromtimestamp(created, dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def json_line(
    process: str,
    message: str,
    level: str = "INFO",
    logger: str = "haven",
    created: float | None = None,
    **extra: Any,
) -> str:
    """One log line as a JSON object (no newline)."""
    entry = {
        "time": _time(time.time() if created is None else created),
        "level": level,
        "logger": logger,
        "process": process,
        "pid": extra.pop("pid", os.getpid()),
        "message": message,
        **extra,
    }
    return json.dumps(entry, ensure_ascii=False, default=str)


def is_json_line(line: str) -> bool:
    """Whether a line is already a JSON object (passed through unchanged)."""
    text = line.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return False
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


class JsonFormatter(logging.Formatter):
    """A log record as one JSON line (see the module's docstring for the fields)."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the line
            message = str(record.msg)
        extra: dict[str, Any] = {}
        if record.exc_info:
            extra["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            extra["exception"] = record.exc_text
        if record.stack_info:
            extra["stack"] = self.formatStack(record.stack_info)
        return json_line(
            self.process,
            message,
            level=record.levelname,
            logger=record.name,
            created=record.created,
            pid=record.process,
            **extra,
        )


class JsonLines(io.TextIOBase):
    """A text stream that writes every complete line as JSON: lines that are JSON objects
    already go through unchanged, any other line is wrapped (``logger``: the stream's
    name). Everything else (``isatty``, ``fileno``, ``encoding``) is the wrapped stream's."""

    def __init__(self, stream: Any, process: str, name: str, level: str) -> None:
        super().__init__()
        self._stream = stream
        self._process = process
        self._name = name
        self._level = level
        self._partial = ""
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):  # as any text stream (click probes with bytes)
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        with self._lock:
            *lines, self._partial = (self._partial + text).split("\n")
            for line in lines:
                self._write_line(line)
        return len(text)

    def _write_line(self, line: str) -> None:
        line = line.rstrip("\r")
        if not line.strip():
            return
        if not is_json_line(line):
            line = json_line(self._process, line, level=self._level, logger=self._name)
        self._stream.write(line + "\n")

    def flush(self) -> None:
        self._stream.flush()

    def close(self) -> None:  # never close the real stream under us
        with self._lock:
            if self._partial:
                self._write_line(self._partial)
                self._partial = ""
        self.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self._stream, "errors", None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _format_as_json(handler: logging.Handler, record: logging.LogRecord) -> str:
    return _state["formatter"].format(record)


_URL_IDS = re.compile(r"(/conversations/)[^/?'\s]+|\?[^'\s]*")


class RedactUrls(logging.Filter):
    """Sanic logs the full URL of a request that failed ("Exception occurred while handling
    uri: ..."), and a URL can name a conversation (``?sender=``, ``/conversations/<id>/``):
    the query string and the id are replaced before the line is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _URL_IDS.sub(lambda m: f"{m.group(1)}…" if m.group(1) else "?…", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def redact_urls() -> None:
    """Install ``RedactUrls`` on Sanic's error logger (every process, text or JSON)."""
    error_logger = logging.getLogger("sanic.error")
    if not any(isinstance(f, RedactUrls) for f in error_logger.filters):
        error_logger.addFilter(RedactUrls())


def configure(process: str, level: str | int | None = None) -> bool:
    """Set this process up for JSON logs when ``HAVEN_LOG_FORMAT=json`` (see the module's
    docstring); False, and nothing changed, for text. ``level`` sets the root logger's level
    (None: leave it). Calling it again changes nothing. Sanic's error lines lose the ids
    in URLs either way (``redact_urls``)."""
    redact_urls()
    if not json_enabled():
        return False
    if _state["process"] is not None:
        return True
    _state["process"] = process
    _state["formatter"] = JsonFormatter(process)
    sys.stdout = JsonLines(sys.stdout, process, "stdout", "INFO")
    sys.stderr = JsonLines(sys.stderr, process, "stderr", "WARNING")
    atexit.register(sys.stdout.close)  # a last line without its newline
    atexit.register(sys.stderr.close)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_state["formatter"])
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    if level is not None:
        root.setLevel(level)
    logging.Handler.format = _format_as_json  # type: ignore[method-assign]
    logging.captureWarnings(True)
    _sanic_logs_once()
    return True


def _sanic_logs_once() -> None:
    """Sanic gives its loggers handlers of their own (JSON too, above) that also pass every
    line on to the root logger: in JSON mode they stop there, so no line is written twice
    (Rasa does the same to them)."""
    try:
        from sanic.log import LOGGING_CONFIG_DEFAULTS
    except ImportError:  # pragma: no cover - every Haven process has Sanic
        return
    for name, config in LOGGING_CONFIG_DEFAULTS["loggers"].items():
        config["propagate"] = False
        if logging.getLogger(name).handlers:
            logging.getLogger(name).propagate = False


def configure_service(process: str, level: str | int) -> None:
    """A Haven process's logging: JSON when asked, else text at ``level``."""
    if not configure(process, level):
        logging.basicConfig(level=level, format=TEXT_FORMAT)
