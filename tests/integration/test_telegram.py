"""Telegram through the real stack: webhook in, replies out to a fake Bot API server.

The stack (tests/conftest.py) runs with TELEGRAM_TOKEN, TELEGRAM_WEBHOOK_URL and
TELEGRAM_WEBHOOK_SECRET set and TELEGRAM_API_URL pointing at tests/fake_telegram.py, so
every sendMessage, answerCallbackQuery and deleteMessages Haven makes is real HTTP that
the test can read.
"""

from __future__ import annotations

import itertools
import json
import random
import time
import urllib.error
import urllib.request

import pytest

from bot.rasa_api import signed_token
from tests.conftest import TELEGRAM_SECRET, RunningStack
from tests.fake_telegram import FakeTelegram
from tests.integration.chat import stored_events, tracker

pytestmark = pytest.mark.integration
_update_ids = itertools.count(random.randint(10_000, 99_999) * 1000)


def new_chat() -> int:
    return random.randint(10**8, 10**9)


def message_update(chat: int, text: str, language: str = "en", update_id: int | None = None):
    user = {"id": chat, "is_bot": False, "first_name": "Ana", "language_code": language}
    return {
        "update_id": next(_update_ids) if update_id is None else update_id,
        "message": {
            "message_id": random.randint(1, 10**6),
            "date": int(time.time()),
            "chat": {"id": chat, "type": "private", "first_name": "Ana"},
            "from": user,
            "text": text,
        },
    }


def callback_update(chat: int, data: str, language: str = "en") -> dict:
    user = {"id": chat, "is_bot": False, "first_name": "Ana", "language_code": language}
    return {
        "update_id": next(_update_ids),
        "callback_query": {
            "id": f"cb-{random.randint(1, 10**9)}",
            "from": user,
            "chat_instance": "1",
            "data": data,
            "message": {
                "message_id": random.randint(1, 10**6),
                "date": int(time.time()),
                "chat": {"id": chat, "type": "private"},
                "from": {"id": 4242, "is_bot": True, "first_name": "Haven test"},
                "text": "(an earlier reply)",
            },
        },
    }


def post_update(stack: RunningStack, update: dict | bytes, secret: str | None = TELEGRAM_SECRET):
    body = update if isinstance(update, bytes) else json.dumps(update).encode()
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    request = urllib.request.Request(
        f"{stack.rasa_url}/webhooks/telegram/webhook", data=body, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as reply:
            return reply.status, dict(reply.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def answers_to(fake: FakeTelegram, update: dict) -> list:
    """The answerCallbackQuery calls for a callback update's query."""
    query_id = update["callback_query"]["id"]
    calls = fake.calls_of("answerCallbackQuery")
    return [c for c in calls if c.params.get("callback_query_id") == query_id]


def sent_texts(fake: FakeTelegram, chat: int) -> list[str]:
    return [c.params["text"] for c in fake.calls_of("sendMessage", chat) if c.status == 200]


def test_a_message_gets_its_reply_with_an_inline_keyboard(
    stack: RunningStack, fake_telegram: FakeTelegram
) -> None:
    chat = new_chat()
    status, headers = post_update(stack, message_update(chat, "/start"))
    assert status == 200 and headers.get("Cache-Control") == "no-store"
    calls = fake_telegram.wait_for("sendMessage", chat)
    assert "not the police" in calls[0].params["text"]
    assert "parse_mode" not in calls[0].params  # plain text: nothing becomes markup
    rows = calls[-1].params["reply_markup"]["inline_keyboard"]
    data = [button["callback_data"] for row in rows for button in row]
    assert "/affirm" in data and "/quick_exit" in data
    assert all(len(d.encode()) <= 64 for d in data)


def test_the_users_app_language_is_a_hint(stack: RunningStack, fake_telegram) -> None:
    chat = new_chat()
    post_update(stack, message_update(chat, "/start", language="es"))
    fake_telegram.wait_for("sendMessage", chat)
    assert "no soy la policía" in " ".join(sent_texts(fake_telegram, chat)).lower()


def test_a_wrong_or_missing_secret_is_refused_and_nothing_is_stored(
    stack: RunningStack, fake_telegram: FakeTelegram
) -> None:
    for secret in (None, "wrong-secret", TELEGRAM_SECRET + "x", ""):
        chat = new_chat()
        status, _ = post_update(stack, message_update(chat, "hello"), secret=secret)
        assert status == 403, secret
        assert stored_events(stack.tracker_db, str(chat)) == 0
        assert not fake_telegram.calls_of("sendMessage", chat)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b'{"update_id": "x"}',
        b"\xff\xfe",
        b'{"message": {}}',
        b'{"update_id": 7, "message": {"text": "no chat, no date"}}',
        b'{"update_id": 8, "callback_query": {"id": 1}}',
    ],
)
def test_a_malformed_update_gets_a_clear_400(stack: RunningStack, body: bytes) -> None:
    status, _ = post_update(stack, body)
    assert status == 400


