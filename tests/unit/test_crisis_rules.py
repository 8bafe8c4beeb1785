"""Every keyword-floor trigger fires in each language, at its floor; ordinary messages do not."""

from __future__ import annotations

import pytest

from bot.languages import LANGUAGES
from bot.safety.crisis_rules import CHECK, CRISIS, crisis_languages, detect_crisis

# (text, kind, floor): a CRISIS hit is always the crisis reply; a CHECK hit at least the
# check-in question.
TRIGGERS = {
    "en": [
        ("I'm in danger", "danger", CRISIS),
        ("im in danger please", "danger", CRISIS),
        ("I am not safe", "danger", CRISIS),
        ("they are going to kill me", "danger", CHECK),
        ("he is gonna hurt me", "danger", CHECK),
        ("my boss is hitting me", "danger", CRISIS),
        ("they threatened to kill my family", "danger", CHECK),
        ("they locked me in the house", "danger", CHECK),
        ("they won't let me leave", "danger", CRISIS),
        ("im being followed", "danger", CRISIS),
        ("help me now", "danger", CRISIS),
        ("SOS", "danger", CRISIS),
        ("🆘", "danger", CRISIS),
        ("the man has a gun", "danger", CHECK),
        ("he pulled a knife", "danger", CHECK),
        ("I was kidnapped", "danger", CHECK),
        ("I'm bleeding", "emergency", CRISIS),
        ("i cant breathe", "emergency", CRISIS),
        ("my friend overdosed", "danger", CHECK),
        ("I want to kill myself", "self_harm", CRISIS),
        ("i wanna die", "self_harm", CRISIS),
        ("thinking about suicide", "danger", CHECK),
        ("I want to end my life", "self_harm", CRISIS),
        ("i don't want to live anymore", "self_harm", CRISIS),
        ("sometimes i cut myself", "danger", CHECK),
        ("i was raped", "danger", CHECK),
        ("he raped me", "danger", CHECK),
        ("my husband hits me", "danger", CHECK),
        ("my boyfriend is threatening me", "domestic_violence", CRISIS),
        ("a child is being abused", "child_abuse", CRISIS),
        ("they are selling girls", "child_abuse", CRISIS),
        ("my daughter is in danger", "child_abuse", CRISIS),
        ("is this domestic violence", "danger", CHECK),
        ("he has a gun to my head", "emergency", CRISIS),
        ("they are kidnapping me", "emergency", CRISIS),
        ("he just raped me", "sexual_assault", CRISIS),
        ("my husband is hitting me", "domestic_violence", CRISIS),
        ("i want to hurt myself", "self_harm", CRISIS),
        ("im locked in", "danger", CRISIS),
        ("this is an emergency", "danger", CHECK),
        ("emergency", "danger", CHECK),
        ("i cant get out of here", "danger", CHECK),
        ("rape", "danger", CHECK),
        ("child abuse", "danger", CHECK),
    ],
    "es": [
        ("estoy en peligro", "danger", CRISIS),
        ("Estoy en PELIGRO", "danger", CRISIS),
        ("no estoy segura", "danger", CHECK),
        ("me van a matar", "danger", CHECK),
        ("me quieren lastimar", "danger", CHECK),
        ("me está golpeando", "danger", CRISIS),
        ("amenazaron con matarme", "danger", CHECK),
        ("me tienen encerrada", "danger", CHECK),
        ("estoy encerrado en un cuarto", "danger", CHECK),
        ("no me dejan salir", "danger", CRISIS),
        ("auxilio", "danger", CRISIS),
        ("ayuda urgente", "danger", CRISIS),
        ("tiene una pistola", "danger", CHECK),
        ("estoy sangrando", "emergency", CRISIS),
        ("no deja de sangrar", "emergency", CRISIS),
        ("me secuestraron", "danger", CHECK),
        ("me quiero morir", "self_harm", CRISIS),
        ("quiero matarme", "self_harm", CRISIS),
        ("me voy a matar", "danger", CHECK),
        ("ya no quiero vivir", "self_harm", CRISIS),
        ("quiero quitarme la vida", "self_harm", CRISIS),
        ("me violaron", "danger", CHECK),
        ("mi esposo me pega", "danger", CHECK),
        ("mi pareja me amenaza", "danger", CHECK),
        ("un niño está en peligro", "child_abuse", CRISIS),
        ("están vendiendo niñas", "child_abuse", CRISIS),
        ("mi hija está en peligro", "child_abuse", CRISIS),
        ("sufro violencia doméstica", "danger", CHECK),
        ("me están secuestrando", "emergency", CRISIS),
        ("me acaban de violar", "sexual_assault", CRISIS),
        ("mi esposo me está golpeando", "domestic_violence", CRISIS),
        ("quiero matarme", "self_harm", CRISIS),
        ("no estoy a salvo", "danger", CRISIS),
        ("abuso infantil", "danger", CHECK),
        ("es una emergencia", "danger", CHECK),
        ("me pega mi patron", "danger", CHECK),
        ("no puedo escapar", "danger", CHECK),
    ],
    "fr": [
        ("je suis en danger", "danger", CRISIS),
        ("Au secours !", "danger", CRISIS),
        ("ils ne me laissent pas sortir", "danger", CRISIS),
        ("je suis enfermée", "danger", CRISIS),
        ("je saigne beaucoup", "emergency", CRISIS),
        ("je veux mourir", "self_harm", CRISIS),
        ("je ne veux plus vivre", "self_harm", CRISIS),
        ("mon mari me frappe", "domestic_violence", CRISIS),
        ("il vient de me violer", "sexual_assault", CRISIS),
    ],
    "pt": [
        ("estou em perigo", "danger", CRISIS),
        ("não me deixam sair", "danger", CRISIS),
        ("estão me batendo", "danger", CRISIS),
        ("estou sangrando", "emergency", CRISIS),
        ("quero morrer", "self_harm", CRISIS),
        ("meu marido está me batendo", "domestic_violence", CRISIS),
        ("acabaram de me estuprar", "sexual_assault", CRISIS),
    ],
    "ar": [
        ("أنا في خطر", "danger", CRISIS),
        ("النجدة", "danger", CRISIS),
        ("لا يسمحون لي بالخروج", "danger", CRISIS),
        ("أنا أنزف", "emergency", CRISIS),
        ("أريد أن أموت", "self_harm", CRISIS),
        ("زوجي يضربني", "domestic_violence", CRISIS),
    ],
    "ht": [
        ("mwen an danje", "danger", CRISIS),
        ("anmwe!", "danger", CRISIS),
        ("yo pa kite m soti", "danger", CRISIS),
        ("m ap senyen", "emergency", CRISIS),
        ("mwen vle mouri", "self_harm", CRISIS),
        ("mari m ap bat mwen", "domestic_violence", CRISIS),
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
    "no",
    "yes",
    "me voy a morir si mi mama se entera",
    "me quiero morir de la vergüenza",
    "Bonjour, mon patron a pris mon passeport",
    "meu patrão pegou meu passaporte",
    "مرحبا، أحتاج إلى طعام",
    "mwen bezwen manje",
]
# A past, someone else's, or a figure of speech: these were the crisis floor's false alarms
# on the training negatives. At most the check-in; the danger model decides.
# Danger words in a past, third-person or figurative frame: at most the check-in question
# (and which language's list asked it), never the crisis floor.
NOT_ON_THE_CRISIS_FLOOR = [
    ("ya no estoy en peligro, solo quiero preguntar", "es"),
    ("my kid says he is going to die if he doesnt get new sneakers", None),
    ("my boss will kill me if im late again", "en"),
    ("i was raped years ago and never told anyone, can i still report it", "en"),
    ("im writing a short story where the villain has a knife", "en"),
    ("mi suegra me va a matar cuando vea que queme los tamales", "es"),
    ("estoy atrapada en el trafico de la 45", "es"),
    # Doubt about one's own danger is the check-in's case (the model may still say crisis).
    ("maybe im in danger idk", "en"),
    ("not sure if im in danger or not", "en"),
    ("a lo mejor estoy en peligro", "es"),
    ("no sé si estoy en peligro", "es"),
]


@pytest.mark.parametrize(
    "text",
    [
        "he is beating me idk what to do",  # something done to the writer: never hedged
        "im in danger idk what to do",
        "maybe i want to die",  # self-harm keeps its floor, hedged or not
        "creo que estoy en peligro",  # belief, not doubt
    ],
)
def test_hedges_never_lower_present_danger(text: str) -> None:
    match = detect_crisis(text)
    assert match is not None and match.floor == CRISIS


@pytest.mark.parametrize(
    ("language", "text", "crisis_type", "floor"),
    [(lang, *case) for lang, cases in TRIGGERS.items() for case in cases],
)
def test_crisis_trigger_is_detected(language: str, text: str, crisis_type: str, floor: str) -> None:
    match = detect_crisis(text)
    assert match is not None, f"{language}: {text!r} was not recognised"
    assert (match.crisis_type, match.floor) == (crisis_type, floor)
    assert match.language == language, "found by its own language's list"


@pytest.mark.parametrize("text", NOT_CRISIS)
def test_ordinary_message_is_not_a_crisis(text: str) -> None:
    assert detect_crisis(text) is None


@pytest.mark.parametrize(("text", "check_language"), NOT_ON_THE_CRISIS_FLOOR)
def test_past_third_person_and_figurative_frames_are_never_the_crisis_floor(
    text: str, check_language: str | None
) -> None:
    match = detect_crisis(text)
    if check_language is None:
        assert match is None
    else:
        assert (match.floor, match.language) == (CHECK, check_language)


def test_crisis_on_pivot_text_counts() -> None:
    """For translated languages the English pivot text is checked too."""
    assert detect_crisis("Nimefungiwa ndani", "I am locked in") is not None


def test_every_supported_language_has_crisis_lists_and_tests() -> None:
    assert set(LANGUAGES) <= set(crisis_languages())
    assert set(LANGUAGES) <= set(TRIGGERS)
