"""``rsvision ask``: a question about a scene answered in two stages, as the SAR RSVQA study found best: the question
is parsed (:mod:`rsvision.workflows.question_parser`), the toolkit's own models measure the facts it needs (land
cover shares from the segmenter, tree counts from the detector, the scene class from the classifier, change from
the change model or CVA given a before date), and the answer follows from those facts by fixed rules, each fact kept
as evidence (model, fact, value, and the regions it came from).

Rules, shared with the question generator (:mod:`rsvision.datasets.questions`) so generated answers and these agree:
a land-cover class "is there" from PRESENCE_MIN_SHARE of the labelled pixels on; shares are of the labelled
pixels; something "has changed" from PRESENCE_MIN_SHARE of the compared pixels on. A scene is urban when buildings
and roads together cover URBAN_MIN_SHARE of it (RSVQA's own rule counts OpenStreetMap buildings; ours measures the
segmenter's building and road cover). Buildings are counted as the connected regions the segmenter labels building.
A question the parser cannot map, or whose facts no built-in model gives, is answered "cannot answer" with the
reason (never a guess).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import rasterio

from rsvision.core.progress import progress_bar
from rsvision.datasets.base import Dataset
from rsvision.datasets.questions import COUNT_BINS, PRESENCE_MIN_SHARE, SHARE_BINS, count_bin, share_bin
from rsvision.errors import EvaluationError
from rsvision.io import open_scene
from rsvision.metrics.vqa import VQAMetric
from rsvision.models.change import default_change_model
from rsvision.models.classifier import load_classifier
from rsvision.models.resolve import LoadedModel, resolve_model
from rsvision.models.segmentation import segmenter_spec
from rsvision.models.weights import Task, resolve_weights
from rsvision.workflows.change import change_scenes
from rsvision.workflows.classify import classify_scene
from rsvision.workflows.detect import DetectResult, detect_scene, load_detector
from rsvision.workflows.polygons import class_polygons
from rsvision.workflows.question_parser import LANDCOVER, Parsed, Unparsed, parse_question
from rsvision.workflows.segment import SegmentResult, segment_scene

URBAN_MIN_SHARE = 0.15
CANNOT = "cannot answer"


@dataclass(frozen=True)
class Evidence:
    model: str
    fact: str
    value: Any

    def as_json(self) -> dict:
        return {"model": self.model, "fact": self.fact, "value": self.value}


@dataclass
class Answer:
    question: str
    type: str
    answer: str
    evidence: list[Evidence] = field(default_factory=list)
    reason: str = ""  # why it cannot be answered (empty when answered)
    value: float | None = None  # the exact number behind a count or share answer

    @property
    def answered(self) -> bool:
        return not self.reason

    def as_json(self) -> dict:
        out = {
            "question": self.question,
            "type": self.type,
            "answer": self.answer,
            "evidence": [e.as_json() for e in self.evidence],
        }
        return out | ({"reason": self.reason} if self.reason else {})


class CannotAnswer(Exception):
    """A fact the question needs that no built-in model (or the input) gives: its message says which."""


@dataclass(frozen=True)
class LandCover:
    model: str
    shares: dict[str, float]  # canonical class -> share of the labelled pixels
    pixels: dict[str, int]
    labelled: int
    pixel_area_m2: float | None
    class_map: Path


class Facts:
    """What the toolkit's models say about one scene (and its before date), each measured once, on first use,
    into ``workdir``."""

    def __init__(
        self,
        scene: str | os.PathLike,
        before: str | os.PathLike | None,
        workdir: str | os.PathLike,
        device: str = "cpu",
    ):
        self.path, self.before, self.workdir, self.device = Path(scene), before, Path(workdir), device
        self.scene = open_scene(scene)
        self.workdir.mkdir(parents=True, exist_ok=True)

    @cached_property
    def landcover(self) -> LandCover:
        return self._landcover(self.scene, "after")

    @cached_property
    def landcover_before(self) -> LandCover:
        return self._landcover(open_scene(self._before_path()), "before")

    def _landcover(self, scene, name: str) -> LandCover:
        bands = resolve_weights(segmenter_spec(None)).bands
        missing = [b for b in bands if b not in {n.lower() for n in scene.band_names}]
        if scene.count < len(bands) and missing:
            raise CannotAnswer(f"{scene.path} has no {', '.join(missing)} band: the land-cover model needs them")
        loaded, result = segment_landcover(scene, self.workdir / f"landcover_{name}.tif", self.device)
        pixels = {canonical_class(c): n for c, n in result.counts.items() if canonical_class(c)}
        labelled = max(1, sum(pixels.values()))
        res = scene.res if scene.georeferenced and not scene.crs.is_geographic else None
        area = abs(res[0] * res[1]) if res else None
        shares = {c: pixels.get(c, 0) / labelled for c in LANDCOVER}
        return LandCover(loaded.weights.name, shares, pixels, labelled, area, result.class_map)

    @cached_property
    def trees(self) -> tuple[str, int, list]:
        model, result = detect_trees(self.scene, self.device)
        boxes = result.detections.boxes[:20].round(1).tolist() if len(result.detections) else []
        return model, sum(result.counts.values()), boxes

    @cached_property
    def buildings(self) -> tuple[str, int]:
        cover = self.landcover
        ids = _class_ids(cover.class_map)
        geoms, _, _ = class_polygons(cover.class_map, keep=[ids["building"]]) if "building" in ids else ([], 0, 0)
        return cover.model, len(geoms)

    @cached_property
    def scene_class(self) -> tuple[str, str, float]:
        classifier = _scene_classifier()
        result = classify_scene(self.scene, classifier, self.workdir / "classes.tif", quiet=True)
        top, n = next(iter(result.counts.items()))
        return classifier.weights.name, top, n / max(1, sum(result.counts.values()))

    @cached_property
    def change(self) -> tuple[str, float, int]:
        before = open_scene(self._before_path())
        name = default_change_model(before.band_names, before.dtype, before.sensor)
        loaded = resolve_model(name, Task.CHANGE, "ask") if name else None
        result = change_scenes(
            before, self.scene, self.workdir / "change.tif", model=loaded, quiet=True, device=self.device
        )
        return (name or "cva"), result.changed / max(1, result.pixels), result.changed

    def _before_path(self) -> Path:
        if self.before is None:
            raise CannotAnswer("a change question needs the earlier image: give it with --before")
        return Path(self.before)


@lru_cache(maxsize=1)
def _landcover_model() -> LoadedModel:
    """The built-in land-cover model, loaded once per process: ``eval vqa`` measures thousands of images."""
    return resolve_model(segmenter_spec(None), Task.SEGMENTATION, "ask")


@lru_cache(maxsize=1)
def _scene_classifier():
    return load_classifier(None)


def segment_landcover(scene, output: Path, device: str = "cpu") -> tuple[LoadedModel, SegmentResult]:
    """The built-in land-cover model over ``scene`` into the class map ``output`` (what ask and ground measure)."""
    loaded = _landcover_model()
    return loaded, segment_scene(scene, loaded, output, device=device, quiet=True)


def detect_trees(scene, device: str = "cpu") -> tuple[str, DetectResult]:
    """The built-in tree-crown detector over ``scene``: its name and what it found (kept in memory)."""
    predictor, _ = load_detector(None, scene, device=device)
    return predictor.weights.name, detect_scene(scene, predictor, quiet=True)


def canonical_class(name: str) -> str | None:
    """A segmenter class name ("Land (unpaved area)", "Building") -> the parser's land-cover word, or None."""
    word = re.split(r"[\s(]", name.strip().lower(), maxsplit=1)[0]
    return word if word in LANDCOVER else None


