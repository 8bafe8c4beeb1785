"""Throughput, latency and memory of Haven next to a bare `rasa init` assistant (`make bench`).

Three runs on this machine, one after the other (so they do not compete for the 2 cores),
each with the same load: N concurrent conversations over the REST channel, each sending
the same short script of messages:

1. Haven on an empty tracker store;
2. Haven on a tracker store already holding 10,000 generated conversations (a busy
   organisation's month), to show that the cost of a message does not grow with them;
3. the bare `rasa init` starter, Rasa's own default project, the framework's floor here.

Printed: p50/p95 latency, messages per second, and the resident memory of every process.
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
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bot.settings import ensure_private_dir, get_settings
from bot.training import model_path, quiet_tensorflow_env

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "var" / "bench"
# Messages both assistants understand (greeting, yes, bot challenge, no, thanks, bye).
SCRIPT = ["hello", "yes", "are you a bot?", "no", "thanks", "bye"]


@dataclass
class Result:
    name: str
    latencies: list[float] = field(default_factory=list)
    wall_seconds: float = 0.0
    errors: int = 0
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


def seed_conversations(var_dir: Path, count: int) -> int:
    """Store ``count`` generated conversations (a realistic mix of events, the last 20 days)
    in a tracker store under ``var_dir``; returns how many events were written."""
    import random
    import sqlite3

    from rasa.shared.core.events import (
        ActionExecuted,
        BotUttered,
        SessionStarted,
        SlotSet,
        UserUttered,
    )

    from bot.db.tracker_store import HavenTrackerStore

    database = var_dir / "tracker.db"
    HavenTrackerStore(url=f"sqlite:///{database}").engine.dispose()  # Rasa's schema, our indexes
    turns = [
        ("hi", "greet", "utter_safety_check"),
        ("yes", "affirm", "utter_menu"),
        ("what is a T visa", "kb_t_visa", "action_answer_topic"),
        ("I need a lawyer in Houston", "find_service", "action_find_service"),
        ("more", "more_results", "action_find_service"),
        ("thanks", "thanks", "utter_welcome"),
    ]
    rows = []
    rng = random.Random(7)
    now = time.time()
    for index in range(count):
        sender = f"seeded-{index:05d}"
        stamp = now - rng.uniform(0, 20 * 86400)
        events = [ActionExecuted("action_session_start"), SessionStarted(),
                  ActionExecuted("action_listen")]  # fmt: skip
        for text, intent, action in turns[: rng.randint(2, len(turns))]:
            guess = {"name": intent, "confidence": 0.93}
            parse = {"text": text, "intent": guess, "entities": [], "intent_ranking": [guess]}
            events += [
                UserUttered(text, parse["intent"], [], parse),
                SlotSet("language", "en"),
                ActionExecuted(action),
                BotUttered("A reply of ordinary length, about two lines on a phone screen. " * 2),
                ActionExecuted("action_listen"),
            ]
        for event in events:
            stamp += rng.uniform(0.5, 30)
            event.timestamp = stamp
            data = event.as_dict()
            rows.append((sender, data["event"], stamp, data.get("parse_data", {}).get(
                "intent", {}).get("name"), data.get("name"), json.dumps(data)))  # fmt: skip
    with sqlite3.connect(database) as connection:
        connection.executemany(
            "INSERT INTO events (sender_id, type_name, timestamp, intent_name, action_name, data)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
    return len(rows)


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


async def converse(
    session: aiohttp.ClientSession, url: str, sender: str, rounds: int, result: Result
) -> None:
    for _ in range(rounds):
        for text in SCRIPT:
            started = time.perf_counter()
            async with session.post(url, json={"sender": sender, "message": text}) as reply:
                body = await reply.json()
            result.latencies.append(time.perf_counter() - started)
            if reply.status != 200 or not body:
                result.errors += 1


async def load(url: str, concurrency: int, rounds: int, result: Result) -> None:
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await converse(session, url, "warmup", 1, Result("warmup"))
        started = time.perf_counter()
        await asyncio.gather(
            *(converse(session, url, f"bench-{i}", rounds, result) for i in range(concurrency))
        )
        result.wall_seconds = time.perf_counter() - started


def run_assistant(
    name: str,
    command: list[str],
    cwd: Path,
    env: dict[str, str],
    port: int,
    health: str,
    concurrency: int,
    rounds: int,
) -> Result:
    result = Result(name)
    with (BENCH_DIR / f"{name.replace(' ', '-')}.log").open("w") as log:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_healthy(health, process)
            time.sleep(2)  # let the other processes finish starting
            print(
                f"Loading {name}: {concurrency} conversations × {rounds * len(SCRIPT)} messages…",
                flush=True,
            )
            url = f"http://127.0.0.1:{port}/webhooks/rest/webhook"
            asyncio.run(load(url, concurrency, rounds, result))
            pids = [process.pid, *children(process.pid)]
            result.memory_mb = {command_name(pid): rss_mb(pid) for pid in pids}
        finally:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument(
        "--rounds", type=int, default=3, help="times each conversation repeats the script"
    )
    parser.add_argument(
        "--stored", type=int, default=10_000, help="conversations already stored in run 2"
    )
    args = parser.parse_args()
    ensure_private_dir(BENCH_DIR)  # var/ and what is in it stay private
    settings = get_settings()
    model = model_path(settings)
    if not model.exists():
        raise SystemExit("No current Haven model: run `make train` first.")
    project, bare_model = bare_rasa_model()

    runs = []
    for label, conversations in (("Haven", 0), ("Haven 10k", args.stored)):
        var_dir = BENCH_DIR / "haven-var"
        shutil.rmtree(var_dir, ignore_errors=True)  # fresh conversations each run
        ensure_private_dir(var_dir)  # var/ and what is in it stay private
        if conversations:
            written = seed_conversations(var_dir, conversations)
            print(f"Stored {conversations:,} generated conversations ({written:,} events).")
        haven_port = free_port()
        haven_env = {
            **quiet_tensorflow_env(),
            "HAVEN_RASA_PORT": str(haven_port),
            "HAVEN_ACTIONS_PORT": str(free_port()),
            "HAVEN_WEB_PORT": str(free_port()),
            "HAVEN_VAR_DIR": str(var_dir),
        }
        runs.append(
            run_assistant(
                label,
                [sys.executable, "-m", "bot.cli", "run", "--no-train"],
                ROOT,
                haven_env,
                haven_port,
                f"http://127.0.0.1:{haven_port}/webhooks/rest/",
                args.concurrency,
                args.rounds,
            )
        )
    bare_port = free_port()
    bare = run_assistant(
        "rasa init",
        [
            sys.executable,
            "-m",
            "rasa",
            "run",
            "--model",
            str(bare_model),
            "--enable-api",
            "--interface",
            "127.0.0.1",
            "--port",
            str(bare_port),
        ],
        project,
        quiet_tensorflow_env(),
        bare_port,
        f"http://127.0.0.1:{bare_port}/status",
        args.concurrency,
        args.rounds,
    )
    report(runs[0], runs[1], bare, args)


def report(haven: Result, stored: Result, bare: Result, args: argparse.Namespace) -> None:
    def figures(result: Result) -> tuple[float, ...]:
        return (
            result.percentile(0.50),
            result.percentile(0.95),
            result.throughput,
            len(result.latencies),
            result.errors,
        )

    labels = ("p50 latency (ms)", "p95 latency (ms)", "messages per second", "messages sent",
              "errors / empty replies")  # fmt: skip
    print(f"\n{args.concurrency} concurrent conversations, same script, same machine, this run:\n")
    print(
        f"{'':24}{'Haven':>10}{'Haven 10k':>11}{'10k/empty':>11}{'rasa init':>11}{'Haven/init':>12}"
    )
    for label, mine, busy, theirs in zip(
        labels, figures(haven), figures(stored), figures(bare), strict=True
    ):
        busy_ratio = f"{busy / mine:.2f}×" if mine else "-"
        ratio = f"{mine / theirs:.2f}×" if theirs else "-"
        print(f"{label:24}{mine:10.1f}{busy:11.1f}{busy_ratio:>11}{theirs:11.1f}{ratio:>12}")
    print("\nResident memory (MB):")
    for name, result in (("Haven", haven), ("Haven 10k", stored), ("rasa init", bare)):
        parts = ", ".join(f"{proc} {mb:.0f}" for proc, mb in result.memory_mb.items())
        print(f"  {name:10} total {sum(result.memory_mb.values()):.0f}: {parts}")
    verdict = haven.throughput >= bare.throughput and haven.percentile(0.5) <= bare.percentile(0.5)
    print(f"\nTarget (msg/s ≥ 1.0× and p50 ≤ 1.0× the starter): {'met' if verdict else 'NOT met'}")
    steady = stored.throughput >= 0.9 * haven.throughput
    steady = steady and stored.percentile(0.5) <= 1.1 * haven.percentile(0.5)
    print(f"With {args.stored:,} stored conversations, within 10% of empty: "
          f"{'yes' if steady else 'NO'}")  # fmt: skip
    summary = {
        r.name: {
            "p50_ms": r.percentile(0.5),
            "p95_ms": r.percentile(0.95),
            "msg_per_s": r.throughput,
            "errors": r.errors,
            "rss_mb": r.memory_mb,
        }
        for r in (haven, stored, bare)
    }
    (BENCH_DIR / "results.json").write_text(json.dumps(summary, indent=2))
    print(f"Saved {BENCH_DIR / 'results.json'}")


if __name__ == "__main__":
    main()
