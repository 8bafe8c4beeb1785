"""Offline language detection for short chat messages, in three steps.

1. **Script.** Arabic, Cyrillic, Devanagari, Ethiopic, Han, Hangul, Thai... letters say
   the language (or a few candidates) even in one word; letters peculiar to one language
   of a script (Persian پ, Ukrainian ї) settle most of the rest.
2. **English and Spanish lexicons.** Short phone messages defeat statistical detectors, so
   Haven scores the words it knows in its native languages and a few orthographic cues
   (ñ, ¿, ¡): "hola", "thx", "q onda" are read right where a model guesses.
3. **A statistical detector** (py3langid's naive Bayes model, offline, about 0.2 ms a
   message) for the other Latin-script languages and to split a script's candidates; it
   only names a language other than English or Spanish when it is sure.

The result says how much evidence there was, so the conversation's language only flips on
a clear, multi-word message (see ``bot.nlu.language``); non-Latin text always gets a
language, never "no text".
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

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
        cuanto cuanta cuantos tarda tardan demora tiempo cuesta sirve pasa socorro ola
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


def detect_lexicon(text: str) -> Detection:
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


# ----------------------------------------------------------------------------- scripts

# Unicode character-name prefixes of the scripts Haven's users write in.
_SCRIPT_PREFIXES = (
    ("ARABIC", "Arabic"), ("CYRILLIC", "Cyrillic"), ("DEVANAGARI", "Devanagari"),
    ("ETHIOPIC", "Ethiopic"), ("CJK", "Han"), ("HIRAGANA", "Japanese"),
    ("KATAKANA", "Japanese"), ("HANGUL", "Hangul"), ("THAI", "Thai"),
    ("GURMUKHI", "Gurmukhi"), ("BENGALI", "Bengali"), ("MYANMAR", "Myanmar"),
    ("KHMER", "Khmer"), ("LAO", "Lao"), ("HEBREW", "Hebrew"), ("GREEK", "Greek"),
    ("GEORGIAN", "Georgian"), ("ARMENIAN", "Armenian"), ("TAMIL", "Tamil"),
    ("TELUGU", "Telugu"), ("GUJARATI", "Gujarati"), ("SINHALA", "Sinhala"),
    ("LATIN", "Latin"),
)  # fmt: skip
# Letters only one language of a shared script uses (checked in this order).
_PECULIAR = {
    "Arabic": (("ps", set("ټډړږښځڅ")), ("ur", set("ٹڈڑںےۓ")), ("fa", set("پچژگکی"))),
    "Cyrillic": (("uk", set("іїєґ")), ("ru", set("ыэъё"))),
}
_PECULIAR_OR_DEFAULT = {"Arabic"}
_SCRIPT_DEFAULT = {"Arabic": "ar", "Cyrillic": "ru", "Devanagari": "hi", "Ethiopic": "am",
                   "Han": "zh", "Japanese": "ja"}  # fmt: skip


def _script_of(ch: str) -> str | None:
    name = unicodedata.name(ch, "")
    for prefix, script in _SCRIPT_PREFIXES:
        if name.startswith(prefix):
            return script
    return None


def dominant_script(text: str) -> str | None:
    """The script most of the letters are in (kana anywhere makes Han text Japanese)."""
    counts = Counter(s for ch in text if ch.isalpha() and (s := _script_of(ch)))
    if not counts:
        return None
    script = counts.most_common(1)[0][0]
    if script == "Han" and counts.get("Japanese"):
        return "Japanese"
    return script


# ------------------------------------------------------------------ statistical model

STATISTICAL_MIN_CONFIDENCE = 0.8  # below this, a Latin message is not read as a new language


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_pickled_model(MODEL_FILE, norm_probs=True)


def _ranking(text: str, candidates: tuple[str, ...]) -> list[tuple[str, float]]:
    """py3langid's ranking of ``candidates`` (those it knows), most likely first."""
    identifier = _identifier()
    known = [c for c in candidates if c in identifier.nb_classes]
    if len(known) <= 1:
        return [(c, 1.0) for c in known]
    identifier.set_languages(known)
    return [(str(code), float(p)) for code, p in identifier.rank(text)]