def _class_ids(class_map: Path) -> dict[str, int]:
    with rasterio.open(class_map) as ds:
        names = json.loads(ds.tags().get("classes", "[]"))
    return {canonical_class(n): i for i, n in enumerate(names) if canonical_class(n)}


# --------------------------------------------------------------------------------------------- answering
def answer(question: str, facts: Facts) -> Answer:
    """The answer to ``question`` from ``facts``; "cannot answer" with the reason when it cannot be had."""
    parsed = parse_question(question)
    if isinstance(parsed, Unparsed):
        return Answer(question, "unknown", CANNOT, reason=parsed.reason)
    try:
        text, evidence, *value = _RULES[parsed.type](parsed, facts, question)
    except CannotAnswer as why:
        return Answer(question, parsed.type, CANNOT, reason=str(why))
    return Answer(question, parsed.type, text, evidence, value=value[0] if value else None)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _cover_fact(cover: LandCover, cls: str) -> Evidence:
    value: dict[str, Any] = {"share": round(cover.shares[cls], 4), "pixels": cover.pixels.get(cls, 0)}
    if cover.pixel_area_m2:
        value["area_m2"] = round(cover.pixels.get(cls, 0) * cover.pixel_area_m2, 1)
    return Evidence(cover.model, f"{cls} cover (share of {cover.labelled:,} labelled pixels)", value)


