"""The Telegram channel's own rules, without a server: commands, splitting, buttons,
duplicates, the secret, and reading updates; plus polling against the fake Bot API."""

from __future__ import annotations

import asyncio

import pytest
from sanic import Sanic
from telegram import Bot, Update

from bot.channels import telegram as tg
from bot.channels.commands import COMMANDS, command_of
from bot.channels.payloads import allowed_payloads
from bot.languages import LANGUAGES
from tests.fake_telegram import FakeTelegramServer


@pytest.mark.parametrize(
    ("text", "command"),
    [("/start", "start"), ("/menu@haven_bot", "menu"), ("/EXIT now", "exit"),
     ("/delete", "delete"), ("/restart", None), ("/", None), ("start", None),
     ('/greet{"x": 1}', None), ("/ start", None)],
)  # fmt: skip
def test_commands(text: str, command: str | None) -> None:
    assert command_of(text) == command


def test_every_command_is_a_payload_haven_accepts() -> None:
    assert {c.payload for c in COMMANDS.values()} <= allowed_payloads()


def test_long_text_is_split_at_line_breaks_and_nothing_is_lost() -> None:
    lines = [f"line {n} " + "x" * 50 for n in range(200)]
    text = "\n".join(lines)
    parts = tg.split_text(text)
    assert len(parts) > 1 and all(len(p) <= tg.MAX_TEXT_CHARS for p in parts)
    assert "\n".join(parts) == text
    assert all(p.startswith("line ") for p in parts)  # each part starts at a line


def test_a_line_longer_than_the_limit_is_cut_at_a_space_or_anywhere() -> None:
    words = " ".join(["palabra"] * 1200)
    parts = tg.split_text(words)
    assert all(len(p) <= tg.MAX_TEXT_CHARS for p in parts)
    assert " ".join(parts).split() == words.split()
    solid = "x" * 9000
    assert "".join(tg.split_text(solid)) == solid


def test_callback_data_fits_64_bytes_and_reads_back() -> None:
    long_one = '/find_service{"need": "immigration_legal_help", "place": "San Antonio, TX"}'
    known = sorted(allowed_payloads() | {long_one})
    assert len(long_one.encode()) > tg.MAX_CALLBACK_BYTES
    for payload in known:
        data = tg.callback_data(payload)
        assert len(data.encode()) <= tg.MAX_CALLBACK_BYTES
        assert tg.payload_of(data, known) == payload
    assert tg.payload_of(tg.callback_data("/x" + "y" * 80), known) is None


def test_the_secret_is_compared_whole() -> None:
    assert tg.secret_matches("abc", "abc")
    for given in (None, "", "ab", "abcd", "ABC"):
        assert not tg.secret_matches(given, "abc")


def test_repeated_update_ids_are_seen_once_and_memory_is_bounded() -> None:
    seen = tg.SeenUpdates(size=3)
    assert [seen.first_time(i) for i in (1, 2, 1, 3, 4)] == [True, True, False, True, True]
    assert seen.first_time(1)  # forgotten after three newer ones


def _update(data: dict) -> Update:
    return Update.de_json(data, Bot("1:x"))


def test_reading_updates() -> None:
    known = allowed_payloads()
    chat = {"id": 77, "type": "private"}
    user = {"id": 77, "is_bot": False, "first_name": "A", "language_code": "pt-BR"}
    message = {"message_id": 5, "date": 0, "chat": chat, "from": user, "text": "/exit"}
    read = tg.read_update(_update({"update_id": 1, "message": message}), known)
    assert read.quick_exit and read.text == "/quick_exit" and read.metadata == {"language": "pt"}
    typed = {**message, "text": '/greet{"language": "es"}'}
    read = tg.read_update(_update({"update_id": 2, "message": typed}), known)
    assert read.text == '/greet{"language": "es"}' and not read.quick_exit  # sanitized later
    sticker = {k: v for k, v in message.items() if k != "text"}
    assert tg.read_update(_update({"update_id": 3, "message": sticker}), known).text == ""
    edited = {"update_id": 4, "edited_message": message}
    assert tg.read_update(_update(edited), known) is None


