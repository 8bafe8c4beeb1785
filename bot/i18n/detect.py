"""Offline language detection for short chat messages (English and Spanish lexicons).

Short phone messages defeat statistical detectors, so Haven scores the words it knows in
each natively supported language and a few orthographic cues (ñ, ¿, ¡, accented vowels).
The result says how much evidence there was, so the conversation's language only flips on
a clear, multi-word message (see ``bot.nlu.language``).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.i18n.text import LETTERS, fold, words

# Frequent function words and the chat vocabulary Haven's users actually type, accent-free.
_LEXICONS: dict[str, frozenset[str]] = {
    "en": frozenset(
        """
        a about after again all am an and any are as at be because been before being but by
        can cant can't could did didnt do does dont don't for from get got had has have he
        her here him his how i i'm im if in is isnt it it's its just know like me my need no
        not now of off ok okay on or our out please she so some than that the their them
        then there they this to too up us was we were what when where which who why will
        with would yes yeah yep you your you're hi hello hey thanks thank bye goodbye help
        want talk speak someone somebody anyone person people work job boss pay paid money
        passport papers lawyer police immigration danger safe scared afraid hurt kill
        leave home house place sleep food doctor hospital english language delete data
        chat bot robot human real morning night good evening sorry understand tell show
        menu options other change my name where am is are sure nope nah thx ty pls plz
        alone watching phone number call text hotline rights trafficking traffic forced
        threatened threaten locked keep took take give day days week go going gonna wanna
        """.split()
    ),
    "es": frozenset(
        """
        a al algo alguien ahora aqui asi ayuda ayudame ayudar bien bueno buenas buenos como
        con contigo cual cuando de del donde el ella ellos en entonces era es esa ese eso
        esta estan estas este esto estoy fue hay hola la las le les lo los mas me mi mis
        muy nada necesito no nos o otra otro para pero poco por porque puede puedo pues que
        quien quiero se si sin sobre soy su sus tambien te tengo tiene tienen todo todos tu
        tus un una uno usted ustedes y ya yo gracias adios chao hablar habla hablas hablo
        persona trabajo jefe patron pago pagan dinero pasaporte papeles abogado policia
        inmigracion migra peligro miedo seguro segura lastimar matar salir casa lugar
        dormir comida doctor hospital espanol idioma borrar borra datos eres robot humano
        real dia dias noche tarde manana perdon entiendo dime muestra menu opciones cambiar
        nombre claro nel neta oye sola solo mirando celular telefono numero llamar mensaje
        linea derechos trata obligan obligaron amenaza amenazan encerrada encerrado quitaron
        dar semana voy vamos q xq pq tmb ke k nadie mucho mucha estamos somos tenemos
        cuanto cuanta cuantos tarda tardan demora tiempo cuesta sirve pasa
        """.split()
    ),
}
_ORTHOGRAPHY = {"es": set("ñ¿¡áéíóú")}


@dataclass(frozen=True)
class Detection:
    """The most likely language of one message and how much evidence supports it."""

    language: str | None  # None when nothing recognisable was found
    confidence: float  # share of the evidence for ``language`` (0..1)
    evidence: int  # number of recognised words (plus orthographic cues)


def detect_language(text: str) -> Detection:
    """Detect English or Spanish from the words and spelling of a short message.

    Only words found in exactly one lexicon count as evidence ("no", "hospital" and
    "menu" are both English and Spanish and say nothing).
    """
    scores = {code: 0.0 for code in _LEXICONS}
    for token in words(text):
        owners = [code for code, lexicon in _LEXICONS.items() if token in lexicon]
        if len(owners) == 1:
            scores[owners[0]] += 1.0
    lowered = text.casefold()
    for code, marks in _ORTHOGRAPHY.items():
        if any(mark in lowered for mark in marks):
            scores[code] += 1.0
    total = sum(scores.values())
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    if total == 0 or (len(ranked) > 1 and ranked[0][1] == ranked[1][1]):
        return Detection(language=None, confidence=0.0, evidence=int(total))
    best, best_score = ranked[0]
    return Detection(language=best, confidence=best_score / total, evidence=int(total))


@dataclass(frozen=True)
class LanguageMention:
    """A language named in a message, and where (character offsets in the original text)."""

    language: str
    start: int
    end: int


def mentioned_language(
    text: str, names_by_code: dict[str, tuple[str, ...]]
) -> LanguageMention | None:
    """The language a user names ("en español por favor" → es at 3..10), if exactly one."""
    mentions = [
        LanguageMention(code, match.start(), match.end())
        for match in LETTERS.finditer(text)
        for code, names in names_by_code.items()
        if fold(match.group()) in names
    ]
    return mentions[0] if len({m.language for m in mentions}) == 1 else None