def _count(facts: Facts, subject: str) -> tuple[int, Evidence]:
    if subject == "tree":
        model, n, boxes = facts.trees
        return n, Evidence(model, "tree crowns detected", {"count": n, "boxes": boxes})
    if subject == "building":
        model, n = facts.buildings
        return n, Evidence(model, "connected regions labelled building", {"count": n})
    raise CannotAnswer(f"no built-in model counts {subject}s (the built-in detector finds tree crowns)")


def _presence(p: Parsed, facts: Facts, question: str):
    if p.subject in LANDCOVER:
        cover = facts.landcover
        return _yes(cover.shares[p.subject] >= PRESENCE_MIN_SHARE), [_cover_fact(cover, p.subject)]
    n, fact = _count(facts, p.subject)
    return _yes(n > 0), [fact]


def _comparison(p: Parsed, facts: Facts, question: str):
    if p.subject in LANDCOVER and p.other in LANDCOVER:
        cover = facts.landcover
        a, b = cover.shares[p.subject], cover.shares[p.other]
        evidence = [_cover_fact(cover, p.subject), _cover_fact(cover, p.other)]
    else:
        (a, fa), (b, fb) = _count(facts, p.subject), _count(facts, p.other)
        evidence = [fa, fb]
    if " or " in question.lower():  # "is there more X or Y?": name the one
        return (p.subject if a >= b else p.other), evidence
    return _yes(a > b if p.relation == "more" else a < b), evidence


def _count_rule(p: Parsed, facts: Facts, question: str):
    n, fact = _count(facts, p.subject)
    if p.relation is None:
        return str(n), [fact], n
    return _yes({"more": n > p.number, "less": n < p.number, "equal": n == p.number}[p.relation]), [fact]


def _area(p: Parsed, facts: Facts, question: str):
    if p.subject not in LANDCOVER:
        raise CannotAnswer(f"an area is measured for land cover ({', '.join(LANDCOVER)}), not {p.subject}")
    cover = facts.landcover
    share = cover.shares[p.subject]
    return f"{round(100 * share)}%", [_cover_fact(cover, p.subject)], share


def _change(p: Parsed, facts: Facts, question: str):
    if p.subject is None:
        model, share, changed = facts.change
        fact = Evidence(
            model, "changed pixels (share of the compared pixels)", {"share": round(share, 4), "pixels": changed}
        )
        if p.relation == "share" or question.lower().startswith("how much"):
            return f"{round(100 * share)}%", [fact], share
        return _yes(share >= PRESENCE_MIN_SHARE), [fact]
    if p.subject not in LANDCOVER:
        raise CannotAnswer(f"change of {p.subject}s needs a detector of them on both dates; none is built in")
    after, before = facts.landcover, facts.landcover_before
    gained = after.shares[p.subject] - before.shares[p.subject]
    evidence = [_cover_fact(before, p.subject), _cover_fact(after, p.subject)]
    return _yes(gained >= PRESENCE_MIN_SHARE), evidence


