"""Load on the full stack next to a bare `rasa init` assistant, in one run (`make bench`).

Four assistants run side by side on this machine, each idle while another is loaded:

1. **rasa init**: Rasa's own starter project, sent messages its training data covers (none
   of its replies may be empty), the framework's floor here;
2. **Haven, SQLite**: `haven run` as on one machine, as installed (one Rasa process);
3. **Haven, SQLite, 2 workers**: the same with `HAVEN_RASA_WORKERS=2` (the conversation
   locks in `var/locks.db`);
4. **Haven, PostgreSQL + Redis**: `haven run` with both databases on PostgreSQL, the locks
   and shared queues in Redis, and two Sanic workers in the Rasa server.

For each load (20 and 200 concurrent conversations × 10 messages, each on a fresh
conversation) the four take turns, round after round (alternating rounds, so a slow moment
of the machine hits all four alike). Haven gets its real mix: greetings, rights
questions, directory searches with a place, in English and Spanish. Printed per assistant
and load: errors, lost messages (sent but not in the stored conversation), p50/p95 latency,
messages per second, and the resident memory of every process after the load.
Never run by the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bot.rasa_api import signed_token
from bot.settings import ensure_private_dir, get_settings
from bot.training import model_path, quiet_tensorflow_env

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "var" / "bench"


@dataclass
class Result:
    name: str
    latencies: list[float] = field(default_factory=list)
    wall_seconds: float = 0.0
    errors: int = 0
    lost: int = 0
    memory_mb: dict[str, float] = field(default_factory=dict)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.wall_seconds if self.wall_seconds else 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def command_name(pid: int) -> str:
    args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    text = " ".join(a.decode(errors="replace") for a in args)
    for marker, name in (
        ("bot.rasa_server", "rasa server"),
        ("rasa run", "rasa server"),
        ("bot.service", "bot service"),
        ("bot.web", "web"),
    ):
        if marker in text:
            return name
    return "supervisor"


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(
                f"process exited early ({process.returncode}); see logs in {BENCH_DIR}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"{url} not healthy after {timeout} s")


def bare_rasa_model() -> tuple[Path, Path]:
    """The `rasa init` starter project, created and trained once (cached under var/bench/)."""
    project = BENCH_DIR / "rasa-init"
    models = sorted((project / "models").glob("*.tar.gz")) if project.exists() else []
    if models:
        return project, models[-1]
    project.mkdir(parents=True, exist_ok=True)
    print("Creating and training the bare `rasa init` assistant (about a minute)…", flush=True)
    with (BENCH_DIR / "rasa-init.log").open("w") as log:
        subprocess.run(
            [sys.executable, "-m", "rasa", "init", "--no-prompt", "--init-dir", str(project)],
            cwd=project,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=quiet_tensorflow_env(),
            check=True,
        )
    return project, sorted((project / "models").glob("*.tar.gz"))[-1]


STARTER_SCRIPT = ["hello", "I am great", "are you a bot?", "I am sad", "yes", "hi there",
                  "perfect", "are you a bot?", "good morning", "bye"]  # fmt: skip
HAVEN_SCRIPTS = [
    ["hi", "what are my rights at work", "can my boss keep my passport",
     "I need a lawyer in Houston, TX", "what is a T visa", "I need food in Houston",
     "are you a bot?", "thanks", "I need a shelter in Dallas, TX", "bye"],
    ["hola", "cuáles son mis derechos en el trabajo", "mi jefe tiene mi pasaporte",
     "necesito un abogado en Houston, TX", "qué es la visa T", "necesito comida en Houston",
     "eres un robot?", "gracias", "necesito un refugio en Dallas, TX", "adiós"],
]  # fmt: skip
LOADS = (20, 200)


@dataclass
class Assistant:
    name: str
    port: int
    process: subprocess.Popen
    scripts: list[list[str]]
    token: str | None = None  # signs tracker reads (Haven's API needs a JWT)


async def converse(
    session: aiohttp.ClientSession, url: str, sender: str, script: list[str], result: Result
) -> None:
    for text in script:
        started = time.perf_counter()
        try:
            async with session.post(url, json={"sender": sender, "message": text}) as reply:
                body = await reply.json(content_type=None)
                ok = reply.status == 200 and bool(body)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            ok = False
        result.latencies.append(time.perf_counter() - started)
        result.errors += 0 if ok else 1


async def stored_user_messages(
    session: aiohttp.ClientSession, base: str, sender: str, token: str | None
) -> Counter:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.get(f"{base}/conversations/{sender}/tracker", headers=headers) as reply:
        events = (await reply.json()).get("events") or []
    return Counter(e.get("text") for e in events if e.get("event") == "user")


async def load(assistant: Assistant, concurrency: int, round_number: int, result: Result) -> None:
    base = f"http://127.0.0.1:{assistant.port}"
    url = f"{base}/webhooks/rest/webhook"
    timeout = aiohttp.ClientTimeout(total=900)
    connector = aiohttp.TCPConnector(limit=0)
    senders = [f"bench-{round_number}-{concurrency}-{i}-{os.urandom(4).hex()}"
               for i in range(concurrency)]  # fmt: skip
    scripts = [assistant.scripts[i % len(assistant.scripts)] for i in range(concurrency)]
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(
            *(
                converse(session, url, s, script, result)
                for s, script in zip(senders, scripts, strict=True)
            )
        )
        result.wall_seconds += time.perf_counter() - started
        token = signed_token(assistant.token) if assistant.token else None
        for sender, script in zip(senders, scripts, strict=True):
            stored = await stored_user_messages(session, base, sender, token)
            result.lost += sum((Counter(script) - stored).values())  # sent, not stored


def process_tree(pid: int) -> list[int]:
    found = [pid]
    for child in children(pid):
        found += process_tree(child)
    return found


def memory(process: subprocess.Popen) -> dict[str, float]:
    by_name: dict[str, float] = {}
    for pid in process_tree(process.pid):
        try:
            name = command_name(pid)
            if name == "supervisor" and pid != process.pid:
                name = "rasa server"  # a Sanic worker (forked; same command line)
            by_name[name] = by_name.get(name, 0.0) + rss_mb(pid)
        except OSError:
            continue
    return by_name


def start(name: str, command: list[str], cwd: Path, env: dict[str, str], health: str):
    log = (BENCH_DIR / f"{name.replace(' ', '-').replace('+', '').replace(',', '')}.log").open("w")
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    wait_healthy(health, process)
    return process


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def haven(name: str, extra: dict[str, str]) -> Assistant:
    var_dir = BENCH_DIR / name.replace(" ", "-").replace("+", "").replace(",", "")
    shutil.rmtree(var_dir, ignore_errors=True)
    ensure_private_dir(var_dir)
    port = free_port()
    token = "bench-token-that-signs-rasa-api-calls-0123456789"
    env = {
        **quiet_tensorflow_env(),
        "HAVEN_RASA_PORT": str(port),
        "HAVEN_ACTIONS_PORT": str(free_port()),
        "HAVEN_WEB_PORT": str(free_port()),
        "HAVEN_VAR_DIR": str(var_dir),
        "HAVEN_RASA_TOKEN": token,
        **extra,
    }
    health = f"http://127.0.0.1:{port}/webhooks/rest/"
    command = [sys.executable, "-m", "bot.cli", "run", "--no-train"]
    process = start(name, command, ROOT, env, health)
    time.sleep(3)  # the bot service and web process finish starting
    return Assistant(name, port, process, HAVEN_SCRIPTS, token)


def starter() -> Assistant:
    project, model = bare_rasa_model()
    port = free_port()
    command = [sys.executable, "-m", "rasa", "run", "--model", str(model), "--enable-api",
               "--interface", "127.0.0.1", "--port", str(port)]  # fmt: skip
    process = start(
        "rasa init", command, project, quiet_tensorflow_env(), f"http://127.0.0.1:{port}/status"
    )
    return Assistant("rasa init", port, process, [STARTER_SCRIPT])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, nargs="+", default=list(LOADS))
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per load")
    args = parser.parse_args()
    ensure_private_dir(BENCH_DIR)  # var/ and what is in it stay private
    if not model_path(get_settings()).exists():
        raise SystemExit("No current Haven model: run `make train` first.")
    from tests import postgres, redis_server

    with postgres.postgres_server() as admin_url, redis_server.redis_server() as redis:
        app_url, tracker_url = postgres.create_databases(admin_url, "haven", "tracker")
        print("Starting rasa init and Haven three ways…", flush=True)
        assistants = [starter(), haven("Haven, SQLite", {})]
        assistants.append(haven("Haven, SQLite, 2 workers", {"HAVEN_RASA_WORKERS": "2"}))
        assistants.append(
            haven(
                "Haven, PG+Redis",
                {
                    "HAVEN_DATABASE_URL": app_url,
                    "HAVEN_TRACKER_STORE_URL": tracker_url,
                    "HAVEN_REDIS_URL": redis.url,
                    "HAVEN_RASA_WORKERS": "2",
                },
            )  # fmt: skip
        )
        try:
            for assistant in assistants:  # first requests load lazy parts: not measured
                asyncio.run(load(assistant, 2, -1, Result("warm-up")))
            results: dict[tuple[str, int], Result] = {}
            for concurrency in args.loads:
                for round_number in range(args.rounds):
                    for assistant in assistants:
                        key = (assistant.name, concurrency)
                        result = results.setdefault(key, Result(assistant.name))
                        print(f"  round {round_number + 1}: {assistant.name}, "
                              f"{concurrency} conversations × 10 messages", flush=True)  # fmt: skip
                        asyncio.run(load(assistant, concurrency, round_number, result))
                for assistant in assistants:
                    results[(assistant.name, concurrency)].memory_mb = memory(assistant.process)
        finally:
            for assistant in assistants:
                stop(assistant.process)
    report(results, [a.name for a in assistants], args.loads)


def report(results: dict, names: list[str], loads: list[int]) -> None:
    summary = {}
    for concurrency in loads:
        floor = results[(names[0], concurrency)]
        print(f"\n{concurrency} concurrent conversations × 10 messages (fresh conversations, "
              "alternating rounds, this run):\n")  # fmt: skip
        print(f"{'':26}{'errors':>8}{'lost':>6}{'p50 ms':>9}{'p95 ms':>9}{'msg/s':>8}"
              f"{'msg/s ×':>9}{'p50 ×':>7}   memory MB after the load")  # fmt: skip
        for name in names:
            r = results[(name, concurrency)]
            speed = r.throughput / floor.throughput if floor.throughput else 0
            p50 = r.percentile(0.5) / floor.percentile(0.5) if floor.latencies else 0
            parts = ", ".join(f"{proc} {mb:.0f}" for proc, mb in r.memory_mb.items())
            print(f"{name:26}{r.errors:8d}{r.lost:6d}{r.percentile(0.5):9.1f}"
                  f"{r.percentile(0.95):9.1f}{r.throughput:8.1f}{speed:8.2f}×{p50:6.2f}×   "
                  f"{sum(r.memory_mb.values()):.0f} ({parts})")  # fmt: skip
            summary[f"{name} @ {concurrency}"] = {
                "errors": r.errors, "lost": r.lost, "p50_ms": r.percentile(0.5),
                "p95_ms": r.percentile(0.95), "msg_per_s": r.throughput, "rss_mb": r.memory_mb,
            }  # fmt: skip
        for name in names[1:]:
            r = results[(name, concurrency)]
            met = r.throughput >= floor.throughput and r.percentile(0.5) <= floor.percentile(0.5)
            print(f"  {name}: msg/s ≥ 1.0× and p50 ≤ 1.0× the starter: "
                  f"{'met' if met else 'NOT met'}")  # fmt: skip
    (BENCH_DIR / "results.json").write_text(json.dumps(summary, indent=2))
    print(f"\nSaved {BENCH_DIR / 'results.json'}")


if __name__ == "__main__":
    main()