def test_polling_reads_updates_and_answers_through_the_bot_api() -> None:
    """The polling loop against the fake Bot API over real HTTP: it removes any webhook,
    long-polls, hands each update to Haven once, and sends the reply."""
    with FakeTelegramServer() as fake:
        channel = tg.HavenTelegramInput(token=fake.token, api_url=fake.base_url, mode="polling")
        received = []

        async def on_new_message(message) -> None:
            received.append(message)
            await message.output_channel.send_text_message(message.sender_id, "pong")

        async def run() -> None:
            app = Sanic.get_app("polling-test", force_create=True)
            task = asyncio.create_task(channel.poll(on_new_message, app))
            sender = {"id": 31, "is_bot": False, "first_name": "B"}
            chat = {"id": 31, "type": "private"}
            message = {"message_id": 9, "date": 0, "chat": chat, "from": sender, "text": "ping"}
            update = {"update_id": 500, "message": message}
            fake.queue_update(update)
            fake.queue_update(update)  # delivered twice: handled once
            for _ in range(200):
                if fake.calls_of("sendMessage", 31):
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
            task.cancel()

        asyncio.run(run())
        assert fake.calls_of("deleteWebhook")
        assert [m.text for m in received] == ["ping"]
        assert [c.params["text"] for c in fake.calls_of("sendMessage", 31)] == ["pong"]
        offsets = [c.params.get("offset") for c in fake.calls_of("getUpdates")]
        assert 501 in offsets  # the next poll confirms the update


def test_setup_registers_the_webhook_with_its_secret_and_menus_per_language(
    monkeypatch, tmp_path
) -> None:
    from bot.settings import get_settings

    with FakeTelegramServer() as fake:
        monkeypatch.setenv("TELEGRAM_TOKEN", fake.token)
        monkeypatch.setenv("TELEGRAM_API_URL", fake.base_url)
        monkeypatch.setenv(
            "TELEGRAM_WEBHOOK_URL", "https://chat.example.org/webhooks/telegram/webhook"
        )
        monkeypatch.setenv("HAVEN_VAR_DIR", str(tmp_path))
        monkeypatch.delenv("TELEGRAM_WEBHOOK_SECRET", raising=False)
        get_settings.cache_clear()
        try:
            asyncio.run(tg.set_up())
            secret = get_settings().telegram_secret
        finally:
            get_settings.cache_clear()
    [webhook] = fake.calls_of("setWebhook")
    assert webhook.params["url"] == "https://chat.example.org/webhooks/telegram/webhook"
    assert webhook.params["secret_token"] == secret and len(secret) >= 32
    assert (tmp_path / "telegram-secret").stat().st_mode & 0o077 == 0
    calls = fake.calls_of("setMyCommands")
    menus = {c.params.get("language_code"): c.params["commands"] for c in calls}
    assert set(menus) == {None} | (set(LANGUAGES) - {"en"})  # every catalog language
    assert [c["command"] for c in menus[None]] == list(COMMANDS)
    spanish = {c["command"]: c["description"] for c in menus["es"]}
    assert spanish["language"] == "Cambiar el idioma"


def test_network_errors_are_retried_with_backoff_and_logged_without_text(
    monkeypatch, caplog
) -> None:
    from telegram.error import NetworkError, TimedOut

    monkeypatch.setattr(tg, "BACKOFF_SECONDS", (0, 0, 0, 0))
    attempts = []

    async def flaky():
        attempts.append(1)
        if len(attempts) < 3:
            raise (TimedOut if len(attempts) == 1 else NetworkError)("secret words of the user")
        return "sent"

    assert asyncio.run(tg.with_retries(flaky, "12345")) == "sent"
    assert len(attempts) == 3
    assert "secret words" not in caplog.text and "12345" not in caplog.text

    async def down():
        raise NetworkError("unreachable")

    with pytest.raises(NetworkError):
        asyncio.run(tg.with_retries(down, "12345"))