_VIETNAMESE = set("ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ")


@dataclass(frozen=True)
class Known:
    """What detection needs of one registry language."""

    script: str
    words: frozenset[str] = frozenset()


@lru_cache(maxsize=1)  # the registry is read once per process; detection runs per message
def _registry() -> dict[str, Known]:
    from bot.languages import REGISTRY

    return {code: Known(lang.script, lang.words) for code, lang in REGISTRY.items()}


def detect_language(text: str, known: dict[str, Known] | None = None) -> Detection:
    """The language of a message: script, then lexicons, then the statistical model.

    ``known``: the registry's languages (``bot.languages``); only those are ever returned.
    """
    known = known if known is not None else _registry()
    script = dominant_script(text)
    if script is None:
        return Detection(language=None, confidence=0.0, evidence=0)
    count = max(1, len(LETTERS.findall(text)))
    if script != "Latin":
        return _detect_in_script(text, script, known, count)
    return _detect_latin(text, known, count)


def _detect_latin(text: str, known: dict[str, Known], count: int) -> Detection:
    """English or Spanish by their lexicons unless another language's evidence is clear:
    its own everyday words, Vietnamese tone marks, or (three words or more) the model
    together with at least one of the language's words."""
    lexical = detect_lexicon(text)
    if "vi" in known and sum(ch in _VIETNAMESE for ch in text.casefold()) >= 1 + count // 4:
        return Detection(language="vi", confidence=1.0, evidence=count)
    tokens = words(text)
    others = {
        code: sum(t in k.words for t in tokens)
        for code, k in known.items()
        if k.script == "Latin" and code not in _LEXICONS and k.words
    }
    best = max(others, key=others.get, default=None)
    hits = others.get(best, 0) if best else 0
    if best and hits > lexical.evidence and list(others.values()).count(hits) == 1:
        return Detection(language=best, confidence=hits / (hits + lexical.evidence), evidence=hits)
    if len(tokens) < 3:
        return lexical
    candidates = tuple(code for code, k in known.items() if k.script == "Latin")
    ranking = _ranking(fold(text), candidates)
    if not ranking:
        return lexical
    guess, probability = ranking[0]
    if guess in _LEXICONS or probability < STATISTICAL_MIN_CONFIDENCE or lexical.evidence:
        return lexical
    if not others.get(guess):  # two signals: the model, and one of the language's own words
        return lexical
    return Detection(language=guess, confidence=probability, evidence=count)


def _detect_in_script(text: str, script: str, known: dict[str, Known], count: int) -> Detection:
    """A non-Latin message: its script's language, settled by peculiar letters or the model."""
    candidates = tuple(code for code, k in known.items() if k.script == script)
    if not candidates:
        return Detection(language=None, confidence=0.0, evidence=count)
    if len(candidates) == 1:
        return Detection(language=candidates[0], confidence=1.0, evidence=count)
    for code, letters in _PECULIAR.get(script, ()):
        if code in candidates and any(ch in letters for ch in text):
            return Detection(language=code, confidence=1.0, evidence=count)
    if script in _PECULIAR_OR_DEFAULT and _SCRIPT_DEFAULT[script] in candidates:
        # Persian, Urdu and Pashto almost always use a letter Arabic lacks: without one,
        # the message is Arabic (the model confuses short Arabic with Persian).
        return Detection(language=_SCRIPT_DEFAULT[script], confidence=0.9, evidence=count)
    ranking = _ranking(text, candidates)
    if ranking:
        guess, probability = ranking[0]
    else:  # none of the candidates is known to the model (Tigrinya beside Amharic)
        fallback = _SCRIPT_DEFAULT.get(script)
        guess, probability = (fallback if fallback in candidates else candidates[0]), 0.5
    return Detection(language=guess, confidence=probability, evidence=count)
