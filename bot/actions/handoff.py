"""Handoff actions: offering a person, the consent questions, the referral, a case manager
joining and leaving the chat.

The consent questions are one action, ``action_referral_step``, that asks the step in
``referral_step`` and reads the answer to it (``bot.nlu.handoff.HandoffPolicy`` routes the
answers here). Each question can be skipped; "cancel" stops at any point. The user sees a
summary of exactly what will be sent and presses "Send" before anything is stored for
staff: the referral then holds that and nothing else, with the consent recorded (what was
shown, when). A referral made while the conversation showed danger is urgent.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import aiohttp
from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.common import (
    AUDIENCE_SLOT,
    Speaker,
    knowledge,
    menu_button,
)
from bot.directory.payloads import REQUEST_HUMAN, SEARCH_SLOT
from bot.handoff import referrals, staff
from bot.handoff.flow import (
    AFFIRM_PAYLOAD,
    ANSWER_INTENT,
    ANSWERS_SLOT,
    ASK_ACTION,
    BUTTON_STEPS,
    CANCEL_INTENT,
    CANCEL_PAYLOAD,
    CONTACT_CHOICES,
    DENY_PAYLOAD,
    HANDOFF_SLOT,
    HUMAN,
    JOINED_ACTION,
    LEFT_ACTION,
    OFFER_ACTION,
    REFERRAL_SLOT,
    SKIP_INTENT,
    SKIP_PAYLOAD,
    STAFF_SLOT,
    STEP_SLOT,
    STEPS,
    answer_payload,
)
from bot.handoff.hours import StaffedHours
from bot.i18n.catalogs import N_
from bot.knowledge.entries import KNOWLEDGE_INTENT_PREFIX
from bot.knowledge.roadmap import SLOTS as ROADMAP_SLOTS
from bot.knowledge.roadmap import choose_outcome, load_outcomes, next_question
from bot.nlg.content import Button, Node, button, data, date, join, language, lines, msg, send
from bot.nlg.content import time as time_node
from bot.safety.log_ids import pseudonym
from bot.settings import get_settings

logger = logging.getLogger(__name__)

CONSENT_VERSION = "referral-consent-2026-11"
MAX_FREE_TEXT = {"times": 200, "code_word": 40, "place": 120, "phone": 40}
PHONE_DIGITS = re.compile(r"\d")
MIN_PHONE_DIGITS = 7
FREE_TEXT_STEPS = frozenset(MAX_FREE_TEXT)
FLAG_INTENTS = {"crisis": "crisis", "danger_check": "possible_danger", "disclosure": "disclosure"}
TYPED_CONTACT = (  # typed answers to "how should they reach you?" (English, Spanish)
    (re.compile(r"\b(now|right away|ahora|ya mismo)\b", re.I), "chat_now"),
    (re.compile(r"\b(text|sms|mensaje de texto|textos?)\b", re.I), "text"),
    (re.compile(r"\b(call|phone|llam\w*|tel[eé]fono)\b", re.I), "phone"),
    (re.compile(r"\b(later|chat|here|aqu[ií]|despu[eé]s|luego)\b", re.I), "chat_later"),
)

# "Cancel" typed in a language the intent model may not read (no package to English): the
# word the questions' own "Cancel" button is called in each catalog, and a few more; and
# phrases the intent model reads as "no" (which skips a question) that mean "stop".
CANCEL_WORDS = frozenset(
    "cancel;cancelar;cancela;annuler;annule;cancele;anile;anilé;abbrechen;stop;stopp;"
    "إلغاء;الغاء;ألغ;never mind;nevermind;nvm;forget it;olvídalo;olvidalo;ya no".split(";")
)

# "Skip" typed: the intent model reads it as "no", which skips only a free-text question.
SKIP_WORDS = frozenset(
    "skip;skip it;skip this;pass;next;saltar;omitir;siguiente;passer;pular;sote;"
    "تخطي;i'd rather not say;prefer not to say;prefiero no decir".split(";")
)

OUR_TEAM = N_("our case management team")
OFFER = N_(
    "I can ask a case manager from {organisation} to contact you. A case manager is a person "
    "who helps you find safe housing, legal help, medical care and other support. It is "
    "free, and you can stop at any time."
)
OFFER_SHARED = N_(
    "If you agree, I will share only what you choose in the next questions: the topics you "
    "asked about (not your messages), your language, your area, your age group and how to "
    "reach you. Only our case managers see it. You will see everything before it is sent."
)
CONFIDENTIALITY_LIMITS = N_(
    "Please know: if you are under 18, or if someone is in immediate danger, staff may be "
    "required by law to contact the authorities (such as child protection or 911)."
)
OFFER_QUESTION = N_("Do you want to continue?")
YES_CONTINUE = N_("Yes, continue")
NO_THANKS = N_("No, thanks")
WHAT_STAFF_REPORT = N_("What staff must report")
HOTLINE_NOW = N_(
    "To talk to someone right now, call the National Human Trafficking Hotline, 24/7: "
    "1-888-373-7888, or text 233733. In danger, call 911."
)
ALREADY_OPEN = N_(
    "Your request number {number} is with our team. A case manager will contact you as you asked."
)
ASK_CONTACT = N_("How should the case manager reach you?")
CHAT_NOW = N_("Here in this chat, now")
CHAT_LATER = N_("Here in this chat, later")
PHONE_CALL = N_("A phone call")
TEXT_MESSAGE = N_("A text message")
SKIP = N_("Skip")
CANCEL = N_("Cancel")
WEB_CHAT_OPEN = N_("In this web chat, a reply reaches you only while this page stays open.")
ASK_PHONE = N_(
    "What number should they use? Give it only if it is safe for you. You can also skip this."
)
NOT_A_PHONE = N_("That does not look like a phone number. Please write the digits, or skip.")
NO_PHONE_CHAT = N_("No number, then. The case manager will write to you here in this chat.")
ASK_VOICEMAIL = N_("If no one answers, may they leave a voicemail?")
YES = N_("Yes")
NO = N_("No")
ASK_TIMES = N_(
    "When is it safe to contact you? For example: weekdays after 6 pm. You can also skip this."
)
ASK_CODE_WORD = N_(
    "You can choose a code word. The case manager will say it, so you know it is really them. "
    "Write a word, or skip."
)
ASK_AGE = N_("Are you under 18? You can skip this.")
UNDER_18 = N_("Under 18")
ADULT = N_("18 or older")
ASK_PLACE = N_(
    "Which city, state or ZIP code are you in? Only the area, never your address. You can "
    "also skip this."
)
ASK_TRANSCRIPT = N_(
    "May the case manager read this conversation, so you do not have to tell your story "
    "again? If you say no, they see only the summary."
)
YES_SHARE = N_("Yes, they may read it")
NO_SUMMARY = N_("No, only the summary")
NOTHING_PENDING = N_("There is no question waiting for an answer. What would you like to do?")
CHOOSE_OPTION = N_('Please choose one of the options, or write "cancel" to stop.')
IN_DANGER_LINE = N_("If you are in danger right now, call 911.")
SUMMARY = N_("This is what I will send to {organisation}:")
SUMMARY_TOPICS = N_("Topics: {topics}")
SUMMARY_NO_TOPICS = N_("Topics: none yet")
SUMMARY_LANGUAGE = N_("Language: {language}")
SUMMARY_PLACE = N_("Area: {place}")
SUMMARY_AGE_MINOR = N_("Age group: under 18")
SUMMARY_AGE_ADULT = N_("Age group: 18 or older")
SUMMARY_CONTACT = N_("How to reach you: {method}")
SUMMARY_PHONE = N_("Number: {phone}")
SUMMARY_VOICEMAIL_YES = N_("Voicemail: yes")
SUMMARY_VOICEMAIL_NO = N_("Voicemail: no")
SUMMARY_TIMES = N_("Safe times: {times}")
SUMMARY_CODE_WORD = N_("Code word: {code_word}")
SUMMARY_SAFETY = N_("Safety: you told me you may be in danger, so your request is urgent")
SUMMARY_TRANSCRIPT_YES = N_("This conversation: the case manager may read it")
SUMMARY_TRANSCRIPT_NO = N_("This conversation: not shared, only this summary")
SUMMARY_QUESTION = N_("Send it?")
SEND = N_("Send")
ROADMAP_RESULT = N_("eligibility road map result")
SENT = N_("Sent. Your request number is {number}.")
SENT_NOW = N_("A case manager will join this chat soon. Please keep this chat open.")
SENT_LATER = N_("A case manager will contact you as you asked.")
SENT_OUTSIDE_HOURS = N_(
    "Our team is not working right now. They will contact you as you asked from {when}."
)
SENT_NO_HOURS = N_("Our team will contact you as you asked.")
SENT_CODE_WORD = N_("Your code word: {code_word}. A genuine case manager will say it.")
NOT_SENT = N_(
    "I did not send anything. You can ask for a person again at any time, or call the "
    "National Human Trafficking Hotline, 24/7: 1-888-373-7888 (text 233733)."
)
SEND_FAILED = N_(
    "I could not send your request just now, so nothing was shared. Please try again in a few "
    "minutes, or call the National Human Trafficking Hotline, 24/7: 1-888-373-7888 "
    "(text 233733)."
)
JOINED = N_(
    "{name}, a case manager, has joined this chat. From now on a person reads what you write "
    "here and answers you."
)
JOINED_CODE_WORD = N_("If they say your code word, it is really them.")
LEFT = N_(
    "The case manager has left the chat. You are talking with Haven's automated assistant "
    "again. Is there anything else I can help with?"
)
TALK_TO_PERSON = N_("Talk to a person")
# The console runs the joined/left actions through Rasa's HTTP API (``execute``), which
# records no "listen" after them: without one, the user's next message would not match
# any rule (rules expect a message after listening) and get "I did not understand".
END_OF_TURN = (ActionExecuted("action_listen"),)
STAFF_NOTIFICATION = "New referral #{number}, {urgency}, language {language}: {url}"


def organisation() -> Node:
    name = get_settings().organisation
    return data(name) if name else msg(OUR_TEAM)


def step_of(tracker: Tracker) -> str | None:
    step = tracker.get_slot(STEP_SLOT)
    return step if step in STEPS else None


def answers_of(tracker: Tracker) -> dict[str, Any]:
    found = tracker.get_slot(ANSWERS_SLOT)
    return dict(found) if isinstance(found, dict) else {}


def latest_intent(tracker: Tracker) -> str | None:
    return (tracker.latest_message.get("intent") or {}).get("name")


def typed_words(tracker: Tracker) -> str:
    """The latest message as typed words, for the whole-message word lists."""
    return (tracker.latest_message.get("text") or "").strip(" .!¡?¿").casefold()


def latest_choice(tracker: Tracker) -> str | None:
    for entity in tracker.latest_message.get("entities") or []:
        if entity.get("entity") == "choice":
            return str(entity.get("value"))
    return None


def answered_question(tracker: Tracker) -> bool:
    """Whether the latest message answers a question this flow asked: the bot's last
    action before it was one of ours (not a crisis reply or a language change)."""
    seen_user = False
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind == "user":
            if seen_user:
                return False
            seen_user = True
        elif seen_user and kind == "action" and event.get("name") != "action_listen":
            return event.get("name") in {ASK_ACTION, OFFER_ACTION}
    return False


def applies(step: str, answers: dict[str, Any], tracker: Tracker) -> bool:
    contact = answers.get("contact_method")
    if step == "phone":
        return contact in {"phone", "text"}
    if step == "voicemail":
        return contact == "phone" and bool(answers.get("phone"))
    if step == "times":
        return contact != "chat_now"
    if step == "age":
        return tracker.get_slot("age_group") not in {"minor", "adult"}
    return True


def next_step(after: str, answers: dict[str, Any], tracker: Tracker) -> str:
    for step in STEPS[STEPS.index(after) + 1 :]:
        if applies(step, answers, tracker):
            return step
    return "confirm"


def live_chat_open() -> bool:
    return StaffedHours.from_settings().is_open() and staff.someone_available()


# --- what the referral carries --------------------------------------------------------


def needs_of(tracker: Tracker) -> list[str]:
    """The conversation's needs as keys: rights topics asked, service categories searched,
    the road map's outcome. Never the user's words."""
    found: list[str] = []
    entries = knowledge()
    for event in tracker.events:
        if event.get("event") == "user":
            intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name") or ""
            topic = intent.removeprefix(KNOWLEDGE_INTENT_PREFIX)
            if intent.startswith(KNOWLEDGE_INTENT_PREFIX) and topic in entries:
                found.append(f"topic:{topic}")
        elif event.get("event") == "slot" and event.get("name") == SEARCH_SLOT:
            need = (event.get("value") or {}).get("need")
            if need and need != "_other":
                found.append(f"service:{need}")
    roadmap = {slot: tracker.get_slot(slot) for slot in ROADMAP_SLOTS}
    if any(roadmap.values()) and next_question(roadmap) is None:
        outcomes = load_outcomes(get_settings().project_root / "data" / "knowledge" / "roadmap.yml")
        found.append(f"roadmap:{choose_outcome(outcomes, roadmap).id}")
    return list(dict.fromkeys(found))


def safety_flags_of(tracker: Tracker) -> list[str]:
    """Danger and disclosure seen in the conversation. An answer to a free-text question
    (safe times, a code word, an area) is no evidence of possible danger: the danger model
    reads "after 6pm" without the question; only a crisis counts there."""
    flags, step = set(), None
    for event in tracker.events:
        if event.get("event") == "slot" and event.get("name") == STEP_SLOT:
            step = event.get("value")
        elif event.get("event") == "user":
            intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
            if intent not in FLAG_INTENTS:
                continue
            if step in FREE_TEXT_STEPS and intent != "crisis":
                continue
            flags.add(FLAG_INTENTS[intent])
    return sorted(flags)


def need_title(need: str) -> Node:
    kind, _, key = need.partition(":")
    if kind == "topic" and key in knowledge():
        return msg(knowledge()[key].title)
    if kind == "service":
        return Speaker.need_title(key)
    return msg(ROADMAP_RESULT)


def contact_method_title(method: str) -> Node:
    titles = {"chat_now": CHAT_NOW, "chat_later": CHAT_LATER, "phone": PHONE_CALL,
              "text": TEXT_MESSAGE}  # fmt: skip
    return msg(titles.get(method, CHAT_LATER))


def summary(tracker: Tracker, answers: dict[str, Any]) -> Node:
    """Exactly what will be sent, line by line."""
    needs = needs_of(tracker)
    flags = safety_flags_of(tracker)
    age = answers.get("age") or tracker.get_slot("age_group")
    topics = (
        msg(SUMMARY_TOPICS, topics=join(*(need_title(n) for n in needs), sep=", "))
        if needs
        else msg(SUMMARY_NO_TOPICS)
    )
    rows: list[Node] = [
        topics,
        msg(SUMMARY_LANGUAGE, language=language(conversation_language(tracker))),
    ]
    if answers.get("place"):
        rows.append(msg(SUMMARY_PLACE, place=data(answers["place"])))
    if age in {"minor", "adult"}:
        rows.append(msg(SUMMARY_AGE_MINOR if age == "minor" else SUMMARY_AGE_ADULT))
    method = answers.get("contact_method", "chat_later")
    rows.append(msg(SUMMARY_CONTACT, method=contact_method_title(method)))
    if answers.get("phone"):
        rows.append(msg(SUMMARY_PHONE, phone=data(answers["phone"])))
    if answers.get("voicemail") in {"yes", "no"}:
        yes = answers["voicemail"] == "yes"
        rows.append(msg(SUMMARY_VOICEMAIL_YES if yes else SUMMARY_VOICEMAIL_NO))
    if answers.get("times"):
        rows.append(msg(SUMMARY_TIMES, times=data(answers["times"])))
    if answers.get("code_word"):
        rows.append(msg(SUMMARY_CODE_WORD, code_word=data(answers["code_word"])))
    if {"crisis", "possible_danger"} & set(flags):
        rows.append(msg(SUMMARY_SAFETY))
    shared = answers.get("transcript") == "yes"
    rows.append(msg(SUMMARY_TRANSCRIPT_YES if shared else SUMMARY_TRANSCRIPT_NO))
    return lines(
        msg(SUMMARY, organisation=organisation()),
        *(join("- ", row) for row in rows),
        "",
        msg(SUMMARY_QUESTION),
    )


def conversation_language(tracker: Tracker) -> str:
    return tracker.get_slot("language") or get_settings().default_language


def new_referral(tracker: Tracker, answers: dict[str, Any]) -> referrals.NewReferral:
    """The referral the summary showed: the same fields, nothing else."""
    age = answers.get("age") or tracker.get_slot("age_group")
    contact = {
        key: answers[key]
        for key in ("phone", "voicemail", "times", "code_word")
        if answers.get(key)
    }
    flags = safety_flags_of(tracker)
    shown = ["needs", "language", "contact_method", *contact, "share_transcript"]
    if {"crisis", "possible_danger"} & set(flags):
        shown.append("urgency")
    shown += [
        key for key, present in (("place", answers.get("place")), ("age_group", age)) if present
    ]
    if age == "minor":
        flags.append("minor")
    return referrals.NewReferral(
        conversation_id=tracker.sender_id,
        channel=tracker.get_latest_input_channel() or "rest",
        language=conversation_language(tracker),
        needs=needs_of(tracker),
        place=answers.get("place"),
        age_group=age if age in {"minor", "adult"} else None,
        safety_flags=flags,
        contact_method=answers.get("contact_method", "chat_later"),
        contact=contact,
        share_transcript=answers.get("transcript") == "yes",
        consent={
            "version": CONSENT_VERSION,
            "fields": sorted(shown),
            "shown_in": conversation_language(tracker),
            "audience": tracker.get_slot(AUDIENCE_SLOT) or "survivor",
        },
    )


async def notify_staff(number: int, urgent: bool, language_code: str) -> None:
    """Tell the staff group on Telegram, if one is set: never personal data."""
    settings = get_settings()
    if not (settings.staff_telegram_chat and settings.telegram_token):
        return
    text = STAFF_NOTIFICATION.format(
        number=number,
        urgency="URGENT" if urgent else "normal",
        language=language_code,
        url=f"{settings.console_url}/referrals/{number}",
    )
    url = f"{settings.telegram_api_url}{settings.telegram_token}/sendMessage"
    try:
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as client:
            async with client.post(
                url, json={"chat_id": settings.staff_telegram_chat, "text": text}
            ) as reply:
                if reply.status >= 400:
                    logger.warning("Staff notification refused by Telegram (%d)", reply.status)
    except (aiohttp.ClientError, asyncio.TimeoutError):
        logger.warning("Staff notification could not be sent")


# --- the actions --------------------------------------------------------------------


class ActionOfferPerson(Action):
    """ "Talk to a person": the hotline when no staff are set up; else what a case manager
    does, what would be shared and the limits of confidentiality, then "continue?"."""

    def name(self) -> str:
        return OFFER_ACTION

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        if not await asyncio.to_thread(staff.staff_configured):
            dispatcher.utter_message(response="utter_hotline")
            return []
        found = await asyncio.to_thread(referrals.open_referral_for, tracker.sender_id)
        if found is not None:
            send(dispatcher, msg(ALREADY_OPEN, number=found.id), [menu_button()])
            return [SlotSet(STEP_SLOT, None)]
        text = lines(
            msg(OFFER, organisation=organisation()),
            "",
            msg(OFFER_SHARED),
            "",
            msg(CONFIDENTIALITY_LIMITS),
            "",
            msg(HOTLINE_NOW),
            "",
            msg(OFFER_QUESTION),
        )
        buttons = [
            Speaker.button(YES_CONTINUE, AFFIRM_PAYLOAD),
            Speaker.button(NO_THANKS, DENY_PAYLOAD),
            Speaker.button(WHAT_STAFF_REPORT, "/kb_confidentiality_limits"),
        ]
        send(dispatcher, text, buttons)
        return [SlotSet(STEP_SLOT, "offer"), SlotSet(ANSWERS_SLOT, None)]


class ActionReferralStep(Action):
    """Reads the answer to the current consent question and asks the next one."""

    def name(self) -> str:
        return ASK_ACTION

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        step = step_of(tracker)
        if step is None:  # "skip", "cancel" or an old button, with no question open
            send(dispatcher, msg(NOTHING_PENDING), [menu_button()])
            return []
        answers = answers_of(tracker)
        intent = latest_intent(tracker)
        typed = typed_words(tracker)
        cancelled = intent == CANCEL_INTENT or typed in CANCEL_WORDS
        if cancelled or (step in {"offer", "confirm"} and intent == "deny"):
            return self.stop(dispatcher)
        if not answered_question(tracker):  # back after a crisis reply or a language change
            return self.ask(dispatcher, tracker, step, answers)
        free_text = step in FREE_TEXT_STEPS
        prefix = msg(IN_DANGER_LINE) if intent == "danger_check" and not free_text else None
        if step == "confirm":
            if intent in {"affirm", ANSWER_INTENT}:
                return await self.submit(dispatcher, tracker, answers)
            return self.ask(dispatcher, tracker, step, answers, msg(CHOOSE_OPTION))
        if step == "offer":
            if intent in {"affirm", SKIP_INTENT}:
                return self.ask(dispatcher, tracker, next_step(step, answers, tracker), answers)
            return self.stop(dispatcher)
        value, problem = self.read(step, tracker, intent, answers)
        if problem is not None:
            return self.ask(dispatcher, tracker, step, answers, problem)
        if step == "phone" and value.get("contact_method") == "chat_later":
            prefix = msg(NO_PHONE_CHAT)
        answers = {**answers, **value}
        return self.ask(dispatcher, tracker, next_step(step, answers, tracker), answers, prefix)

    @staticmethod
    def read(
        step: str, tracker: Tracker, intent: str | None, answers: dict[str, Any]
    ) -> tuple[dict[str, Any], Node]:
        """The answer to ``step`` as fields, or a note on why it was not understood."""
        typed = typed_words(tracker)
        skipped = (
            intent == SKIP_INTENT
            or typed in SKIP_WORDS
            or (intent == "deny" and step not in BUTTON_STEPS)
        )
        choice = latest_choice(tracker) if intent == ANSWER_INTENT else None
        text = (tracker.latest_message.get("text") or "").strip()
        if step == "contact":
            if skipped:
                return {"contact_method": "chat_later"}, None
            choice = choice or next((c for rx, c in TYPED_CONTACT if rx.search(text)), None)
            if choice not in CONTACT_CHOICES:
                return {}, msg(CHOOSE_OPTION)
            if choice == "chat_now" and not live_chat_open():
                choice = "chat_later"
            return {"contact_method": choice}, None
        if step == "voicemail":
            if intent in {"affirm", "deny"}:
                return {"voicemail": "yes" if intent == "affirm" else "no"}, None
            return ({}, None) if skipped else ({}, msg(CHOOSE_OPTION))
        if step == "age":
            if skipped:
                return {"age": None}, None
            age = {"age_minor": "minor", "age_adult": "adult"}.get(intent or "", choice)
            return ({"age": age}, None) if age in {"minor", "adult"} else ({}, msg(CHOOSE_OPTION))
        if step == "transcript":
            if intent == "affirm":
                return {"transcript": "yes"}, None
            if intent in {"deny", SKIP_INTENT}:
                return {"transcript": "no"}, None
            return {}, msg(CHOOSE_OPTION)
        # free text: phone, times, code word, place
        if skipped or not text or text.startswith("/"):
            if step == "phone":  # no number: this chat, later
                return {"contact_method": "chat_later", "phone": None}, None
            return {step: None}, None
        text = " ".join(text.split())[: MAX_FREE_TEXT[step]]
        if step == "phone" and len(PHONE_DIGITS.findall(text)) < MIN_PHONE_DIGITS:
            return {}, msg(NOT_A_PHONE)
        return {step: text}, None

    def ask(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        step: str,
        answers: dict[str, Any],
        prefix: Node = None,
    ) -> list[dict[str, Any]]:
        text, buttons = self.question(step, tracker, answers)
        send(dispatcher, lines(prefix, text) if prefix else text, buttons)
        return [SlotSet(STEP_SLOT, step), SlotSet(ANSWERS_SLOT, answers)]

    @staticmethod
    def question(step: str, tracker: Tracker, answers: dict[str, Any]) -> tuple[Node, list[Button]]:
        skip = Speaker.button(SKIP, SKIP_PAYLOAD)
        if step == "offer":
            return msg(OFFER_QUESTION), [
                Speaker.button(YES_CONTINUE, AFFIRM_PAYLOAD),
                Speaker.button(NO_THANKS, DENY_PAYLOAD),
            ]
        if step == "contact":
            choices = [("chat_later", CHAT_LATER), ("phone", PHONE_CALL), ("text", TEXT_MESSAGE)]
            if live_chat_open():
                choices.insert(0, ("chat_now", CHAT_NOW))
            buttons = [button(msg(title), answer_payload(c)) for c, title in choices]
            note = msg(WEB_CHAT_OPEN) if tracker.get_latest_input_channel() == "webchat" else None
            return lines(msg(ASK_CONTACT), note), [*buttons, skip]
        if step == "voicemail":
            return msg(ASK_VOICEMAIL), [
                Speaker.button(YES, AFFIRM_PAYLOAD),
                Speaker.button(NO, DENY_PAYLOAD),
                skip,
            ]
        if step == "age":
            return msg(ASK_AGE), [
                button(msg(UNDER_18), answer_payload("minor")),
                button(msg(ADULT), answer_payload("adult")),
                skip,
            ]
        if step == "transcript":
            return msg(ASK_TRANSCRIPT), [
                Speaker.button(YES_SHARE, AFFIRM_PAYLOAD),
                Speaker.button(NO_SUMMARY, DENY_PAYLOAD),
            ]
        if step == "confirm":
            return summary(tracker, answers), [
                Speaker.button(SEND, AFFIRM_PAYLOAD),
                Speaker.button(CANCEL, CANCEL_PAYLOAD),
            ]
        questions = {"phone": ASK_PHONE, "times": ASK_TIMES, "code_word": ASK_CODE_WORD,
                     "place": ASK_PLACE}  # fmt: skip
        return msg(questions[step]), [skip, Speaker.button(CANCEL, CANCEL_PAYLOAD)]

    @staticmethod
    def stop(dispatcher: CollectingDispatcher) -> list[dict[str, Any]]:
        send(dispatcher, msg(NOT_SENT), [menu_button()])
        return [SlotSet(STEP_SLOT, None), SlotSet(ANSWERS_SLOT, None)]

    async def submit(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, answers: dict[str, Any]
    ) -> list[dict[str, Any]]:
        new = new_referral(tracker, answers)
        try:
            number = await asyncio.to_thread(referrals.create_referral, new)
        except Exception:  # noqa: BLE001 - the user must hear that nothing was sent
            logger.exception("A referral could not be stored (%s)", pseudonym(tracker.sender_id))
            send(dispatcher, msg(SEND_FAILED), [menu_button()])
            return [SlotSet(STEP_SLOT, None), SlotSet(ANSWERS_SLOT, None)]
        logger.info("Referral %d created (%s)", number, "urgent" if new.urgent else "normal")
        asyncio.get_running_loop().create_task(notify_staff(number, new.urgent, new.language))
        send(dispatcher, self.sent_text(number, new), [menu_button()])
        return [
            SlotSet(STEP_SLOT, None),
            SlotSet(ANSWERS_SLOT, None),
            SlotSet(REFERRAL_SLOT, str(number)),
            SlotSet(HANDOFF_SLOT, "waiting"),
        ]

    @staticmethod
    def sent_text(number: int, new: referrals.NewReferral) -> Node:
        hours = StaffedHours.from_settings()
        if hours.is_open():
            when = msg(SENT_NOW if new.contact_method == "chat_now" else SENT_LATER)
        else:
            opening = hours.next_opening()
            when = (
                msg(
                    SENT_OUTSIDE_HOURS,
                    when=join(date(opening.date()), " ", time_node(opening.strftime("%H:%M"))),
                )  # fmt: skip
                if opening
                else msg(SENT_NO_HOURS)
            )
        code = new.contact.get("code_word")
        return lines(
            msg(SENT, number=data(str(number))),
            when,
            msg(SENT_CODE_WORD, code_word=data(code)) if code else None,
            "",
            msg(HOTLINE_NOW),
        )


class ActionStaffJoined(Action):
    """A case manager joined from the console: say who, and that a person now reads."""

    def name(self) -> str:
        return JOINED_ACTION

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        found = await asyncio.to_thread(referrals.open_referral_for, tracker.sender_id)
        name = (found.claimed_by_name if found is not None else None) or ""
        code_word = found is not None and "code_word" in (found.consent.get("fields") or [])
        send(
            dispatcher,
            lines(msg(JOINED, name=data(name[:120])), msg(JOINED_CODE_WORD) if code_word else None),
        )
        return [
            SlotSet(HANDOFF_SLOT, HUMAN),
            SlotSet(STAFF_SLOT, name[:120] or None),
            SlotSet(STEP_SLOT, None),
            *END_OF_TURN,
        ]


class ActionStaffLeft(Action):
    """The case manager left (or closed the referral): the bot is back, with a check-in."""

    def name(self) -> str:
        return LEFT_ACTION

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        found = await asyncio.to_thread(referrals.open_referral_for, tracker.sender_id)
        send(
            dispatcher,
            msg(LEFT),
            [menu_button(), Speaker.button(TALK_TO_PERSON, REQUEST_HUMAN)],
        )
        return [
            SlotSet(HANDOFF_SLOT, "waiting" if found is not None else None),
            SlotSet(STAFF_SLOT, None),
            SlotSet(REFERRAL_SLOT, str(found.id) if found is not None else None),
            *END_OF_TURN,
        ]
