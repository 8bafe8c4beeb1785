"""A throwaway PostgreSQL server for tests (initdb + pg_ctl from the machine's packages)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def available() -> bool:
    return bool(_binary("initdb") and _binary("pg_ctl"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PostgresServer:
    """A running throwaway server; ``stop`` and ``start`` again keep its data and port."""

    url: str  # SQLAlchemy URL of the ``postgres`` database
    port: int
    root: Path
    prefix: list[str]

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _pg_ctl(self, *args: str, check: bool = True) -> None:
        command = [*self.prefix, _binary("pg_ctl"), "-D", str(self.data), *args]
        subprocess.run(command, check=check, capture_output=True)

    def start(self) -> None:
        self._pg_ctl(
            "-l", str(self.root / "server.log"), "-w", "-o",
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -F",
            "start",
        )  # fmt: skip

    def stop(self, check: bool = True) -> None:
        """Stop at once (open connections are cut, as in a crash or a failover)."""
        self._pg_ctl("-m", "fast", "-w", "stop", check=check)


@contextmanager
def postgres_instance() -> Iterator[PostgresServer]:
    """Start PostgreSQL on a free loopback port; yields the server; stops and removes it."""
    initdb = _binary("initdb")
    root = Path(tempfile.mkdtemp(prefix="haven-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(root, "postgres", "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    url = f"postgresql://haven@127.0.0.1:{port}/postgres"
    server = PostgresServer(url, port, root, prefix)
    try:
        subprocess.run(
            [*prefix, initdb, "-D", str(server.data), "-U", "haven", "--auth=trust", "-E", "UTF8"],
            check=True, capture_output=True,
        )  # fmt: skip
        server.start()
        yield server
    finally:
        server.stop(check=False)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start PostgreSQL on a free loopback port; yields a SQLAlchemy URL; stops and removes it."""
    with postgres_instance() as server:
        yield server.url


def create_databases(admin_url: str, *names: str) -> list[str]:
    """Create empty databases on the server of ``admin_url``; their SQLAlchemy URLs."""
    import sqlalchemy as sa

    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        for name in names:
            connection.execute(sa.text(f"CREATE DATABASE {name}"))
    engine.dispose()
    base = admin_url.rsplit("/", 1)[0]
    return [f"{base}/{name}" for name in names]