def _scene(p: Parsed, facts: Facts, question: str):
    model, top, share = facts.scene_class
    return top, [Evidence(model, "scene class (share of the scene's tiles)", {"class": top, "share": round(share, 3)})]


def _rural_urban(p: Parsed, facts: Facts, question: str):
    cover = facts.landcover
    built = cover.shares["building"] + cover.shares["road"]
    urban = built >= URBAN_MIN_SHARE
    evidence = [_cover_fact(cover, "building"), _cover_fact(cover, "road")]
    if p.relation is None:
        return ("urban" if urban else "rural"), evidence
    return _yes(urban if p.relation == "urban" else not urban), evidence


_RULES = {
    "presence": _presence,
    "comparison": _comparison,
    "count": _count_rule,
    "area": _area,
    "change": _change,
    "scene": _scene,
    "rural_urban": _rural_urban,
}


def ask(
    scene: str | os.PathLike, question: str, before: str | os.PathLike | None = None, device: str = "cpu"
) -> Answer:
    """Answer ``question`` about ``scene`` (a path ``open_scene`` reads; ``before``: the earlier date for change)."""
    with tempfile.TemporaryDirectory(prefix="rsvision-ask-") as work:
        return answer(question, Facts(scene, before, work, device))


# --------------------------------------------------------------------------------------------- evaluation
def as_label(reply: Answer, truth: str) -> str:
    """The two-stage answer in the form of the dataset's answer: a count or a share is put in the bin of COUNT_BINS
    / SHARE_BINS that the truth uses, by the generator's own binning of its exact value (not the rounded percent),
    so "37" meets "between 11 and 50"; anything else is compared as it is."""
    if reply.value is not None and truth in COUNT_BINS:
        return count_bin(int(reply.value))
    if reply.value is not None and truth in SHARE_BINS:
        return share_bin(reply.value)
    return reply.answer


def evaluate_two_stage(
    dataset: Dataset, device: str = "cpu", progress: bool = False, limit: int | None = None
) -> dict[str, Any]:
    """VQA keys (``accuracy``, ``accuracy_<type>``, ``average_accuracy``) of the two-stage answerer on an RSVQA-layout
    dataset: each image's facts are measured once for all its questions (``limit``: the first ``limit`` images),
    plus ``cannot_answer`` (the share answered "cannot answer") and ``n_questions``. Numeric answers are binned as the
    dataset's answers are (:func:`as_label`); a share of the image is by the exact share, not the rounded percent."""
    by_image: dict[str, list] = {}
    for sample in dataset:
        by_image.setdefault(str(sample.meta.get("img_id")), []).append(sample)
    images = list(by_image.items())[:limit]
    metric, cannot = VQAMetric(), 0
    with progress_bar(enabled=progress) as bar, tempfile.TemporaryDirectory(prefix="rsvision-vqa-") as work:
        task = bar.add_task(f"answering the questions of {len(images)} images", total=len(images))
        for n, (_, samples) in enumerate(images):
            if samples[0].image is None:
                raise EvaluationError(f"{dataset.root}: question {samples[0].id} has no image file")
            facts = Facts(samples[0].image, samples[0].meta.get("before"), Path(work) / str(n), device)
            preds = [answer(s.targets["question"], facts) for s in samples]
            cannot += sum(not p.answered for p in preds)
            metric.update(
                [as_label(p, s.targets["answer"]) for p, s in zip(preds, samples)],
                [s.targets["answer"] for s in samples],
                [s.targets["type"] for s in samples],
            )
            bar.advance(task)
    out = {k: v for k, v in metric.compute().items() if k != "per_class"}
    return out | {"cannot_answer": cannot / max(1, metric.total), "n_questions": metric.total}
