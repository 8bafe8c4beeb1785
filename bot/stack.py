"""Starting and stopping Haven's three processes (``haven run``).

Rasa server (channels + HTTP API, NLU components and response generator inside), the bot
service (custom actions) and the web process. Each one's output is prefixed; Ctrl-C (or
SIGTERM) stops all three; if one dies, the others are stopped too. While they run, the
retention purge runs on a timer, so "deleted after N days" holds without a cron job.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import click

from bot import logs
from bot.i18n.catalogs import compile_catalogs
from bot.settings import Settings, ensure_private_dir
from bot.training import quiet_tensorflow_env

STOP_TIMEOUT_SECONDS = 15


@dataclass
class Service:
    """One of Haven's processes."""

    name: str
    command: list[str]
    port: int
    health_url: str
    colour: str
    process: subprocess.Popen | None = field(default=None, repr=False)


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def services(settings: Settings, model: Path) -> list[Service]:
    """The three processes and how to check that each is ready (no secret on any line)."""
    python = sys.executable
    host = settings.bind_host
    return [
        Service(
            name="rasa",
            command=[python, "-m", "bot.rasa_server", "--model", str(model)],
            port=settings.rasa_port,
            # 200 only once the model is loaded; needs no token.
            health_url=f"http://{host}:{settings.rasa_port}/webhooks/rest/",
            colour="cyan",
        ),
        Service(
            name="bot",
            command=[python, "-m", "bot.service"],
            port=settings.actions_port,
            health_url=f"http://{settings.actions_bind_host}:{settings.actions_port}/health",
            colour="green",
        ),
        Service(
            name="web",
            command=[python, "-m", "bot.web"],
            port=settings.web_port,
            health_url=f"http://{host}:{settings.web_port}/healthz",
            colour="magenta",
        ),
    ]


def stack_environment(settings: Settings) -> dict[str, str]:
    env = quiet_tensorflow_env()
    env["PYTHONUNBUFFERED"] = "1"
    # The Rasa server sets it for its own workers only (bot.metrics): a value inherited by
    # all three would make them add up each other's counts.
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def purge_once(settings: Settings) -> str:
    """Run the retention purge of every kind of personal data (``bot.retention``); a
    one-line summary for the log (counts only)."""
    from bot.retention import purge_all

    return purge_all(settings).summary()


class RetentionTimer(threading.Thread):
    """Runs the retention purge now and then every ``purge_interval_minutes``."""

    def __init__(self, settings: Settings, report) -> None:
        super().__init__(name="haven-retention", daemon=True)
        self.settings = settings
        self.report = report
        self.stopped = threading.Event()

    def run(self) -> None:
        interval = max(1, self.settings.purge_interval_minutes) * 60
        while not self.stopped.is_set():
            try:
                self.report(purge_once(self.settings))
            except Exception as error:  # noqa: BLE001 - keep serving; say it failed
                self.report(f"Retention purge failed ({type(error).__name__}); will retry.")
            self.stopped.wait(interval)


def is_healthy(url: str, timeout: float = 2.0) -> bool:
    """True when ``url`` answers 200 (for Rasa's REST channel: a model is loaded)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:  # noqa: S310 - our own URL
            return reply.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM handler: stop like Ctrl-C does."""
    raise KeyboardInterrupt


