"""The consent conversation's vocabulary: its steps, slots, intents and button payloads.

Shared by the dialogue policy that routes the user's answers (``bot.nlu.handoff``), the
actions that ask and record them (``bot.actions.handoff``) and the channels' allow-list of
button payloads. Every question can be skipped; "cancel" stops at any step, and nothing
leaves the bot before the user has seen the summary and pressed "Send".
"""

from __future__ import annotations

import json

STEP_SLOT = "referral_step"  # the question the user is answering, None outside the flow
ANSWERS_SLOT = "referral_answers"  # what they answered so far (deleted with the conversation)
REFERRAL_SLOT = "referral_id"  # the open referral's number, once sent
HANDOFF_SLOT = "handoff"  # None, "waiting" (sent) or "human" (a case manager holds the chat)
HUMAN = "human"
STAFF_SLOT = "handoff_staff"  # the name of the case manager in the chat

STEPS = (
    "offer",  # what a case manager does, what is shared, the limits; continue?
    "contact",  # this chat now / later, a phone call, a text message
    "phone",  # the number (phone or text only)
    "voicemail",  # may they leave a voicemail (phone only)
    "times",  # when it is safe to contact them (not for "now")
    "code_word",  # a word the case manager will say
    "age",  # under 18? (unless the conversation already knows)
    "place",  # the area: a city, a state or a ZIP code
    "transcript",  # may the case manager read this conversation
    "confirm",  # the summary of exactly what will be sent: send or cancel
)
BUTTON_STEPS = frozenset({"offer", "contact", "voicemail", "age", "transcript", "confirm"})
CONTACT_CHOICES = ("chat_now", "chat_later", "phone", "text")

# Intents the policy lets the rest of the dialogue answer in the middle of the questions
# (the question is asked again afterwards), and while a case manager holds the chat.
INTERRUPTS = frozenset({"crisis", "quick_exit", "not_safe", "delete_my_data", "choose_language"})
HOLD_PASSES = frozenset({"crisis", "quick_exit", "delete_my_data"})
ANSWER_INTENT = "referral_answer"
SKIP_INTENT = "skip"
CANCEL_INTENT = "cancel"

ASK_ACTION = "action_referral_step"
OFFER_ACTION = "action_offer_person"
JOINED_ACTION = "action_staff_joined"
LEFT_ACTION = "action_staff_left"

SKIP_PAYLOAD = "/skip"
CANCEL_PAYLOAD = "/cancel"
AFFIRM_PAYLOAD = "/affirm"
DENY_PAYLOAD = "/deny"


def answer_payload(choice: str) -> str:
    return f"/{ANSWER_INTENT}" + json.dumps({"choice": choice})


ANSWER_CHOICES = (*CONTACT_CHOICES, "minor", "adult")


def handoff_payloads() -> frozenset[str]:
    """Every button payload the consent questions show."""
    fixed = {SKIP_PAYLOAD, CANCEL_PAYLOAD, AFFIRM_PAYLOAD, DENY_PAYLOAD}
    return frozenset(fixed | {answer_payload(choice) for choice in ANSWER_CHOICES})
