"""The warm referral without servers: the consent questions, what a referral holds, staff
accounts, encryption at rest, staffed hours and the dialogue policy's routing."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.db.engine import get_engine
from bot.db.migrate import upgrade
from bot.handoff import crypto, referrals, staff
from bot.handoff.flow import ANSWERS_SLOT, STEP_SLOT, answer_payload, handoff_payloads
from bot.handoff.hours import StaffedHours, parse_hours
from bot.handoff.models import AuditEntry, Referral, ReferralNote, StaffSession
from bot.settings import get_settings
from tests.rendering import rendered


@pytest.fixture(autouse=True)
def database(tmp_path, monkeypatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'haven.db'}"
    monkeypatch.setenv("HAVEN_DATABASE_URL", url)
    monkeypatch.setenv("HAVEN_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HAVEN_STAFF_HOURS", "always")
    get_settings.cache_clear()
    upgrade(url)
    yield url
    get_settings.cache_clear()


def rows(url: str, table: Any) -> list[Any]:
    with get_engine(url).connect() as connection:
        return connection.execute(sa.select(table)).all()


# --- the consent questions, run as the action server runs them ----------------------------


class Conversation:
    """Drives action_offer_person / action_referral_step with the slots they set."""

    def __init__(self, sender: str = "conv-1", channel: str = "webchat", **slots: Any) -> None:
        self.sender = sender
        self.channel = channel
        self.slots: dict[str, Any] = {"language": "en", **slots}
        self.events: list[dict[str, Any]] = []
        self.replies: list[dict[str, Any]] = []

    def _run(self, action: Any, text: str, intent: str, entities: list | None = None) -> None:
        user = {
            "event": "user",
            "text": text,
            "input_channel": self.channel,
            "parse_data": {"intent": {"name": intent}, "entities": entities or []},
        }
        self.events.append(user)
        latest = {"text": text, "intent": {"name": intent}, "entities": entities or []}
        tracker = Tracker(
            self.sender, dict(self.slots), latest, list(self.events), False, None,
            {"name": "action_listen"}, "action_listen",
        )  # fmt: skip
        dispatcher = CollectingDispatcher()
        result = asyncio.run(action.run(dispatcher, tracker, {}))
        self.events.append({"event": "action", "name": action.name()})
        for event in result:
            if event.get("event") == "slot":
                self.slots[event["name"]] = event["value"]
                self.events.append(event)
        self.raw = dispatcher.messages
        self.replies = [m for m in rendered(dispatcher.messages) if m]

    def ask_for_person(self) -> None:
        from bot.actions.handoff import ActionOfferPerson

        self._run(ActionOfferPerson(), "i want to talk to a person", "request_human")

    def say(self, text: str, intent: str = "nlu_fallback", choice: str | None = None) -> None:
        from bot.actions.handoff import ActionReferralStep

        entities = [{"entity": "choice", "value": choice}] if choice else []
        self._run(ActionReferralStep(), text, intent, entities)

    def payloads(self) -> list[str]:
        return [b["payload"] for r in self.replies for b in r.get("buttons") or []]

    def text(self) -> str:
        return json.dumps(self.replies, ensure_ascii=False)


def add_case_manager(username: str = "ana", role: str = "case_manager") -> staff.Staff:
    return staff.add_staff(username, "correct horse battery", f"{username.title()} R.", role)


def test_without_staff_a_person_means_the_hotline() -> None:
    talk = Conversation()
    talk.ask_for_person()
    assert [r.get("response") for r in talk.raw] == ["utter_hotline"]
    assert talk.slots.get(STEP_SLOT) is None


def test_handoff_off_means_the_hotline_even_with_staff(monkeypatch) -> None:
    add_case_manager()
    monkeypatch.setenv("HAVEN_HANDOFF", "off")
    get_settings.cache_clear()
    talk = Conversation()
    talk.ask_for_person()
    assert [r.get("response") for r in talk.raw] == ["utter_hotline"]


def test_the_offer_says_what_is_shared_and_the_limits_first(database: str) -> None:
    add_case_manager()
    talk = Conversation()
    talk.ask_for_person()
    text = talk.text()
    assert "under 18" in text and "immediate danger" in text  # limits of confidentiality
    assert "not your messages" in text and "1-888-373-7888" in text
    assert talk.payloads()[:2] == ["/affirm", "/deny"]
    talk.say("no", "deny")
    assert "I did not send anything" in talk.text()
    assert rows(database, Referral) == []


def full_referral(talk: Conversation) -> None:
    talk.ask_for_person()
    talk.say("/affirm", "affirm")
    assert answer_payload("phone") in talk.payloads()
    talk.say("call me", "nlu_fallback")  # typed, not pressed
    assert "What number" in talk.text()
    talk.say("my number is 12", "nlu_fallback")
    assert "does not look like a phone number" in talk.text()
    talk.say("(713) 555-0199", "nlu_fallback")
    assert "voicemail" in talk.text()
    talk.say("/deny", "deny")
    assert "safe to contact you" in talk.text()
    talk.say("weekdays after 6pm", "nlu_fallback")
    assert "code word" in talk.text()
    talk.say("sunflower", "nlu_fallback")
    assert "under 18" in talk.text()
    talk.say(answer_payload("adult"), "referral_answer", choice="adult")
    assert "city, state or ZIP" in talk.text()
    talk.say("/skip", "skip")
    assert "read this conversation" in talk.text()
    talk.say("/deny", "deny")


def test_every_answer_is_shown_before_sending_and_exactly_that_is_stored(database: str) -> None:
    add_case_manager()
    talk = Conversation(sender="conv-full")
    talk.events.append(
        {"event": "user", "text": "t visa?", "parse_data": {"intent": {"name": "kb_t_visa"}}}
    )
    full_referral(talk)
    summary = talk.text()
    for shown in ("(713) 555-0199", "weekdays after 6pm", "sunflower", "18 or older",
                  "Voicemail: no", "not shared", "A phone call"):  # fmt: skip
        assert shown in summary, shown
    assert "Area" not in summary  # skipped: not sent
    assert talk.payloads() == ["/affirm", "/cancel"]
    assert rows(database, Referral) == []  # nothing before "Send"
    talk.say("/affirm", "affirm")
    assert "request number is 1" in talk.text()
    assert "sunflower" in talk.text()  # the code word repeated for the user
    (referral,) = rows(database, Referral)
    assert referral.contact_method == "phone" and referral.place is None
    assert referral.age_group == "adult" and referral.share_transcript is False
    assert referral.needs == ["topic:t_visa"] and referral.language == "en"
    assert "(713)" not in (referral.contact_enc or "")  # encrypted at rest
    assert "conv-full" not in (referral.conversation_enc or "")
    assert crypto.decrypt(referral.contact_enc) == {
        "phone": "(713) 555-0199", "voicemail": "no", "times": "weekdays after 6pm",
        "code_word": "sunflower",
    }  # fmt: skip
    assert referral.consent["fields"] == sorted(
        ["needs", "language", "contact_method", "phone", "voicemail", "times", "code_word",
         "share_transcript", "age_group"]
    )  # fmt: skip
    assert referral.urgency == "normal"
    assert talk.slots["handoff"] == "waiting" and talk.slots[STEP_SLOT] is None
    assert talk.slots[ANSWERS_SLOT] is None  # the answers leave the dialogue state


def test_cancel_at_any_question_sends_nothing(database: str) -> None:
    add_case_manager()
    talk = Conversation()
    talk.ask_for_person()
    talk.say("/affirm", "affirm")
    talk.say(answer_payload("text"), "referral_answer", choice="text")
    talk.say("never mind", "cancel")
    assert "I did not send anything" in talk.text()
    assert talk.slots[STEP_SLOT] is None and rows(database, Referral) == []


def test_a_skipped_number_falls_back_to_this_chat(database: str) -> None:
    add_case_manager()
    talk = Conversation()
    talk.ask_for_person()
    talk.say("/affirm", "affirm")
    talk.say(answer_payload("phone"), "referral_answer", choice="phone")
    talk.say("/skip", "skip")
    assert "write to you here in this chat" in talk.text()
    assert talk.slots[ANSWERS_SLOT]["contact_method"] == "chat_later"
    assert "voicemail" not in talk.text()


def test_after_a_crisis_reply_the_question_is_asked_again_not_answered(database: str) -> None:
    add_case_manager()
    talk = Conversation()
    talk.ask_for_person()
    talk.say("/affirm", "affirm")
    talk.say(answer_payload("chat_later"), "referral_answer", choice="chat_later")
    assert "safe to contact you" in talk.text()
    talk.events.append({"event": "user", "text": "he has a gun", "parse_data": {}})
    talk.events.append({"event": "action", "name": "utter_crisis"})
    talk.say("ok", "affirm")  # not an answer to "when is it safe?": asked again
    assert "safe to contact you" in talk.text()
    assert "times" not in talk.slots[ANSWERS_SLOT]


def test_danger_in_the_conversation_makes_the_referral_urgent(database: str) -> None:
    add_case_manager()
    talk = Conversation(age_group="minor")
    talk.events.append({"event": "user", "text": "x", "parse_data": {"intent": {"name": "crisis"}}})
    talk.ask_for_person()
    for text, intent in (("/affirm", "affirm"), ("/skip", "skip"), ("/skip", "skip"),
                         ("/skip", "skip"), ("/skip", "skip"), ("/skip", "skip")):  # fmt: skip
        talk.say(text, intent)
    assert "Age group: under 18" in talk.text() and "urgent" in talk.text()
    talk.say("/affirm", "affirm")
    (referral,) = rows(database, Referral)
    assert referral.urgency == "urgent" and referral.urgency_rank == 0
    assert referral.safety_flags == ["crisis", "minor"]


def test_a_second_request_is_told_the_number_of_the_open_one(database: str) -> None:
    add_case_manager()
    talk = Conversation()
    full_referral(talk)
    talk.say("/affirm", "affirm")
    talk.ask_for_person()
    assert "request number 1 is with our team" in talk.text()


def test_the_consent_buttons_are_allowed_payloads() -> None:
    from bot.channels.payloads import allowed_payloads

    allowed = allowed_payloads()
    assert handoff_payloads() <= allowed


# --- referrals, staff and the audit ----------------------------------------------------


def referral(conversation: str = "conv-a", flags: list[str] | None = None) -> int:
    return referrals.create_referral(
        referrals.NewReferral(
            conversation_id=conversation, channel="rest", language="es", needs=["service:legal"],
            place="Houston, TX", age_group="adult", safety_flags=flags or [],
            contact_method="phone", contact={"phone": "713 555 0100"},
            share_transcript=False, consent={"version": "t", "fields": ["phone"]},
        )
    )  # fmt: skip


def test_queue_is_urgent_first_then_longest_waiting() -> None:
    first, second = referral("a"), referral("b")
    urgent = referral("c", ["crisis"])
    assert [v.id for v in referrals.queue()] == [urgent, first, second]
    assert referrals.raise_urgency("b") == 1
    # both urgent now: b has waited longer
    assert [v.id for v in referrals.queue()] == [second, urgent, first]


def test_contact_details_only_for_the_claimant_and_every_view_audited(database: str) -> None:
    ana, bob = add_case_manager("ana"), add_case_manager("bob")
    number = referral()
    with pytest.raises(referrals.ReferralError):
        referrals.contact_details(number, ana)
    referrals.claim(number, ana)
    assert referrals.contact_details(number, ana) == {"phone": "713 555 0100"}
    with pytest.raises(referrals.ReferralError):
        referrals.contact_details(number, bob)
    with pytest.raises(referrals.ReferralError):
        referrals.claim(number, bob)
    actions = [(r.action, r.staff_id) for r in rows(database, AuditEntry)]
    assert ("contact_refused", ana.id) in actions and ("view_contact", ana.id) in actions
    assert ("contact_refused", bob.id) in actions
    referrals.close(number, ana, "helped")
    assert referrals.queue() == []


def test_delete_my_data_wipes_the_referral_personal_data(database: str) -> None:
    ana = add_case_manager()
    number = referral("conv-gone")
    referrals.claim(number, ana)
    referrals.add_note(number, ana, "called, no answer")
    assert referrals.forget_conversation("conv-gone") == 1
    (row,) = rows(database, Referral)
    assert row.conversation_enc is None and row.contact_enc is None and row.place is None
    assert row.needs == [] and row.status == "closed" and row.outcome == "deleted_by_user"
    assert rows(database, ReferralNote) == []
    assert referrals.open_referral_for("conv-gone") is None


def test_contact_keys_rotate(monkeypatch) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv("HAVEN_CONTACT_KEYS", old)
    get_settings.cache_clear()
    number = referral("conv-k")
    monkeypatch.setenv("HAVEN_CONTACT_KEYS", f"{new},{old}")
    get_settings.cache_clear()
    assert referrals.rotate_keys() == 1
    monkeypatch.setenv("HAVEN_CONTACT_KEYS", new)
    get_settings.cache_clear()
    ana = add_case_manager()
    referrals.claim(number, ana)
    assert referrals.contact_details(number, ana) == {"phone": "713 555 0100"}
    monkeypatch.setenv("HAVEN_CONTACT_KEYS", Fernet.generate_key().decode())
    get_settings.cache_clear()
    with pytest.raises(crypto.UnreadableSecret):
        referrals.contact_details(number, ana)


def test_sign_in_locks_after_five_wrong_passwords(database: str) -> None:
    add_case_manager()
    assert staff.sign_in("ana", "correct horse battery").staff is not None
    for _ in range(4):
        assert staff.sign_in("ana", "wrong").reason == "wrong"
    assert staff.sign_in("ana", "wrong").reason == "locked"
    assert staff.sign_in("ana", "correct horse battery").reason == "locked"
    assert staff.sign_in("nobody", "x").reason == "wrong"  # the same answer as a bad password
    staff.set_active("ana", True)  # `haven staff unlock`
    assert staff.sign_in("ana", "correct horse battery").staff is not None


def test_sessions_end_when_idle(database: str) -> None:
    ana = add_case_manager()
    token, csrf = staff.open_session(ana.id)
    assert staff.resume_session(token) == (ana, csrf)
    with get_engine(database).begin() as connection:
        connection.execute(
            sa.update(StaffSession).values(
                last_seen_at=dt.datetime.utcnow() - dt.timedelta(minutes=31)
            )
        )
    assert staff.resume_session(token) is None
    assert rows(database, StaffSession) == []


def test_passwords_are_argon2_hashes(database: str) -> None:
    add_case_manager()
    with get_engine(database).connect() as connection:
        stored = connection.execute(sa.text("select password_hash from staff_user")).scalar()
    assert stored.startswith("$argon2id$") and "correct horse" not in stored


# --- staffed hours ----------------------------------------------------------------------


def test_staffed_hours() -> None:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("America/New_York")
    hours = StaffedHours(parse_hours("mon-fri 09:00-17:00; sat 10:00-14:00"), zone)
    monday_noon = dt.datetime(2026, 11, 30, 12, 0, tzinfo=zone)
    assert hours.is_open(monday_noon)
    friday_night = dt.datetime(2026, 12, 4, 20, 0, tzinfo=zone)
    assert not hours.is_open(friday_night)
    assert hours.next_opening(friday_night) == dt.datetime(2026, 12, 5, 10, 0, tzinfo=zone)
    assert StaffedHours(parse_hours("always"), zone).is_open(friday_night)
    assert StaffedHours(parse_hours("never"), zone).next_opening(friday_night) is None
    with pytest.raises(ValueError, match="cannot read"):
        parse_hours("weekdays 9-5")


# --- the policy's routing ------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def domain() -> Domain:
    return Domain.load(str(get_settings().project_root / "domain.yml"))


def policy_tracker(*events: Any, **slots: Any) -> DialogueStateTracker:
    tracker = DialogueStateTracker("t", domain().slots)
    for name, value in slots.items():
        tracker.update(SlotSet(name, value))
    for event in events:
        tracker.update(event)
    return tracker


def said(intent: str) -> list[Any]:
    return [ActionExecuted("action_listen"), UserUttered("x", {"name": intent})]


@pytest.mark.parametrize(
    ("slots", "intent", "expected"),
    [
        ({STEP_SLOT: "times"}, "nlu_fallback", "action_referral_step"),  # free text answers
        ({STEP_SLOT: "times"}, "kb_t_visa", "action_referral_step"),
        ({STEP_SLOT: "times"}, "crisis", None),  # the crisis reply first
        ({STEP_SLOT: "times"}, "delete_my_data", None),
        ({STEP_SLOT: "offer"}, "affirm", "action_referral_step"),
        ({STEP_SLOT: "offer"}, "kb_t_visa", None),  # moved on: answered as usual
        ({"handoff": "human"}, "greet", "action_listen"),  # a person answers
        ({"handoff": "human"}, "kb_t_visa", "action_listen"),
        ({"handoff": "human"}, "crisis", None),
        ({"handoff": "human"}, "quick_exit", None),
        ({"handoff": "waiting"}, "greet", None),  # the bot serves while they wait
        ({}, "skip", None),  # no question open: the rules answer it
        ({}, "greet", None),
    ],
)
def test_policy_routes(slots: dict, intent: str, expected: str | None) -> None:
    from bot.nlu.handoff import decide

    action, events = decide(policy_tracker(*said(intent), **slots))
    assert action == expected
    if slots.get(STEP_SLOT) == "offer" and expected is None:
        assert [e.key for e in events] == [STEP_SLOT]


def test_policy_listens_after_its_own_actions_and_lets_a_confirmed_delete_through() -> None:
    from bot.nlu.handoff import decide

    for own in ("action_referral_step", "action_staff_joined", "action_staff_left"):
        assert decide(policy_tracker(ActionExecuted(own)))[0] == "action_listen"
    tracker = policy_tracker(
        *said("delete_my_data"), ActionExecuted("utter_confirm_delete"), *said("affirm"),
        handoff="human",
    )  # fmt: skip
    assert decide(tracker)[0] is None


def test_a_free_text_answer_read_as_possible_danger_is_not_a_danger_flag(database: str) -> None:
    add_case_manager()
    talk = Conversation()
    talk.ask_for_person()
    talk.say("/affirm", "affirm")
    talk.say(answer_payload("chat_later"), "referral_answer", choice="chat_later")
    talk.say("after 6pm", "danger_check")  # the danger model alone, without the question
    assert "call 911" not in talk.text() and "code word" in talk.text()
    for text, intent in (("/skip", "skip"), ("/skip", "skip"), ("/skip", "skip"),
                         ("/deny", "deny")):  # fmt: skip
        talk.say(text, intent)
    assert "Safe times: after 6pm" in talk.text() and "urgent" not in talk.text()


@pytest.mark.parametrize("word", ["Annuler", "anile", "إلغاء", "cancelar."])
def test_cancel_typed_in_a_language_the_model_may_not_read(database: str, word: str) -> None:
    add_case_manager()
    talk = Conversation()
    talk.ask_for_person()
    talk.say("/affirm", "affirm")
    talk.say(answer_payload("chat_later"), "referral_answer", choice="chat_later")
    talk.say(word, "nlu_fallback")  # a free-text question: not taken as the safe times
    assert "I did not send anything" in talk.text()
    assert rows(database, Referral) == []


def test_skip_or_cancel_with_no_question_open_says_so(database: str) -> None:
    talk = Conversation()
    talk.say("/skip", "skip")
    assert "no question waiting" in talk.text() and talk.payloads() == ["/help"]


def test_after_an_action_the_console_ran_the_next_message_is_answered() -> None:
    """``execute`` records no action_listen after the action: the user's next message must
    still reach the dialogue (here: the rules), not be taken for the action's end."""
    from bot.nlu.handoff import decide

    tracker = policy_tracker(
        ActionExecuted("action_staff_left"), UserUttered("hi", {"name": "greet"})
    )
    assert decide(tracker)[0] is None
    greeting = UserUttered("hi", {"name": "greet"})
    held = policy_tracker(ActionExecuted("action_staff_joined"), greeting, handoff="human")
    assert decide(held)[0] == "action_listen"


def test_skip_typed_is_read_at_a_button_question(database: str) -> None:
    """The intent model reads "skip" as "no"; at "how should they reach you?" it skips."""
    add_case_manager()
    talk = Conversation()
    talk.ask_for_person()
    talk.say("/affirm", "affirm")
    talk.say("Skip", "deny")
    assert talk.slots[ANSWERS_SLOT]["contact_method"] == "chat_later"
    assert "safe to contact you" in talk.text()
