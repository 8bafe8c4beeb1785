"""Relay latency of the live handoff (`make bench-handoff`, and part of `make bench`).

One `haven run` on free ports, with a case manager made by `haven staff add` and staffed
hours set to "always". For each conversation, a web chat user (through the web process,
as the page talks) asks for a person and consents, and the case manager claims and joins
in the console (over HTTP, as the console's page does). Then, message by message:

- user → console: the console's long poll for new lines is open; the clock runs from
  the user sending a message (``POST /chat/message``) until the long poll returns it;
- console → user: the page's long poll (``GET /chat/events``) is open; the clock runs from
  the case manager sending a reply until the page's poll returns it.

The floor, measured in the same run: a bot reply to the same user messages before the
handoff (``POST /chat/message`` round trip). Printed: p50 and p95 of each, and each p50
next to the floor's. Never run by tests.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.bench import free_port, wait_healthy  # noqa: E402
from scripts.bench_channels import percentile, post  # noqa: E402
from tests.conftest import STAFF_PASSWORD  # noqa: E402
from tests.integration.test_handoff import Console  # noqa: E402

CONSENT = ["/request_human", "/affirm", '/referral_answer{"choice": "chat_now"}', "/skip",
           "/skip", "/skip", "/deny", "/affirm"]  # fmt: skip
USER_LINES = ["thank you", "i work on a farm", "they keep my papers", "can you call me later",
              "ok"]  # fmt: skip
STAFF_LINES = ["Hello, I am here.", "Are you safe to talk?", "Thank you for telling me.",
               "We can help with that.", "I will call you tomorrow."]  # fmt: skip


def get_json(url: str, timeout: float = 60) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as reply:
        return json.loads(reply.read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=8)
    args = parser.parse_args()
    ports = {name: free_port() for name in ("rasa", "actions", "web")}
    with tempfile.TemporaryDirectory() as var_dir:
        env = {
            **os.environ,
            "HAVEN_RASA_PORT": str(ports["rasa"]),
            "HAVEN_ACTIONS_PORT": str(ports["actions"]),
            "HAVEN_WEB_PORT": str(ports["web"]),
            "HAVEN_VAR_DIR": var_dir,
            "HAVEN_STAFF_HOURS": "always",
        }
        subprocess.run(
            [sys.executable, "-m", "bot.cli", "staff", "add", "bench", "--name", "Bench",
             "--password-stdin"],
            input=STAFF_PASSWORD + "\n", text=True, cwd=ROOT, env=env, check=True,
            capture_output=True,
        )  # fmt: skip
        log = open(Path(var_dir) / "haven.log", "w")  # noqa: SIM115 - closed below
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run", "--no-train"], cwd=ROOT, env=env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        web = f"http://127.0.0.1:{ports['web']}"
        timings: dict[str, list[float]] = {"bot reply": [], "user → console": [],
                                           "console → user": []}  # fmt: skip
        try:
            wait_healthy(f"http://127.0.0.1:{ports['rasa']}/webhooks/rest/", process)
            wait_healthy(f"{web}/healthz", process)
            console = Console(SimpleNamespace(web_url=web), "bench")
            pool = ThreadPoolExecutor(max_workers=2)
            for _ in range(args.conversations):
                sender = secrets.token_urlsafe(16)
                for text in USER_LINES:  # the floor: the bot answering these
                    body = {"sender": sender, "message": text}
                    timings["bot reply"].append(post(f"{web}/chat/message", body))
                for text in CONSENT:
                    post(f"{web}/chat/message", {"sender": sender, "message": text})
                number = max(int(x) for x in _queue_numbers(console))
                console.act(number, "claim")
                console.refresh_csrf(f"/referrals/{number}")
                console.act(number, "join")
                last_line = max([0, *(ln["id"] for ln in console.lines(number)["lines"])])
                page = get_json(f"{web}/chat/events?sender={sender}&after=0&wait=0")["last"]
                for user_text, staff_text in zip(USER_LINES, STAFF_LINES, strict=True):
                    poll = pool.submit(_console_poll, console, number, last_line, user_text)
                    time.sleep(0.05)  # the poll is open before the user writes
                    started = time.perf_counter()
                    post(f"{web}/chat/message", {"sender": sender, "message": user_text})
                    arrived, last_line = poll.result()
                    timings["user → console"].append(arrived - started)
                    poll = pool.submit(_page_poll, web, sender, page, staff_text)
                    time.sleep(0.05)
                    started = time.perf_counter()
                    console.reply(number, staff_text)
                    arrived, page = poll.result()
                    timings["console → user"].append(arrived - started)
                console.act(number, "close", outcome="helped")
        finally:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout=60)
            log.close()
    floor = percentile(timings["bot reply"], 0.5)
    count = len(timings["user → console"])
    print(f"Live handoff relay, {args.conversations} conversations × {len(USER_LINES)} messages "
          f"each way ({count} per direction), one at a time:")  # fmt: skip
    for name, values in timings.items():
        p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
        print(f"  {name:15s} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   "
              f"({p50 / floor:.2f}× the bot reply p50)")  # fmt: skip


def _queue_numbers(console: Console) -> list[str]:
    status, body = console.get("/queue.json")
    return [str(row["id"]) for row in json.loads(body)["rows"]]


def _console_poll(console: Console, number: int, after: int, text: str) -> tuple[float, int]:
    """Long-poll the console until ``text`` arrives; (arrival time, last id)."""
    while True:
        found = console.lines(number, after=after, wait=20)
        after = found["last"]
        if any(text in line["text"] for line in found["lines"]):
            return time.perf_counter(), after


def _page_poll(web: str, sender: str, after: int, text: str) -> tuple[float, int]:
    """Long-poll the web chat page's events until ``text`` arrives."""
    while True:
        found = get_json(f"{web}/chat/events?sender={sender}&after={after}")
        after = found["last"]
        if any(text in (m.get("text") or "") for m in found["messages"]):
            return time.perf_counter(), after


if __name__ == "__main__":
    main()
