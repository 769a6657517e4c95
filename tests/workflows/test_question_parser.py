"""`parse_question`: every question form maps to its `Parsed` request, synonyms resolve to canonical targets (trees
are counted as objects but measured as vegetation), and anything else is `Unparsed` with a reason naming the
problem and listing what can be asked."""

import dataclasses

import pytest

from rsvision.workflows.question_parser import (
    LANDCOVER,
    OBJECTS,
    SYNONYMS,
    Parsed,
    Unparsed,
    describe_capabilities,
    parse_question,
)

P = Parsed

PARSED = [
    # presence
    ("is there water?", P("presence", "water")),
    ("Are there any buildings?", P("presence", "building")),
    ("is there a road in the image?", P("presence", "road")),
    ("does the image contain ships?", P("presence", "ship")),
    ("can you see trees?", P("presence", "tree")),
    ("Is there a lake here?", P("presence", "water")),
    ("are there some cars in this scene", P("presence", "small vehicle")),
    ("are there trucks?", P("presence", "large vehicle")),
    ("is there a ground track field?", P("presence", "ground track field")),  # not "ground" (land)
    ("are there swimming pools?", P("presence", "swimming pool")),
    ("are boats visible?", P("presence", "ship")),
    # comparison
    ("is there more road than vegetation?", P("comparison", "road", other="vegetation", relation="more")),
    ("is there less water than land?", P("comparison", "water", other="land", relation="less")),
    ("are there more buildings than trees?", P("comparison", "building", other="tree", relation="more")),
    ("are there fewer cars than buses?", P("comparison", "small vehicle", other="large vehicle", relation="less")),
    ("is the water area larger than the road area?", P("comparison", "water", other="road", relation="more")),
    ("is the forest smaller than the built-up area?", P("comparison", "vegetation", other="building", relation="less")),
    ("is there more water or land?", P("comparison", "water", other="land", relation="more")),
    ("are there more houses or more trees?", P("comparison", "building", other="tree", relation="more")),
    # count
    ("how many trees are there?", P("count", "tree")),
    ("how many buildings?", P("count", "building")),
    ("what is the number of ships?", P("count", "ship")),
    ("count the storage tanks", P("count", "storage tank")),
    ("how many tree crowns can you see?", P("count", "tree")),
    ("are there more than 10 trees?", P("count", "tree", relation="more", number=10)),
    ("are there less than 5 planes?", P("count", "plane", relation="less", number=5)),
    ("are there fewer than seventeen aircraft?", P("count", "plane", relation="less", number=17)),
    ("are there exactly three ships?", P("count", "ship", relation="equal", number=3)),
    ("Are there exactly 2 tennis courts in this image?", P("count", "tennis court", relation="equal", number=2)),
    # area: trees are vegetation when measured
    ("what share of the image is water?", P("area", "water")),
    ("what fraction of the image is trees?", P("area", "vegetation")),
    ("what percentage of the image is forest?", P("area", "vegetation")),
    ("what proportion of the image is bare soil?", P("area", "land")),
    ("how much of the image is covered by buildings?", P("area", "building")),
    ("what is the area of water?", P("area", "water")),
    ("how large is the vegetation area?", P("area", "vegetation")),
    ("what percentage is road?", P("area", "road")),
    ("how much sand is there?", P("area", "land")),
    ("what share of the image is green areas?", P("area", "vegetation")),
    # change
    ("has anything changed?", P("change", None)),
    ("is there any change?", P("change", None)),
    ("what changed?", P("change", None)),
    ("how much has changed?", P("change", None)),
    ("what share of the image has changed?", P("change", None, relation="share")),
    ("have new buildings appeared?", P("change", "building")),
    ("were buildings built?", P("change", "building")),
    ("were any new roads built?", P("change", "road")),
    # scene
    ("what kind of scene is this?", P("scene", None)),
    ("what is this place?", P("scene", None)),
    ("What's this area?", P("scene", None)),
    ("what is this image?", P("scene", None)),
    ("what type of land use is this?", P("scene", None)),
    ("what does the image show?", P("scene", None)),
    # rural or urban
    ("is this a rural or urban area?", P("rural_urban", None)),
    ("is it urban?", P("rural_urban", None, relation="urban")),
    ("is this area rural?", P("rural_urban", None, relation="rural")),
    ("urban or rural?", P("rural_urban", None)),
]


@pytest.mark.parametrize(("question", "expected"), PARSED, ids=[q for q, _ in PARSED])
def test_parses(question, expected):
    assert parse_question(question) == expected


UNPARSED = [
    ("what colour is the car?", "'what colour is the car' is not a question"),
    ("who lives here?", "'who lives' is not a question"),
    ("is there a dragon?", "'dragon' is not a class the toolkit knows"),
    ("", "question is empty"),
    ("   ?  ", "question is empty"),
    ("is there more road than unicorns?", "'unicorns' is not a class"),
    ("how many roads are there?", "'roads' (road) is land cover"),  # a count of land cover would be a guess
    ("what share of the image is ships?", "not for 'ships' (ship, an object)"),  # objects are counted, not measured
    ("are there more than a dozen trees?", "the number in 'a dozen trees' is not understood"),
    ("is the car red?", "is not a question"),
    ("have new dragons appeared?", "'dragons' is not a class"),
]


@pytest.mark.parametrize(("question", "problem"), UNPARSED, ids=[q or "empty" for q, _ in UNPARSED])
def test_refuses_with_a_reason(question, problem):
    result = parse_question(question)
    assert isinstance(result, Unparsed)
    assert problem in result.reason
    assert result.reason.endswith(describe_capabilities())
    assert "\n" not in result.reason


def test_capabilities_name_every_kind_and_target():
    text = describe_capabilities()
    for kind in ("presence", "comparison", "count", "area", "change", "scene", "rural_urban"):
        assert kind in text
    for target in (*LANDCOVER, *OBJECTS):
        assert target in text
    assert "\n" not in text


def test_synonyms_are_lower_case_unique_and_canonical():
    phrases = [p for table in (LANDCOVER, OBJECTS) for names in table.values() for p in names]
    assert len(phrases) == len(set(phrases)) == len(SYNONYMS)  # no phrase names two targets
    assert all(p == p.lower() for p in phrases)
    assert set(SYNONYMS.values()) == {*LANDCOVER, *OBJECTS}
    for target in (*LANDCOVER, *OBJECTS):
        assert SYNONYMS[target] == target  # every canonical name is also a phrase for itself


def test_as_dict_round_trips():
    parsed = parse_question("are there more than 10 trees?")
    as_dict = parsed.as_dict()
    assert list(as_dict) == [f.name for f in dataclasses.fields(Parsed)]
    assert as_dict == {"type": "count", "subject": "tree", "other": None, "relation": "more", "number": 10.0}
    assert Parsed(**as_dict) == parsed