def test_a_button_press_is_answered_and_routed(
    stack: RunningStack, fake_telegram: FakeTelegram
) -> None:
    chat = new_chat()
    update = callback_update(chat, "/help")
    post_update(stack, update)
    answered = answers_to(fake_telegram, update)
    assert len(answered) == 1
    assert "what I can help with" in " ".join(sent_texts(fake_telegram, chat))


def test_a_button_haven_never_issued_is_ignored(stack, fake_telegram) -> None:
    chat = new_chat()
    update = callback_update(chat, "#AAAAAAAAAAAAAAAAAAAA")
    post_update(stack, update)
    answered = answers_to(fake_telegram, update)
    assert len(answered) == 1  # still answered, so the app stops its spinner
    assert not fake_telegram.calls_of("sendMessage", chat)
    assert stored_events(stack.tracker_db, str(chat)) == 0


def test_a_repeated_update_is_handled_once(stack: RunningStack, fake_telegram) -> None:
    chat = new_chat()
    update = message_update(chat, "what is a T visa?")
    post_update(stack, update)
    first = len(sent_texts(fake_telegram, chat))
    assert first >= 1
    post_update(stack, update)
    assert len(sent_texts(fake_telegram, chat)) == first


def test_too_many_requests_is_waited_out(stack: RunningStack, fake_telegram) -> None:
    chat = new_chat()
    fake_telegram.throttle("sendMessage", retry_after=1)
    post_update(stack, message_update(chat, "what is a T visa?"))
    calls = fake_telegram.calls_of("sendMessage", chat)
    refused = [c for c in calls if c.status == 429]
    delivered = [c for c in calls if c.status == 200]
    assert len(refused) == 1 and delivered
    assert delivered[0].at - refused[0].at >= 1.0  # sent again after retry_after, not before
    assert delivered[0].params["text"] == refused[0].params["text"]


def test_quick_exit_deletes_the_chat_and_says_nothing(
    stack: RunningStack, fake_telegram: FakeTelegram
) -> None:
    chat = new_chat()
    first = message_update(chat, "/start")
    post_update(stack, first)
    replies = fake_telegram.wait_for("sendMessage", chat)
    before = len(fake_telegram.calls_of("sendMessage", chat))
    exit_update = message_update(chat, "/exit")
    post_update(stack, exit_update)
    deletions = fake_telegram.calls_of("deleteMessages", chat)
    assert len(deletions) == 1
    deleted = set(deletions[0].params["message_ids"])
    assert first["message"]["message_id"] in deleted
    assert exit_update["message"]["message_id"] in deleted
    assert len(deleted) >= len(replies) + 2  # every reply too (ids from the fake server)
    assert len(fake_telegram.calls_of("sendMessage", chat)) == before  # nothing said after
    assert tracker(stack.rasa_url, stack.token, str(chat))["events"] == []  # nothing after
    request = urllib.request.Request(  # …the restart that ended the conversation
        f"{stack.rasa_url}/conversations/{chat}/tracker?include_events=ALL",
        headers={"Authorization": f"Bearer {signed_token(stack.token)}"},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        assert json.loads(reply.read())["events"][-1]["event"] == "restart"


def test_a_message_outside_the_users_turn_reaches_the_chat(
    stack: RunningStack, fake_telegram: FakeTelegram
) -> None:
    """What staff replies and reminders will use: Rasa's HTTP API with the Telegram output."""
    chat = new_chat()
    post_update(stack, message_update(chat, "hello"))
    before = len(sent_texts(fake_telegram, chat))
    request = urllib.request.Request(
        f"{stack.rasa_url}/conversations/{chat}/execute?output_channel=telegram",
        data=json.dumps({"name": "utter_menu"}).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {signed_token(stack.token)}",
        },
    )
    with urllib.request.urlopen(request, timeout=60) as reply:
        assert reply.status == 200
    texts = sent_texts(fake_telegram, chat)
    assert len(texts) == before + 1 and "what I can help with" in texts[-1]