class Stack:
    """Starts the services, relays their output, and stops them together."""

    def __init__(self, settings: Settings, model: Path, out=sys.stdout) -> None:
        self.settings = settings
        self.services = services(settings, model)
        self.out = out
        self._lock = threading.Lock()
        self._stopping = False
        # HAVEN_LOG_FORMAT=json: every line of `haven run` is a JSON object (bot.logs), its
        # own, the ones it relays, and whatever it prints before the processes start.
        self.json_logs = logs.configure("haven")

    def check_ports(self) -> None:
        for service in self.services:
            settings = self.settings
            host = settings.actions_bind_host if service.name == "bot" else settings.bind_host
            if port_in_use(host, service.port):
                variable = {
                    "rasa": "HAVEN_RASA_PORT",
                    "bot": "HAVEN_ACTIONS_PORT",
                    "web": "HAVEN_WEB_PORT",
                }[service.name]
                raise click.ClickException(
                    f"Port {service.port} ({service.name}) is already in use on "
                    f"{host}. Stop the program using it (is Haven already "
                    f"running?) or set {variable} to a free port."
                )

    def _relay(self, service: Service) -> None:
        prefix = click.style(f"[{service.name:<4}]", fg=service.colour, bold=True)
        assert service.process and service.process.stdout
        for line in iter(service.process.stdout.readline, ""):
            if self.json_logs:
                self._write_json(service.name, line, pid=service.process.pid)
                continue
            with self._lock:
                click.echo(
                    f"{prefix} {line.rstrip()}", file=self.out, color=self.out.isatty() or None
                )

    def start(self) -> None:
        self.check_ports()
        compile_catalogs(self.settings.locales_dir)
        env = stack_environment(self.settings)
        ensure_private_dir(self.settings.var_dir)
        # Create any missing secret once, here, before three processes race to create it.
        for secret in ("rasa_token", "actions_secret", "log_secret"):
            getattr(self.settings, secret)
        for service in self.services:
            service.process = subprocess.Popen(
                service.command,
                cwd=self.settings.project_root,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                start_new_session=True,  # Ctrl-C reaches us; we stop the children in order
            )
            threading.Thread(target=self._relay, args=(service,), daemon=True).start()

    def wait_until_ready(self, timeout: float = 300) -> bool:
        deadline = time.monotonic() + timeout
        pending = list(self.services)
        while pending and time.monotonic() < deadline:
            for service in list(pending):
                if service.process and service.process.poll() is not None:
                    return False
                if is_healthy(service.health_url):
                    pending.remove(service)
            time.sleep(0.5)
        return not pending

    def first_exited(self) -> Service | None:
        for service in self.services:
            if service.process and service.process.poll() is not None:
                return service
        return None

    def stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        for service in self.services:
            if service.process and service.process.poll() is None:
                os.killpg(service.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for service in self.services:
            if not service.process:
                continue
            try:
                service.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(service.process.pid, signal.SIGKILL)
                service.process.wait()

    def run_forever(self) -> int:
        """Start, announce, and supervise until Ctrl-C/SIGTERM or a process exits."""
        # Handle both explicitly: a parent may have started us with SIGINT ignored.
        previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.start()
            if not self.wait_until_ready():
                failed = self.first_exited()
                name = failed.name if failed else "a service"
                click.echo(
                    click.style(
                        f"Haven did not start: {name} is not healthy. See its log lines above.",
                        fg="red",
                    ),
                    err=True,
                )
                return 1
            self.announce()
            retention = RetentionTimer(self.settings, self._say)
            retention.start()
            while True:
                exited = self.first_exited()
                if exited:
                    click.echo(
                        click.style(
                            f"{exited.name} exited (code {exited.process.returncode}); "
                            "stopping Haven.",
                            fg="red",
                        ),
                        err=True,
                    )
                    return 1
                time.sleep(0.5)
        except KeyboardInterrupt:
            click.echo("\nStopping Haven…", err=True)
            return 0
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _write_json(
        self, process: str, line: str, logger: str = "output", pid: int | None = None
    ) -> None:
        """A process's line as it is when it is JSON already, else wrapped as JSON."""
        line = click.unstyle(line).rstrip()
        if not line.strip():
            return
        if not logs.is_json_line(line):
            line = logs.json_line(process, line, logger=logger, pid=pid or os.getpid())
        with self._lock:
            self.out.write(line + "\n")
            self.out.flush()

    def _say(self, line: str) -> None:
        if self.json_logs:
            self._write_json("haven", line, logger="haven")
            return
        prefix = click.style("[haven]", fg="yellow", bold=True)
        with self._lock:
            click.echo(f"{prefix} {line}", file=self.out, color=self.out.isatty() or None)

    def announce(self) -> None:
        s = self.settings
        lines = [
            "",
            click.style("Haven is running.", fg="green", bold=True),
            f"  Chat over REST:  curl -s http://{s.bind_host}:{s.rasa_port}/webhooks/rest/webhook "
            '-H \'Content-Type: application/json\' -d \'{"sender": "me", "message": "hi"}\'',
            "  Chat in this terminal:  .venv/bin/haven chat   (in another terminal)",
            f"  Web chat: http://{s.bind_host}:{s.web_port}/   "
            f"Staff console: http://{s.bind_host}:{s.web_port}/staff "
            "(make an account with .venv/bin/haven staff add NAME)",
            f"  Ready: rasa http://{s.bind_host}:{s.rasa_port}/webhooks/rest/, "
            f"bot http://{s.actions_bind_host}:{s.actions_port}/health, "
            f"web http://{s.bind_host}:{s.web_port}/healthz",
            "  Metrics and readiness: GET /metrics and /readyz on each (docs/operating.md)",
            "  Rasa HTTP API: Authorization: Bearer $(.venv/bin/haven api-token)",
            "  Stop: Ctrl-C",
            "",
        ]
        if self.json_logs:
            for line in lines:
                self._say(line.strip())
            return
        click.echo("\n".join(lines), file=self.out)
