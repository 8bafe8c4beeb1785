"""Every string a user can see is made by the one renderer (bot.nlg.render).

The proof: a tracing renderer marks everything that comes out of its hooks (a catalog
message, a data value, a formatted date, time, number, day or language name). Every
reply Haven can send — each domain response and the structured content of every action,
in both languages — is rendered with it; a letter left outside a mark was made somewhere
else. A static check keeps actions from sending finished text at all.
"""

from __future__ import annotations

import ast
import asyncio
import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.common import Speaker, knowledge
from bot.actions.directory import ActionFindService, result_content
from bot.actions.rights import ActionChildPath, ActionSuggestTopics, ActionTopicSources
from bot.actions.roadmap import ActionRoadmap
from bot.actions.safety import ActionDisclosureNextSteps
from bot.directory.hours import Hours
from bot.directory.search import ServiceResult
from bot.knowledge.roadmap import load_outcomes
from bot.nlg import render
from bot.nlg.content import CONTENT_KEY, HAVEN_RESPONSE, data, join, msg
from bot.nlg.render import Renderer, RenderError, fill
from tests.rendering import generator

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = ("en", "es")
OPEN, CLOSE = "\u27e6", "\u27e7"
MARKED = re.compile(f"{OPEN}[^{OPEN}{CLOSE}]*{CLOSE}")
LETTER = re.compile(r"[^\W\d_]")


class TracingRenderer(Renderer):
    """Marks the output of every node but joins, so unmarked letters stand out."""

    def render_node(self, node: dict[str, Any]) -> str:
        text = super().render_node(node)
        return text if "join" in node else f"{OPEN}{text}{CLOSE}"


def unmarked(text: str) -> str:
    """What is left of ``text`` once every marked span (innermost first) is removed."""
    previous = None
    while previous != text:
        previous, text = text, MARKED.sub("", text)
    return text


@pytest.fixture
def tracing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "Renderer", TracingRenderer)
    monkeypatch.setattr("bot.nlg.generator.Renderer", TracingRenderer)


def assert_all_rendered(reply: dict[str, Any], where: str) -> None:
    for text in [reply.get("text") or ""] + [b["title"] for b in reply.get("buttons") or []]:
        assert OPEN in text or not text, (where, text)
        left = unmarked(text)
        assert not LETTER.search(left), (where, text, left)


def tracker(language: str, intent: str = "", text: str = "", **slots: Any) -> Tracker:
    latest = {"intent": {"name": intent}, "intent_ranking": [], "entities": [], "text": text}
    return Tracker("reader", {"language": language, **slots}, latest, [], False, None, {}, "")


def dispatched(action: Any, language: str, **kwargs: Any) -> list[dict[str, Any]]:
    dispatcher = CollectingDispatcher()
    asyncio.run(action.run(dispatcher, tracker(language, **kwargs), {}))
    return dispatcher.messages


def render_dispatched(message: dict[str, Any], language: str) -> dict[str, Any]:
    """As the Rasa process does: the generator renders a response name or the content."""
    return generator().render(
        message["response"],
        {"language": language},
        "rest",
        **{CONTENT_KEY: message.get(CONTENT_KEY)},
    )


@pytest.mark.usefixtures("tracing")
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_domain_response_comes_out_of_the_renderer(language: str) -> None:
    names = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"]
    for name in names:
        for crisis_type in (None, "self_harm", "child_abuse", "sexual_assault", "emergency"):
            slots = {"language": language, "crisis_type": crisis_type}
            reply = generator().render(name, slots, "rest")
            assert_all_rendered(reply, f"{language} {name} {crisis_type}")


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_knowledge_answer_and_road_map_outcome_comes_out_of_the_renderer(
    language: str,
) -> None:
    renderer = TracingRenderer(language, generator().catalogs, strict=True)
    for audience in (None, "provider"):
        speaker = Speaker(tracker(language, audience=audience))
        for entry in knowledge().values():
            text, buttons = speaker.answer(entry)
            assert_all_rendered(renderer.reply({"text": text, "buttons": buttons}), entry.id)
            assert_all_rendered(renderer.reply({"text": speaker.sources_text(entry)}), entry.id)
    for outcome in load_outcomes(ROOT / "data" / "knowledge" / "roadmap.yml"):
        text, buttons = ActionRoadmap.render(outcome)
        assert_all_rendered(renderer.reply({"text": text, "buttons": buttons}), outcome.id)


