"""Every crisis trigger fires in each language; ordinary messages do not (SAFETY.md 10-13)."""

from __future__ import annotations

import pytest

from bot.languages import LANGUAGES
from bot.safety.crisis import crisis_languages, detect_crisis

TRIGGERS = {
    "en": [
        ("I'm in danger", "danger"),
        ("im in danger please", "danger"),
        ("I am not safe", "danger"),
        ("they are going to kill me", "danger"),
        ("he is gonna hurt me", "danger"),
        ("my boss is hitting me", "danger"),
        ("they threatened to kill my family", "danger"),
        ("the man has a gun", "danger"),
        ("they locked me in the house", "danger"),
        ("they won't let me leave", "danger"),
        ("i cant get out of here", "danger"),
        ("I was kidnapped", "danger"),
        ("i was raped", "danger"),
        ("I'm bleeding", "danger"),
        ("this is an emergency", "danger"),
        ("emergency", "danger"),
        ("emergency room now", "danger"),
        ("help me now", "danger"),
        ("SOS", "danger"),
        ("🆘", "danger"),
        ("I want to kill myself", "self_harm"),
        ("i wanna die", "self_harm"),
        ("thinking about suicide", "self_harm"),
        ("I want to end my life", "self_harm"),
        ("i don't want to live anymore", "self_harm"),
        ("sometimes i cut myself", "self_harm"),
        ("my husband hits me", "domestic_violence"),
        ("my boyfriend threatens me", "domestic_violence"),
        ("is this domestic violence", "domestic_violence"),
        ("a child is being abused", "child_abuse"),
        ("they are selling girls", "child_abuse"),
        ("my daughter is in danger", "child_abuse"),
    ],
    "es": [
        ("estoy en peligro", "danger"),
        ("Estoy en PELIGRO", "danger"),
        ("no estoy segura", "danger"),
        ("me van a matar", "danger"),
        ("me quieren lastimar", "danger"),
        ("me está golpeando", "danger"),
        ("me pega mi patron", "danger"),
        ("amenazaron con matar a mi familia", "danger"),
        ("tiene una pistola", "danger"),
        ("me tienen encerrada", "danger"),
        ("estoy encerrado en un cuarto", "danger"),
        ("no me dejan salir", "danger"),
        ("no puedo escapar", "danger"),
        ("me violaron", "danger"),
        ("es una emergencia", "danger"),
        ("emergencia", "danger"),
        ("auxilio", "danger"),
        ("ayuda urgente", "danger"),
        ("estoy sangrando", "danger"),
        ("me quiero morir", "self_harm"),
        ("quiero matarme", "self_harm"),
        ("me quiero suicidar", "self_harm"),
        ("ya no quiero vivir", "self_harm"),
        ("quiero quitarme la vida", "self_harm"),
        ("mi esposo me pega", "domestic_violence"),
        ("mi pareja me amenaza", "domestic_violence"),
        ("sufro violencia doméstica", "domestic_violence"),
        ("un niño está en peligro", "child_abuse"),
        ("están vendiendo niñas", "child_abuse"),
        ("mi hija está en peligro", "child_abuse"),
        ("abuso infantil", "child_abuse"),
    ],
}

NOT_CRISIS = [
    # A service's name is not a crisis: "emergency shelter" is the most asked-for service.
    "I need emergency shelter",
    "emergency food near me",
    "necesito un refugio de emergencia",
    "albergue de emergencia en Houston",
    "hi",
    "hola",
    "what is a T visa",
    "¿qué es la visa T?",
    "my boss took my passport",
    "mi patrón tiene mi pasaporte",
    "it's not safe to talk right now",
    "no puedo hablar ahora",
    "how do I delete my data",
    "borra mis datos",
    "I need a lawyer in Houston",
    "necesito comida cerca de 77002",
    "thank you",
    "who are you",
]


@pytest.mark.parametrize(
    ("language", "text", "crisis_type"),
    [(lang, text, kind) for lang, cases in TRIGGERS.items() for text, kind in cases],
)
def test_crisis_trigger_is_detected(language: str, text: str, crisis_type: str) -> None:
    match = detect_crisis(text)
    assert match is not None, f"{language}: {text!r} was not recognised as a crisis"
    assert match.crisis_type == crisis_type


@pytest.mark.parametrize("text", NOT_CRISIS)
def test_ordinary_message_is_not_a_crisis(text: str) -> None:
    assert detect_crisis(text) is None


def test_crisis_on_pivot_text_counts() -> None:
    """For translated languages the English pivot text is checked too."""
    assert detect_crisis("Nimefungiwa ndani", "I am locked in") is not None


def test_every_supported_language_has_crisis_lists_and_tests() -> None:
    assert set(LANGUAGES) <= set(crisis_languages())
    assert set(LANGUAGES) <= set(TRIGGERS)
