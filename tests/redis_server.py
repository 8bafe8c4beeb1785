"""A throwaway Redis server for tests (``redis-server`` from the machine's packages)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.postgres import _free_port


def available() -> bool:
    return bool(shutil.which("redis-server"))


@dataclass
class RedisServer:
    url: str
    port: int
    process: subprocess.Popen
    folder: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def start(self) -> None:
        """Start again on the same port (after ``stop``), with nothing kept."""
        self.process = _start(self.port, self.folder)


def _start(port: int, folder: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(folder), "--protected-mode", "yes"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            return process
        except redis.ConnectionError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.05)
        finally:
            client.close()


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    """Redis on a free loopback port, no persistence; stopped and removed at the end."""
    folder = Path(tempfile.mkdtemp(prefix="haven-redis-"))
    port = _free_port()
    server = RedisServer(f"redis://127.0.0.1:{port}/0", port, _start(port, folder), folder)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