def full_result(**changes: Any) -> ServiceResult:
    """A result with every field a reply can show."""
    values = {
        "service_id": "s1",
        "service_at_location_id": "sal1",
        "name": "Casa Segura",
        "organization": "Casa Segura Inc.",
        "description": "Emergency shelter for survivors. " * 8,
        "phones": (("713-555-0100", "voice"), ("713-555-0101", "text")),
        "address": "100 Main St",
        "city": "Houston",
        "state": "TX",
        "confidential": False,
        "distance_km": 4.2,
        "languages": ("en", "es", "vi"),
        "hours": (
            Hours(("MO", "TU", "WE", "TH", "FR"), "09:00", "17:00", None),
            Hours(("SA",), "10:00", "12:00", None, valid_to=dt.date(2027, 1, 1)),
            Hours((), None, None, None, understood=False),
        ),
        "open_now": True,
        "always_open": False,
        "assured_date": dt.date(2024, 1, 5),
        "stale": True,
        "categories": ("emergency_shelter",),
        "populations": ("women",),
        "cost": "free",
        "national": False,
        "beds_available": 0,
        "url": None,
        "fees_description": None,
        "fits": False,
        "fit_note": "women_only",
        "full": True,
        "capacity_updated": dt.datetime(2026, 11, 1, 12, 0),
        "capacity_stale": True,
    }
    return ServiceResult(**{**values, **changes})


@pytest.mark.parametrize("language", LANGUAGES)
def test_search_results_come_out_of_the_renderer(language: str) -> None:
    renderer = TracingRenderer(language, generator().catalogs, strict=True)
    for result in (
        full_result(),
        full_result(confidential=True, address=None, distance_km=None, fits=True, full=False,
                    beds_available=3, capacity_stale=False, fit_note=None),
        full_result(always_open=True, cost="sliding_scale", national=True, fit_note="odd"),
    ):  # fmt: skip
        assert_all_rendered(renderer.reply({"text": result_content(result)}), result.name)


@pytest.mark.usefixtures("tracing")
@pytest.mark.parametrize("language", LANGUAGES)
def test_what_actions_send_comes_out_of_the_renderer(language: str) -> None:
    runs = [
        (ActionChildPath(), {"intent": "age_minor"}),
        (ActionTopicSources(), {"kb_topic": "t_visa"}),
        (ActionTopicSources(), {}),  # no topic yet
        (ActionDisclosureNextSteps(), {}),
        (ActionRoadmap(), {"intent": "eligibility_roadmap", "text": "/eligibility_roadmap"}),
        (ActionFindService(), {"intent": "find_service", "text": "I need a lawyer"}),
        (ActionFindService(), {"intent": "find_service", "text": "help"}),
    ]
    suggest = tracker(language, "nlu_fallback", "visa?")
    suggest.latest_message["intent_ranking"] = [{"name": "kb_t_visa", "confidence": 0.3}]
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionSuggestTopics().run(dispatcher, suggest, {}))
    messages = list(dispatcher.messages)
    for action, kwargs in runs:
        messages += dispatched(action, language, **kwargs)
    assert len(messages) >= len(runs) + 1
    for message in messages:
        assert message["response"], message
        assert_all_rendered(render_dispatched(message, language), str(message["response"]))


def test_the_tracing_check_catches_text_made_elsewhere() -> None:
    renderer = TracingRenderer("en", generator().catalogs)
    made_elsewhere = renderer.reply({"text": join(msg("Main menu"), "or call us")})
    with pytest.raises(AssertionError):
        assert_all_rendered(made_elsewhere, "test")
    with pytest.raises(RenderError):  # and strict rendering refuses it outright
        Renderer("en", strict=True).render(join(data("x"), "or call us"))


def test_actions_never_send_finished_text() -> None:
    """Every ``utter_message`` in an action names a response; content goes through ``send``."""
    offending = []
    for path in sorted((ROOT / "bot" / "actions").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "utter_message":
                keywords = {k.arg for k in node.keywords}
                if keywords - {"response", None} or node.args:
                    offending.append(f"{path.name}:{node.lineno}")
    assert not offending, offending


def test_one_placeholder_filler() -> None:
    assert fill("{a} and {b}", {"a": "{b}", "b": "2"}) == "{b} and 2"  # never filled twice
    assert fill("deleted after {retention_days} days", {}) == "deleted after {retention_days} days"
    reply = Renderer("es").reply({"text": msg("Next step: {name}, call {phone}.", name=msg(
        "National Human Trafficking Hotline"), phone=data("1-888-373-7888"))})  # fmt: skip
    assert "1-888-373-7888" in reply["text"] and "{" not in reply["text"]


def test_the_generator_renders_an_actions_content() -> None:
    content = {"text": msg("Main menu"), "buttons": [{"title": msg("Sources"), "payload": "/x"}]}
    reply = generator().render(HAVEN_RESPONSE, {"language": "es"}, "rest", haven=content)
    assert reply["text"] == "Menú principal" and reply["buttons"][0]["payload"] == "/x"
