"""Haven's processes started one by one, as a multi-server deployment runs them: any number
of Rasa servers and bot services, the web process, and round-robin balancers
(tests/balancer.py) in front of the Rasa servers and of the bot services. Each process can
be killed and started again; every process logs to ``<var>/<name>.log``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import ROOT, TEST_TOKEN, _wait_for, free_port

SHARED_SECRETS = {
    # What every server of a deployment must share (docs/scaling.md).
    "HAVEN_RASA_TOKEN": TEST_TOKEN,
    "HAVEN_ACTIONS_SECRET": "actions-secret-shared-by-every-server-0123456789",
    "HAVEN_LOG_SECRET": "log-secret-shared-by-every-server-0123456789",
    "HAVEN_CONTACT_KEYS": "x3hV2pTqz6Gd3b1S9fU1dGm5E0Kc7wYt8ZrAqLnMvOo=",
}


@dataclass
class Process:
    name: str
    command: list[str]
    env: dict[str, str]
    url: str
    health: str
    popen: subprocess.Popen | None = None


@dataclass
class Cluster:
    var_dir: Path
    env: dict[str, str]
    processes: dict[str, Process] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.env = {
            **os.environ,
            "HAVEN_VAR_DIR": str(self.var_dir),
            **SHARED_SECRETS,
            "PYTHONUNBUFFERED": "1",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONWARNINGS": "ignore",
            **self.env,
        }

    # --- one process -------------------------------------------------------------------
    def add(self, name: str, command: list[str], env: dict[str, str], port: int, health: str):
        url = f"http://127.0.0.1:{port}"
        process = Process(name, command, {**self.env, **env}, url, url + health)
        self.processes[name] = process
        return process

    def start(self, name: str, timeout: float = 240) -> Process:
        self.start_many(name, timeout=timeout)
        return self.processes[name]

    def start_many(self, *names: str, timeout: float = 240) -> None:
        """Start processes together (their start-up overlaps), then wait for each."""
        for name in names:
            process = self.processes[name]
            log = (self.var_dir / f"{name}.log").open("a")
            process.popen = subprocess.Popen(
                process.command, cwd=ROOT, env=process.env, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
            log.close()
        for name in names:
            self.wait_healthy(name, timeout)

    def wait_healthy(self, name: str, timeout: float) -> None:
        process = self.processes[name]
        try:
            _wait_for(process.health, process.popen, timeout)
        except (RuntimeError, TimeoutError) as error:
            raise RuntimeError(f"{name}: {error}: {self.log(name)[-3000:]}") from None

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        popen = self.processes[name].popen
        if popen and popen.poll() is None:
            os.killpg(popen.pid, sig)
            popen.wait(timeout=30)

    def log(self, name: str) -> str:
        path = self.var_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop_all(self) -> None:
        for name in reversed(list(self.processes)):
            self.kill(name, signal.SIGTERM)

    # --- Haven's processes ---------------------------------------------------------------
    def rasa(self, name: str, model: Path, actions_url: str, **env: str) -> Process:
        port = free_port()
        command = [sys.executable, "-m", "bot.rasa_server", "--model", str(model)]
        extra = {"HAVEN_RASA_PORT": str(port), "HAVEN_ACTION_ENDPOINT_URL": actions_url, **env}
        return self.add(name, command, extra, port, "/webhooks/rest/")

    def actions(self, name: str, **env: str) -> Process:
        port = free_port()
        command = [sys.executable, "-m", "bot.service"]
        return self.add(name, command, {"HAVEN_ACTIONS_PORT": str(port), **env}, port, "/health")

    def web(self, name: str, rasa_url: str, **env: str) -> Process:
        port = free_port()
        extra = {"HAVEN_WEB_PORT": str(port), "HAVEN_RASA_URL": rasa_url, **env}
        return self.add(name, [sys.executable, "-m", "bot.web"], extra, port, "/healthz")

    def balancer(self, name: str, upstreams: list[Process], health: str) -> Process:
        """A balancer over running ``upstreams``; healthy once ``health`` answers through it."""
        port = free_port()
        command = [sys.executable, "-m", "tests.balancer", str(port), *(u.url for u in upstreams)]
        return self.add(name, command, {}, port, health)
