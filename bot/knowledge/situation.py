"""What a message says about a person's situation: age, status, stage, cooperation.

A provider often states the whole case in one message ("my client is 17, from Guatemala,
no parents here: what can she get?"); a survivor may say "I am 30". This module reads those
facts deterministically, in English and Spanish, so that

- the eligibility road map asks only for what the message did not say
  (``bot.actions.roadmap``), and
- an age is read as a fact about the person: an adult age never opens the under-18 path
  (``bot.nlu.guard``).

It never guesses: a fact not written plainly stays unknown, and the road map asks for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from babel import Locale

from bot.i18n.text import fold
from bot.knowledge.roadmap import AGE, COOPERATION, STAGE, STATUS

ADULT_AGE = 18
_NUMBER = r"(\d{1,2})"
# "i am 30", "im 17", "i'm only 16", "she is 15", "client is 17", "tengo 25 años", "de 16 años",
# "16-year-old", "17 yrs old", "edad 40". Money, times and counts ("tengo 3 hijos") are not ages.
AGE_PATTERNS = (
    re.compile(
        r"\b(?:i am|i'm|im|iam|i m|she is|she's|shes|he is|he's|hes|they are|client is|"
        r"who is|is only|is just|am only|am just|age|aged|edad(?: de)?)\s+(?:only |just )?"
        + _NUMBER
        + r"(?!\s*(?:\$|%|dollars|dolares|usd|am\b|pm\b|:|h\b|hours|horas|days|dias|weeks|"
        r"semanas|months|meses|miles|millas|times|veces|kids|children|hijos|hijas))\b"
    ),
    re.compile(_NUMBER + r"\s*(?:-\s*)?(?:years?|yrs?|yr)(?:\s*-\s*|\s+)?old\b"),
    re.compile(r"\b" + _NUMBER + r"\s*(?:y/o|yo)\b"),
    re.compile(
        r"\b(?:tengo|tiene|tienen|cumpli|cumple)\s+" + _NUMBER + r"(?:\s*anos\b|\s*$|[.,!?])"
    ),
    re.compile(r"\b(?:de|con)\s+" + _NUMBER + r"\s*anos\b"),
    re.compile(r"\b" + _NUMBER + r"\s*anos de edad\b"),
)
MINOR_WORDS = re.compile(
    r"\b(?:under 18|under eighteen|underage|under age|minor|not 18|child|kid|teen|teenager|"
    r"menor de edad|menor de 18|menor|nina|nino|adolescente|chamaco|chamaca)\b"
)
ADULT_WORDS = re.compile(
    r"\b(?:over 18|18 or older|an adult|adult|adulto|adulta|mayor de edad|mayor de 18)\b"
)
NOT_CITIZEN = re.compile(
    r"\b(?:not a (?:us |u\.s\. )?citizen|non-?citizen|foreign national|foreign born|"
    r"undocumented|no papers|without papers|sin papeles|indocumentad[oa]|extranjer[oa]|"
    r"no es ciudadan[oa]|not (?:a )?citizen or lpr|immigrant|inmigrante)\b"
)
CITIZEN = re.compile(
    r"\b(?:us citizen|u\.s\. citizen|american citizen|born here|citizen|ciudadan[oa]"
    r"(?: americana?| estadounidense)?|nacio aqui)\b"
)
RESIDENT = re.compile(
    r"\b(?:green card|greencard|permanent resident|lpr|residente permanente|tarjeta verde|"
    r"mica|residencia permanente)\b"
)
STAGES = (
    ("t_bona_fide", re.compile(r"\b(?:bona ?fide|bonafide|bfd)\b")),
    (
        "t_approved",
        re.compile(
            r"\b(?:t ?visa (?:was |got |has been )?(?:approved|granted)|"
            r"(?:approved|granted|got|has|have|holds?) (?:a |the |her |his |their )?t ?visa|"
            r"t-1|visa t (?:aprobada|concedida)|(?:tiene|le dieron|recibio) (?:la )?visa t|"
            r"(?:le )?(?:aprobaron|concedieron|dieron) (?:la )?visa t)\b"
        ),
    ),
    ("continued_presence", re.compile(r"\b(?:continued presence|presencia continuada)\b")),
    (
        "certified",
        re.compile(
            r"\b(?:certification letter|already certified|was certified|got certified|"
            r"(?:has|have|got) (?:her |his |their |a |the )?certification|"
            r"carta de certificacion|ya (?:esta )?certificad[oa]|tiene (?:la )?certificacion)\b"
        ),
    ),
    ("none", re.compile(r"\b(?:no status|without status|sin estatus|sin estado legal)\b")),
)
NOT_COOPERATING = re.compile(
    r"\b(?:(?:not|isn't|isnt|won't|wont|doesn't|doesnt|does not|will not|refuses to|"
    r"don't|dont|can't|cant|unable to) (?:want to )?(?:cooperat\w*|talk to (?:the )?police|"
    r"work with (?:the )?police|report)|no (?:quiere )?(?:coopera\w*|colabora\w*|"
    r"hablar con (?:la )?policia|denunciar))\b"
)
COOPERATING = re.compile(
    r"\b(?:cooperat\w*|working with (?:the )?(?:police|fbi|hsi|law enforcement|detectives?)|"
    r"reported (?:it )?to (?:the )?(?:police|fbi|hsi)|filed a (?:police )?report|"
    r"coopera\w*|colabora\w*|denuncio|puso (?:una )?denuncia)\b"
)
CLIENT = re.compile(
    r"\b(?:my|our|a|the) clients?\b|\bclients?'s?\b|\b(?:mi|mis|nuestr[oa]s?|un[a]?) client[ea]s?\b"
)
FROM_PLACE = re.compile(r"\b(?:from|de|del)\s+([a-z][a-z ]{2,30})")


@dataclass(frozen=True)
class Situation:
    """The facts a message states plainly; None where it says nothing."""

    ages: tuple[int, ...] = ()
    age: str | None = None  # minor | adult
    status: str | None = None  # foreign_national | us_citizen | permanent_resident
    stage: str | None = None
    cooperation: str | None = None  # yes | no
    about_a_client: bool = False  # "my client…", "mi clienta…": a provider speaking

    @property
    def facts(self) -> int:
        """How many road map facts the message states."""
        return len(self.roadmap_answers())

    def roadmap_answers(self) -> dict[str, str]:
        """The road map answers this message gives (slot -> value)."""
        answers = {AGE: self.age, STATUS: self.status, STAGE: self.stage}
        answers[COOPERATION] = self.cooperation
        return {slot: value for slot, value in answers.items() if value}


@lru_cache(maxsize=1)
def _countries() -> frozenset[str]:
    """Country names in English and Spanish, folded (the US and its names left out)."""
    names = set()
    for language in ("en", "es"):
        for code, name in Locale(language).territories.items():
            if code.isalpha() and code not in ("US", "UM", "PR", "VI", "GU", "AS", "MP"):
                names.add(fold(name))
    return frozenset(names)


def stated_ages(text: str) -> tuple[int, ...]:
    """Every age the message states in years ("I am 30", "tengo 16 años")."""
    folded = fold(text)
    ages = []
    for pattern in AGE_PATTERNS:
        ages += [int(match.group(1)) for match in pattern.finditer(folded)]
    return tuple(age for age in ages if 0 < age < 100)


def read_situation(text: str) -> Situation:
    """The situation a message states: only what it says plainly."""
    folded = fold(text)
    ages = stated_ages(text)
    age = None
    if ages:
        age = "minor" if min(ages) < ADULT_AGE else "adult"
    elif MINOR_WORDS.search(folded):
        age = "minor"
    elif ADULT_WORDS.search(folded):
        age = "adult"
    status = None
    if RESIDENT.search(folded):
        status = "permanent_resident"
    elif NOT_CITIZEN.search(folded):
        status = "foreign_national"
    elif CITIZEN.search(folded):
        status = "us_citizen"
    else:
        countries = _countries()
        for match in FROM_PLACE.finditer(folded):
            words = match.group(1).split()
            if any(" ".join(words[:n]) in countries for n in (1, 2, 3)):
                status = "foreign_national"
                break
    stage = next((value for value, pattern in STAGES if pattern.search(folded)), None)
    if stage in ("t_bona_fide", "t_approved", "continued_presence") and status is None:
        status = "foreign_national"  # only foreign nationals hold these
    cooperation = None
    if NOT_COOPERATING.search(folded):
        cooperation = "no"
    elif COOPERATING.search(folded):
        cooperation = "yes"
    return Situation(
        ages=ages,
        age=age,
        status=status,
        stage=stage,
        cooperation=cooperation,
        about_a_client=bool(CLIENT.search(folded)),
    )


# What a person says about themselves that decides which services fit them (a men's
# shelter, a family shelter): first person only, so "a shelter for my sister" is a filter
# on the search, never a fact about the writer.
MAN_SELF = re.compile(
    r"\b(?:i am|i'm|im|i m) (?:a )?(?:man|guy|male|single man|father|dad)\b|"
    r"\bsoy (?:un )?(?:hombre|varon|padre|papa)\b"
)
WOMAN_SELF = re.compile(
    r"\b(?:i am|i'm|im|i m) (?:a )?(?:woman|female|single mom|single mother|mother|mom|"
    r"pregnant)\b|\bsoy (?:una )?(?:mujer|madre|mama)\b|\bestoy embarazada\b"
)
WITH_CHILDREN = re.compile(
    r"\b(?:(?:with|and) my (?:kids|children|child|son|daughter|sons|daughters|baby|babies)|"
    r"my (?:kids|children) and (?:i|me)|con mis (?:hijos|hijas|ninos|ninas|bebes)|"
    r"con mi (?:hijo|hija|bebe|nino|nina)|mis hijos y yo)\b"
)


def read_person(text: str) -> dict[str, str | bool]:
    """What the writer says about themselves: ``gender`` ("man"/"woman"),
    ``with_children`` (True); only the facts stated."""
    folded = fold(text)
    person: dict[str, str | bool] = {}
    if MAN_SELF.search(folded) and not WOMAN_SELF.search(folded):
        person["gender"] = "man"
    elif WOMAN_SELF.search(folded) and not MAN_SELF.search(folded):
        person["gender"] = "woman"
    if WITH_CHILDREN.search(folded):
        person["with_children"] = True
    return person
