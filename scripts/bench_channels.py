"""Per-message latency through each channel, next to REST (`make bench-channels`, and the
last part of `make bench`).

One `haven run` on free ports, with Telegram in webhook mode against the fake Bot API
server the tests use (tests/fake_telegram.py: Telegram's servers cannot be reached here).
The same script of messages goes, one conversation at a time and one message at a time,
through:

- REST: ``POST /webhooks/rest/webhook`` on the Rasa server (the floor);
- the web chat: ``POST /chat/message`` on the web process, which forwards to the Rasa
  server's web chat channel (what the page does);
- Telegram: an update posted to the webhook with its secret; the request returns once
  Haven's replies have been sent to the Bot API (``sendMessage``), so its time includes
  that delivery.

Channels take turns message by message, so they see the same state of the machine.
Printed: p50 and p95 per channel and the ratio of each p50 to REST's. Never run by tests.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.bench import SCRIPT, free_port, wait_healthy  # noqa: E402
from tests.fake_telegram import FakeTelegramServer  # noqa: E402

SECRET = "bench-telegram-secret"


def post(url: str, body: dict, headers: dict | None = None) -> float:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )  # fmt: skip
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as reply:
        reply.read()
    return time.perf_counter() - started


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=15)
    args = parser.parse_args()
    ports = {name: free_port() for name in ("rasa", "actions", "web")}
    updates = itertools.count(1)
    with FakeTelegramServer() as fake, tempfile.TemporaryDirectory() as var_dir:
        env = {
            **os.environ,
            "HAVEN_RASA_PORT": str(ports["rasa"]),
            "HAVEN_ACTIONS_PORT": str(ports["actions"]),
            "HAVEN_WEB_PORT": str(ports["web"]),
            "HAVEN_VAR_DIR": var_dir,
            "TELEGRAM_TOKEN": fake.token,
            "TELEGRAM_API_URL": fake.base_url,
            "TELEGRAM_WEBHOOK_URL": "https://bench.example/webhooks/telegram/webhook",
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
        }
        log = open(Path(var_dir) / "haven.log", "w")  # noqa: SIM115 - closed below
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run", "--no-train"], cwd=ROOT, env=env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        rasa = f"http://127.0.0.1:{ports['rasa']}"
        web = f"http://127.0.0.1:{ports['web']}"
        try:
            wait_healthy(f"{rasa}/webhooks/rest/", process)
            wait_healthy(f"{web}/healthz", process)
            post(f"{rasa}/webhooks/rest/webhook", {"sender": "warm-up", "message": "hello"})
            timings: dict[str, list[float]] = {"REST": [], "web chat": [], "Telegram": []}
            for number in range(args.conversations):
                rest_sender = f"bench-rest-{number}"
                web_sender = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
                chat = 700_000_000 + number
                for text in SCRIPT:
                    rest_body = {"sender": rest_sender, "message": text}
                    timings["REST"].append(post(f"{rasa}/webhooks/rest/webhook", rest_body))
                    web_body = {"sender": web_sender, "message": text}
                    timings["web chat"].append(post(f"{web}/chat/message", web_body))
                    update = {
                        "update_id": next(updates),
                        "message": {
                            "message_id": next(updates), "date": int(time.time()), "text": text,
                            "chat": {"id": chat, "type": "private"},
                            "from": {"id": chat, "is_bot": False, "first_name": "B"},
                        },
                    }  # fmt: skip
                    timings["Telegram"].append(post(
                        f"{rasa}/webhooks/telegram/webhook", update,
                        {"X-Telegram-Bot-Api-Secret-Token": SECRET},
                    ))  # fmt: skip
        finally:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout=60)
            log.close()
    base = percentile(timings["REST"], 0.5)
    count = len(timings["REST"])
    print(f"Per-message latency, {args.conversations} conversations × {len(SCRIPT)} messages "
          f"({count} per channel), one at a time:")  # fmt: skip
    for name, values in timings.items():
        p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
        print(f"  {name:9s} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   ({p50 / base:.2f}× REST p50)")
    delivered = len([c for c in fake.calls if c.method == "sendMessage" and c.status == 200])
    print(f"  (Telegram replies delivered to the fake Bot API: {delivered})")


if __name__ == "__main__":
    main()
