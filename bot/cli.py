"""The ``haven`` command: run, train, chat, purge (``haven --help`` is the manual)."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
import uuid

import click

from bot.settings import get_settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="haven")
def main() -> None:
    """Haven: a multilingual intake assistant for people affected by human trafficking.

    Start everything with `haven run` (or `make run`), then chat over Rasa's REST channel
    or with `haven chat`. Configuration comes from HAVEN_* environment variables (README).
    """


@main.command()
@click.option("--force", is_flag=True, help="Train even if a model for this data exists.")
def train(force: bool) -> None:
    """Train the Rasa model if the data, domain, config or NLU code changed."""
    from bot.training import train as train_model

    train_model(get_settings(), force=force, echo=click.echo)


@main.command()
@click.option("--no-train", is_flag=True, help="Fail instead of training when no model is current.")
def run(no_train: bool) -> None:
    """Start the Rasa server, the bot service and the web process; Ctrl-C stops all three."""
    from bot.stack import Stack
    from bot.training import model_path
    from bot.training import train as train_model

    settings = get_settings()
    model = model_path(settings)
    Stack(settings, model).check_ports()  # before a training that may take minutes
    if not model.exists():
        if no_train:
            raise click.ClickException(f"No model at {model}; run `haven train` first.")
        model = train_model(settings, echo=click.echo)
    sys.exit(Stack(settings, model).run_forever())


def _post(url: str, body: dict) -> list[dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=120) as reply:  # noqa: S310 - our own URL
        return json.loads(reply.read() or b"[]")


@main.command()
@click.option("--url", default=None, help="Rasa server URL (default: the local stack).")
@click.option("--sender", default=None, help="Conversation id (default: a new random one).")
@click.option("--language", default=None, help="Language hint sent as channel metadata (en, es).")
def chat(url: str | None, sender: str | None, language: str | None) -> None:
    """Talk to a running Haven in this terminal, over the REST channel (the full stack).

    Type a message and press Enter; type a button's number to press it; Ctrl-D to quit.
    """
    settings = get_settings()
    webhook = f"{url or settings.rasa_url}/webhooks/rest/webhook"
    sender = sender or f"cli-{uuid.uuid4().hex[:12]}"
    metadata = {"language": language} if language else {}
    buttons: list[dict] = []
    click.echo(f"Talking to {webhook} as {sender}. Ctrl-D to quit.")
    while True:
        try:
            text = click.prompt(
                click.style("you", bold=True), prompt_suffix="> ", default="", show_default=False
            )
        except (EOFError, click.Abort):
            click.echo()
            return
        if text.strip().isdigit() and 0 < int(text) <= len(buttons):
            text = buttons[int(text) - 1]["payload"]
        try:
            replies = _post(webhook, {"sender": sender, "message": text, "metadata": metadata})
        except (urllib.error.URLError, OSError) as error:
            raise click.ClickException(
                f"Haven is not reachable at {webhook} ({error}). "
                "Start it with `make run` in another terminal."
            ) from error
        buttons = []
        for reply in replies:
            if reply.get("text"):
                click.echo(click.style("haven> ", fg="cyan", bold=True) + reply["text"])
            for button in reply.get("buttons") or []:
                buttons.append(button)
                click.echo(f"   [{len(buttons)}] {button.get('title')}")


@main.command()
@click.option(
    "--days", type=int, default=None, help="Age in days (default HAVEN_RETENTION_DAYS, 30)."
)
def purge(days: int | None) -> None:
    """Delete conversations with no activity for the retention period (schedule it daily)."""
    from bot.db.tracker_store import HavenTrackerStore

    settings = get_settings()
    days = settings.retention_days if days is None else days
    if days < 0:
        raise click.BadParameter("must be 0 or more", param_hint="--days")
    removed = HavenTrackerStore().purge_older_than(days)
    click.echo(f"Purged {removed} conversation(s) inactive for more than {days} day(s).")


if __name__ == "__main__":
    main()