def location_update(chat: int, latitude: float, longitude: float) -> dict:
    update = message_update(chat, "")
    del update["message"]["text"]
    update["message"]["location"] = {"latitude": latitude, "longitude": longitude}
    return update


def test_where_offers_to_share_a_location_and_a_shared_location_searches_near_it(
    stack: RunningStack, fake_telegram: FakeTelegram
) -> None:
    chat = new_chat()
    post_update(stack, message_update(chat, "i need food"))
    calls = fake_telegram.calls_of("sendMessage", chat)
    asking = [c for c in calls if "where should I look" in c.params["text"]]
    assert asking, [c.params["text"] for c in calls]
    offer = calls[-1].params
    [[button]] = offer["reply_markup"]["keyboard"]
    assert button["request_location"] is True and offer["reply_markup"]["one_time_keyboard"]
    before = len(calls)
    post_update(stack, location_update(chat, 29.7604, -95.3698))  # downtown Houston
    results = " ".join(sent_texts(fake_telegram, chat)[before:])
    assert "(Houston, TX)" in results and "(sample)" in results
    assert "29.76" not in results and "95.36" not in results
    # The exact point is not stored, only the ZIP code the search used.
    events = json.dumps(tracker(stack.rasa_url, stack.token, str(chat)))
    assert "29.7604" not in events and "-95.3698" not in events


def test_a_location_outside_the_country_asks_for_a_city(stack, fake_telegram) -> None:
    chat = new_chat()
    post_update(stack, location_update(chat, 48.8566, 2.3522))  # Paris
    assert "type your city or ZIP code" in " ".join(sent_texts(fake_telegram, chat))
    assert stored_events(stack.tracker_db, str(chat)) == 0


def test_polling_mode_converses_end_to_end(tmp_path_factory) -> None:
    """`haven run` with only TELEGRAM_TOKEN (and the fake server's URL): no webhook, the
    Rasa server polls getUpdates itself and answers through sendMessage."""
    from tests.conftest import running_stack
    from tests.fake_telegram import FakeTelegramServer

    with FakeTelegramServer() as fake:
        polling = {"TELEGRAM_TOKEN": fake.token, "TELEGRAM_API_URL": fake.base_url}
        with running_stack(tmp_path_factory.mktemp("haven-polling"), polling) as running:
            status, _ = post_update(running, message_update(1, "hello"))
            assert status == 404  # no webhook in polling mode
            chat = new_chat()
            fake.queue_update(message_update(chat, "/start", language="es"))
            fake.wait_for("sendMessage", chat)
            fake.queue_update(message_update(chat, "he is outside my door with a bat"))
            replies = fake.wait_for("sendMessage", chat, count=2)
        assert fake.calls_of("deleteWebhook")
        assert "no soy la policía" in replies[0].params["text"].lower()
        assert any("911" in c.params["text"] for c in fake.calls_of("sendMessage", chat)[1:])
