"""The two-stage answerer's rules against the question generator: on a planted land-cover map, every generated
question gets the generated answer; counts and shares meet the generator's bins; what cannot be answered says so."""

import numpy as np
import pytest

from rsvision.datasets.masks import DUBAI_COLORS
from rsvision.datasets.questions import box_questions, change_questions, mask_questions
from rsvision.workflows.ask import CANNOT, Facts, LandCover, answer, as_label, canonical_class

CLASSES = list(DUBAI_COLORS)


def planted_mask() -> np.ndarray:
    """100 x 100: water 30 %, buildings 20 % in three blocks, road 10 %, vegetation 0.2 %, bare land the rest."""
    idx = {canonical_class(c): i for i, c in enumerate(CLASSES) if canonical_class(c)}
    mask = np.full((100, 100), idx["land"], np.uint8)
    mask[:30] = idx["water"]
    mask[40:60, 0:30] = idx["building"]
    mask[40:60, 40:60] = idx["building"]
    mask[40:60, 70:100] = idx["building"]
    mask[70:80] = idx["road"]
    mask[95, :20] = idx["vegetation"]
    return mask


def planted_facts(tmp_path, writer, trees: int = 0, change: float | None = None) -> Facts:
    mask = planted_mask()
    pixels = {canonical_class(c): int((mask == i).sum()) for i, c in enumerate(CLASSES) if canonical_class(c)}
    shares = {c: n / mask.size for c, n in pixels.items()}
    facts = Facts.__new__(Facts)  # the facts a model would measure, planted: no scene, no model
    facts.__dict__["landcover"] = LandCover(
        "planted", shares, pixels, mask.size, None, writer(tmp_path / "classes.tif", mask)
    )
    facts.__dict__["trees"] = ("planted", trees, [])
    if change is not None:
        facts.__dict__["change"] = ("planted", change, int(change * 1e4))
    facts.before = None
    return facts


def test_generated_questions_get_the_generated_answers(tmp_path, class_map_writer):
    facts = planted_facts(tmp_path, class_map_writer)
    questions = mask_questions(planted_mask(), CLASSES, rng=np.random.default_rng(0))
    assert {q.type for q in questions} == {"presence", "comparison", "area"}
    for q in questions:
        reply = answer(q.question, facts)
        assert reply.answered, (q.question, reply.reason)
        assert as_label(reply, q.answer) == q.answer, (q.question, reply.answer, q.answer)
        assert reply.evidence and reply.evidence[0].model == "planted"


@pytest.mark.parametrize("n", [0, 1, 10, 11, 50, 51, 100, 101])
def test_counts_meet_the_generators_bins(tmp_path, class_map_writer, n):
    facts = planted_facts(tmp_path, class_map_writer, trees=n)
    for q in box_questions(n, "trees"):
        reply = answer(q.question, facts)
        assert as_label(reply, q.answer) == q.answer
    assert answer("how many trees are there?", facts).answer == str(n)  # digits
    assert answer("are there more than 10 trees?", facts).answer == ("yes" if n > 10 else "no")


@pytest.mark.parametrize("share", [0.0, 0.004, 0.006, 0.3])
def test_change_questions(tmp_path, class_map_writer, share):
    facts = planted_facts(tmp_path, class_map_writer, change=share)
    for q in change_questions(np.arange(10000).reshape(100, 100) < share * 10000):
        assert as_label(answer(q.question, facts), q.answer) == q.answer


def test_buildings_are_counted_as_regions_and_scenes_called_urban(tmp_path, class_map_writer):
    facts = planted_facts(tmp_path, class_map_writer)
    reply = answer("how many buildings are there?", facts)
    assert reply.answer == "3" and reply.evidence[0].value == {"count": 3}
    assert answer("is this a rural or urban area?", facts).answer == "urban"  # buildings + roads: 30 %
    assert answer("is there more water or road?", facts).answer == "water"
    assert answer("what share of the image is water?", facts).answer == "30%"


def test_what_it_cannot_answer_it_says(tmp_path, class_map_writer):
    facts = planted_facts(tmp_path, class_map_writer)
    for question, why in [
        ("what colour is the car?", "not a question"),
        ("is there a dragon?", "dragon"),
        ("how many ships are there?", "no built-in model counts ships"),
        ("has anything changed?", "--before"),
    ]:
        reply = answer(question, facts)
        assert reply.answer == CANNOT and not reply.answered and why in reply.reason
        assert reply.as_json()["reason"] == reply.reason
