"""Rule-backed crisis detection: keyword and pattern lists per language (SAFETY.md 10-13).

Runs on every message before and independent of the NLU model's opinion. High recall is
the goal: when in doubt, escalate. Patterns match accent-free, lowercased text, so "está",
"esta" and "ESTÁ" are the same. Each pattern has a unit test per language.

The crisis *replies* are static reviewed text in ``domain.yml`` (``utter_crisis``), chosen
by ``crisis_type``; this module only decides whether and which.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.i18n.text import fold

# Most specific first: the first type with a match decides which topic line is added
# after 911 and the trafficking hotline.
CRISIS_TYPES = ("self_harm", "child_abuse", "domestic_violence", "danger")
DEFAULT_CRISIS_TYPE = "danger"

_PARTNER_EN = r"(?:husband|boyfriend|partner|wife|girlfriend|ex|spouse)"
_PARTNER_ES = r"(?:esposo|marido|pareja|novio|esposa|novia|ex|viejo|vieja)"
_CHILD_EN = r"(?:child|children|kid|kids|minor|minors|boy|girl|my son|my daughter|teen|teenager)"
_CHILD_ES = r"(?:nino|nina|ninos|ninas|menor|menores|mi hijo|mi hija|chamac[oa]s?|chic[oa]s?)"

_PATTERNS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "self_harm": (
            r"\b(?:kill|hurt|harm|cut) (?:my ?self|myself)\b",
            r"\bsuicid",
            r"\b(?:want|wanna|going) to die\b",
            r"\bwanna die\b",
            r"\bend (?:my|my own) life\b",
            r"\bend it all\b",
            r"\b(?:don'?t|do not|dont) want to (?:live|be alive)\b",
            r"\bno reason to live\b",
            r"\bbetter off dead\b",
            r"\btake my (?:own )?life\b",
            r"\bself[- ]?harm\b",
        ),
        "child_abuse": (
            rf"\b{_CHILD_EN}\b.{{0,40}}\b(?:abus\w*|in danger|being hurt|hurt|beaten|sold|"
            r"trafficked|exploited|molest\w*|raped)\b",
            r"\bchild (?:abuse|trafficking|porn\w*)\b",
            r"\b(?:selling|sell|sells|sold) (?:children|kids|girls|boys|minors)\b",
        ),
        "domestic_violence": (
            rf"\bmy {_PARTNER_EN} (?:hits|hit|beats|beat|hurts|hurt|chokes|choked|threatens|"
            r"threatened|abuses|abused|attacks|attacked)\b",
            r"\bdomestic (?:violence|abuse)\b",
        ),
        "danger": (
            r"\b(?:in|into) danger\b",
            r"\b(?:i'?m|i am|im|we'?re|we are) (?:not safe|unsafe)\b(?!\s+(?:to|for) )",
            r"\b(?:going to|gonna|will|want to|wants to|trying to|tried to) "
            r"(?:kill|hurt|beat|shoot|stab|rape) (?:me|us|my)\b",
            r"\b(?:kill|hurt|beat|shoot|stab|rape)s? me\b",
            r"\b(?:hitting|beating|hurting|choking|attacking|raping) me\b",
            r"\bthreat\w* to (?:kill|hurt|deport|harm)\b",
            r"\b(?:has|have|got|with) a (?:gun|knife|weapon|pistol)\b",
            r"\blocked (?:me |us )?(?:in|up|inside)\b",
            r"\b(?:won'?t|will not|don'?t|do not|dont) let (?:me|us) (?:leave|go|out)\b",
            r"\b(?:can'?t|cannot|cant) (?:leave|escape|get out|go out)\b",
            r"\b(?:trapped|kidnapped|abducted|held against my will|held captive)\b",
            r"\b(?:raped|rape|sexually assaulted|sexual assault)\b",
            r"\b(?:i'?m|i am|im) (?:hurt|bleeding|injured|being followed)\b",
            # "emergency" alone is a crisis; "emergency shelter" (a service) is not.
            r"\bemergency\b(?!\s+(?:shelters?|housing|food|assistance|cash|rent|funds?|"
            r"grants?|clothing|beds?)\b)",
            r"\bhelp me now\b|\bhelp!{2,}|\burgent help\b|\bsos\b|🆘",
            r"\b(?:they|he|she) (?:took|take|has|have) my (?:kids|children|son|daughter)\b",
        ),
    },
    "es": {
        "self_harm": (
            r"\b(?:me quiero|quiero|me voy a) (?:morir|matar|suicidar)\b",
            r"\b(?:quiero|voy a) (?:morirme|matarme|suicidarme)\b",
            r"\bsuicid",
            r"\bquitarme la vida\b",
            r"\b(?:no|ya no) quiero (?:vivir|seguir viviendo|estar viva|estar vivo)\b",
            r"\bacabar con mi vida\b",
            r"\b(?:hacerme dano|lastimarme|cortarme)\b",
            r"\bno tengo (?:razon|razones) para vivir\b",
        ),
        "child_abuse": (
            rf"\b{_CHILD_ES}\b.{{0,40}}\b(?:peligro|abus\w*|golpe\w*|vend\w*|explot\w*|"
            r"trata|lastim\w*|violad[oa]s?|maltrat\w*)\b",
            r"\b(?:abuso|maltrato) (?:infantil|de (?:ninos|menores))\b",
            r"\b(?:venden|vendieron|vende|vendiendo) (?:ninos|ninas|menores|chamacos|chamacas)\b",
        ),
        "domestic_violence": (
            rf"\bmi {_PARTNER_ES} me (?:pega|golpea|golpeo|pego|maltrata|amenaza|lastima|"
            r"ahorca|ataca|quiere matar)\b",
            r"\bviolencia (?:domestica|familiar|intrafamiliar)\b",
        ),
        "danger": (
            r"\b(?:en|bajo) peligro\b",
            r"\b(?:no estoy|no estamos) (?:segur[oa]s?|a salvo)\b",
            r"\bme (?:va|van|quiere|quieren) (?:a )?(?:matar|lastimar|golpear|pegar|violar)\b",
            r"\bnos (?:va|van|quiere|quieren) (?:a )?(?:matar|lastimar|golpear)\b",
            r"\bme (?:esta|estan) (?:golpeando|pegando|lastimando|siguiendo|ahorcando)\b",
            r"\bme (?:pega|golpea|pegan|golpean|mata|matan)\b",
            r"\bamenaz\w* (?:con|de) (?:matar|lastimar|deportar|hacerle dano)\b",
            r"\b(?:tiene|tienen|trae|traen) (?:un|una) (?:pistola|arma|cuchillo|navaja)\b",
            r"\b(?:me|nos) (?:tienen|tiene) (?:encerrad[oa]s?|atrapad[oa]s?|secuestrad[oa]s?)\b",
            r"\b(?:estoy|estamos) (?:encerrad[oa]s?|atrapad[oa]s?|secuestrad[oa]s?|herid[oa]s?)\b",
            r"\bno (?:me|nos) dejan (?:salir|ir)(?:me|nos)?\b",
            r"\bno (?:puedo|podemos) (?:salir|escapar|irme)\b",
            r"\b(?:me violaron|me violo|violacion|abuso sexual|me abusaron)\b",
            r"(?<!refugio de )(?<!albergue de )(?<!vivienda de )(?<!comida de )"
            r"(?<!ayuda de )(?<!cama de )(?<!refugios de )(?<!albergues de )\bemergencia\b",
            r"\b(?:auxilio|socorro|ayuda urgente|urgente ayuda)\b",
            r"\bestoy sangrando\b",
            r"\bme (?:quitaron|robaron) a mis (?:hijos|ninos)\b",
        ),
    },
}

_COMPILED: dict[str, list[tuple[str, re.Pattern[str]]]] = {
    language: [
        (crisis_type, re.compile(pattern))
        for crisis_type in CRISIS_TYPES
        for pattern in by_type.get(crisis_type, ())
    ]
    for language, by_type in _PATTERNS.items()
}


@dataclass(frozen=True)
class CrisisMatch:
    """A crisis found in a message: which kind, and which language's list matched."""

    crisis_type: str
    language: str


def detect_crisis(*texts: str) -> CrisisMatch | None:
    """Check every given text (the original and, for translated languages, the English pivot)
    against every language's lists; the first, most specific match wins."""
    folded = [fold(text) for text in texts if text]
    for crisis_type in CRISIS_TYPES:
        for language, patterns in _COMPILED.items():
            for pattern_type, pattern in patterns:
                if pattern_type == crisis_type and any(pattern.search(t) for t in folded):
                    return CrisisMatch(crisis_type=crisis_type, language=language)
    return None


def crisis_languages() -> tuple[str, ...]:
    """Languages with crisis lists (a test checks every supported language has one)."""
    return tuple(_PATTERNS)
