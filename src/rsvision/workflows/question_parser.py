"""The question parser of ``rsvision ask``: turns a question about an image into a structured request (`Parsed`)
that the answerer runs the toolkit's models for, or says what it did not understand (`Unparsed`).

It is strict on purpose: a question is matched against a handful of fixed forms, in order, the first match wins,
and each target phrase must name a class the toolkit's models know (through `SYNONYMS`). Anything else is refused
with a reason, never guessed, since a guessed question gets a confident answer to something the user did not ask.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass

# Canonical target -> the phrases that name it (lower case). Land cover: the segmenter's classes, measured as area.
LANDCOVER: dict[str, tuple[str, ...]] = {
    "water": ("water", "lake", "lakes", "sea", "river", "rivers", "pond", "ponds"),
    "land": ("land", "bare land", "bare soil", "sand", "desert", "ground"),
    "road": ("road", "roads", "street", "streets"),
    "building": ("building", "buildings", "house", "houses", "built-up area", "built-up areas"),
    "vegetation": ("vegetation", "grass", "green area", "green areas", "park", "parks", "forest"),
}

# Objects: the tree-crown detector's class and the DOTA classes, counted.
OBJECTS: dict[str, tuple[str, ...]] = {
    "tree": ("tree", "trees", "tree crown", "tree crowns"),
    "plane": ("plane", "planes", "airplane", "airplanes", "aircraft"),
    "ship": ("ship", "ships", "boat", "boats"),
    "storage tank": ("storage tank", "storage tanks", "tank", "tanks"),
    "baseball diamond": ("baseball diamond", "baseball diamonds"),
    "tennis court": ("tennis court", "tennis courts"),
    "basketball court": ("basketball court", "basketball courts"),
    "ground track field": ("ground track field", "ground track fields"),
    "harbor": ("harbor", "harbors"),
    "bridge": ("bridge", "bridges"),
    "large vehicle": ("large vehicle", "large vehicles", "truck", "trucks", "bus", "buses"),
    "small vehicle": ("small vehicle", "small vehicles", "car", "cars", "vehicle", "vehicles"),
    "helicopter": ("helicopter", "helicopters"),
    "roundabout": ("roundabout", "roundabouts"),
    "soccer ball field": ("soccer ball field", "soccer ball fields"),
    "swimming pool": ("swimming pool", "swimming pools"),
}

# Phrase -> canonical target, the one lookup every target phrase goes through.
SYNONYMS: dict[str, str] = {
    phrase: target for table in (LANDCOVER, OBJECTS) for target, phrases in table.items() for phrase in phrases
}

# Buildings are counted as well as measured (the answerer counts the segmenter's building blobs); the rest of the
# land cover has no sensible count ("how many roads?"), so such a question is refused rather than guessed.
_COUNTABLE = {*OBJECTS, "building"}

_EXAMPLES = {
    "presence": "is there water?",
    "comparison": "is there more road than vegetation?",
    "count": "how many trees are there? / are there more than 10 trees?",
    "area": "what share of the image is water?",
    "change": "has anything changed? (given a before image)",
    "scene": "what kind of scene is this?",
    "rural_urban": "is this a rural or urban area?",
}

# fmt: off
_NUMBER_WORDS = (
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty",
)
# fmt: on
_NUMBERS = {word: float(i) for i, word in enumerate(_NUMBER_WORDS, start=1)}

# Comparison and count words -> relation; only the first word of "more than" etc. is looked up.
_RELATIONS = {
    "more": "more",
    "larger": "more",
    "bigger": "more",
    "greater": "more",
    "less": "less",
    "fewer": "less",
    "smaller": "less",
    "exactly": "equal",
}

_ARTICLE = r"(?:(?:a|an|any|some|the)\s+)?"
# Longest synonym first, so "ground track field" is not read as "ground" and "green areas" not as "green area".
_TARGET = re.compile(
    _ARTICLE
    + "("
    + "|".join(re.escape(p) for p in sorted(SYNONYMS, key=len, reverse=True))
    + r")(?:\s+areas?)?"  # "the water area"
)
_BARE_WORD = re.compile(_ARTICLE + r"(.*?)(?:\s+areas?)?")
_SUFFIX = re.compile(r"\s+(?:in (?:the|this) (?:image|scene|picture)|here)$")
_PLACE = r"(?:it|this(?: image| scene| area| place)?|the (?:image|scene|area|place))"


@dataclass(frozen=True)
class Parsed:
    """A question the toolkit can answer: its kind, its target(s) and, for comparisons and counts, the relation."""

    type: str  # "presence" | "comparison" | "count" | "area" | "change" | "scene" | "rural_urban"
    subject: str | None  # canonical target; None for scene, rural_urban and a change question about anything
    other: str | None = None  # comparison's second target
    relation: str | None = None  # comparison: more/less; count: more/less/equal; change: share; rural_urban
    number: float | None = None  # a count's threshold: "are there more than 10 trees?" -> 10

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Unparsed:
    """A question the parser did not understand: ``reason`` says what and lists what can be asked (one line)."""

    reason: str


class _NotUnderstood(Exception):
    """A form matched but its target did not make sense; the message is the first part of the reason."""


def describe_capabilities() -> str:
    """One line naming every question kind with an example and every known target: the end of each reason."""
    kinds = ", ".join(f"{kind} ('{example}')" for kind, example in _EXAMPLES.items())
    return (
        f"It can answer: {kinds}; it knows land cover: {', '.join(LANDCOVER)}; objects: {', '.join(OBJECTS)} "
        f"(and synonyms such as lake, forest, house, car, truck, boat)."
    )


def _target(phrase: str) -> str:
    match = _TARGET.fullmatch(phrase)
    if match is None:
        raise _NotUnderstood(f"{_word(phrase)!r} is not a class the toolkit knows")
    return SYNONYMS[match[1]]


def _word(phrase: str) -> str:
    """The phrase as the user meant it, without its article: what a reason quotes."""
    return _BARE_WORD.fullmatch(phrase)[1]


def _area_target(phrase: str) -> str:
    target = _target(phrase)
    # Area is a land-cover fact: trees cover the segmenter's Vegetation class; as objects they are only counted.
    if target == "tree":
        return "vegetation"
    if target not in LANDCOVER:
        raise _NotUnderstood(
            f"area is measured for land cover ({', '.join(LANDCOVER)}), not for {_word(phrase)!r} ({target}, an object)"
        )
    return target


def _countable(phrase: str) -> str:
    target = _target(phrase)
    if target not in _COUNTABLE:
        raise _NotUnderstood(
            f"{_word(phrase)!r} ({target}) is land cover, measured as a share of the image, not counted"
        )
    return target


def _number(word: str) -> float:
    return _NUMBERS[word] if word in _NUMBERS else float(word)


def _relation(word: str) -> str:
    return _RELATIONS[word.split()[0]]


def _form(*patterns: str) -> tuple[re.Pattern[str], ...]:
    """Compile a question form's wordings, each on its own (a regex names a group once); {x} and {y} stand for
    target phrases, {n} for a number, {place} for "this area" and the like."""
    phrase = r"(?P<{}>[a-z][a-z -]*?)"
    number = r"(?P<n>\d+(?:\.\d+)?|" + "|".join(_NUMBER_WORDS) + ")"
    fill = {"x": phrase.format("x"), "y": phrase.format("y"), "n": number, "place": _PLACE}
    return tuple(re.compile(pattern.format(**fill)) for pattern in patterns)


def _change_of(m: re.Match[str]) -> Parsed:
    return Parsed("change", _target(m["x"]))


def _count_than(m: re.Match[str]) -> Parsed:
    return Parsed("count", _countable(m["x"]), relation=_relation(m["rel"]), number=_number(m["n"]))


def _compare(m: re.Match[str]) -> Parsed:
    return Parsed("comparison", _target(m["x"]), other=_target(m["y"]), relation=_relation(m["rel"]))


def _compare_area(m: re.Match[str]) -> Parsed:
    return Parsed("comparison", _area_target(m["x"]), other=_area_target(m["y"]), relation=_relation(m["rel"]))


def _bad_number(m: re.Match[str]) -> Parsed:
    # Without this, presence would take "more than a dozen trees" for an unknown target and say so, misleadingly.
    raise _NotUnderstood(f"the number in {m['rest']!r} is not understood (write it in digits or as one to twenty)")


def _count(m: re.Match[str]) -> Parsed:
    return Parsed("count", _countable(m["x"]))


def _area(m: re.Match[str]) -> Parsed:
    return Parsed("area", _area_target(m["x"]))


def _presence(m: re.Match[str]) -> Parsed:
    return Parsed("presence", _target(m["x"]))


def _rural_urban(m: re.Match[str]) -> Parsed:
    return Parsed("rural_urban", None, relation=m.groupdict().get("r"))


_SHARE = r"(?:share|fraction|percentage|percent|proportion|part)"

# Order matters, the first match wins: change, counts with a number and comparisons come before presence, whose
# "is there {x}" would otherwise read "is there any change" or "are there more than 10 trees" as a target.
_FORMS: list[tuple[tuple[re.Pattern[str], ...], Callable[[re.Match[str]], Parsed]]] = [
    (
        _form(rf"what {_SHARE} of the (?:image|scene|area) (?:has )?changed"),
        lambda m: Parsed("change", None, relation="share"),
    ),
    (
        _form(
            r"(?:has|did) anything change(?:d)?|(?:is there|has there been) (?:any )?change"
            r"|what (?:has )?changed|how much (?:has )?changed"
        ),
        lambda m: Parsed("change", None),
    ),
    (
        _form(
            r"(?:have|has) (?:any )?new {x} (?:appeared|been built|been added)",
            r"(?:were|was) (?:any )?(?:new )?{x} (?:built|constructed|added)",
            r"(?:are|is) there (?:any )?new {x}",
        ),
        _change_of,
    ),
    (_form(r"(?:are|is) there (?P<rel>more than|less than|fewer than|exactly) {n} {x}"), _count_than),
    (_form(r"(?:are|is) there (?:more than|less than|fewer than|exactly) (?P<rest>.+)"), _bad_number),
    (
        _form(
            r"(?:is|are) there (?P<rel>more|less|fewer) {x} than {y}",
            r"(?:is|are) there (?P<rel>more) {x} or (?:more )?{y}",
        ),
        _compare,
    ),
    (_form(r"(?:is|are) {x} (?P<rel>larger|bigger|greater|smaller) than {y}"), _compare_area),
    (
        _form(
            r"how many {x}(?: (?:are|is) there| (?:are|is) visible| can you see| do you see| can be seen)?",
            r"(?:what is the (?:number|count) of|count(?: all)?) {x}",
        ),
        _count,
    ),
    (
        _form(
            rf"(?:what {_SHARE} of|how much of) the (?:image|scene) is (?:covered by |covered with |made up of )?{{x}}",
            rf"what {_SHARE} is {{x}}",
            r"what is the (?:area|extent|coverage) of {x}",
            r"how (?:large|big) is {x}",
            r"how much {x} is there",
        ),
        _area,
    ),
    (
        _form(
            r"what (?:kind|type|sort) of (?:scene|place|area|image|landscape|land use) is (?:this|it|shown)"
            r"|what is (?:this|it)(?: place| area| image| scene)?|what does (?:the|this) (?:image|scene) show"
            r"|what is shown|what scene is this"
        ),
        lambda m: Parsed("scene", None),
    ),
    (
        _form(
            r"(?:is {place} )?(?:an? )?(?:rural|urban) or (?:an? )?(?:rural|urban)(?: area| place| scene)?",
            r"is {place} (?:an? )?(?P<r>rural|urban)(?: area| place| scene)?",
        ),
        _rural_urban,
    ),
    (
        _form(
            r"(?:is|are) (?:there )?{x} (?:present|visible)",
            r"(?:is|are) there {x}",
            r"does (?:the|this) (?:image|scene) (?:contain|show|have|include) {x}",
            r"(?:can|do) you see {x}",
        ),
        _presence,
    ),
]


def _normalise(text: str) -> str:
    """Lower case, single spaces, no trailing punctuation or "in the image"/"here" (they add nothing)."""
    question = " ".join(text.lower().split()).replace("what's", "what is").rstrip("?!. ")
    return _SUFFIX.sub("", question)


def parse_question(text: str) -> Parsed | Unparsed:
    """The structured request for ``text``, or an `Unparsed` whose reason says what was not understood."""
    question = _normalise(text)
    if not question:
        return Unparsed(f"The question is empty. {describe_capabilities()}")
    for patterns, build in _FORMS:
        match = next((m for p in patterns if (m := p.fullmatch(question))), None)
        if match is None:
            continue
        try:
            return build(match)
        except _NotUnderstood as problem:
            return Unparsed(f"{problem}. {describe_capabilities()}")
    return Unparsed(f"{question!r} is not a question the toolkit can answer. {describe_capabilities()}")
