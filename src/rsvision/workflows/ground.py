"""``rsvision ground``: the box (and map polygon) of the object a phrase refers to, "the largest storage tank",
"the leftmost tree", "the water in the top right of the image".

Candidates come from the toolkit's own models for the class the phrase names: tree crowns from the detector,
connected land-cover regions from the segmenter, and for any other class (or none) the scene's windows ranked by the
dual encoder against the phrase (:func:`rsvision.workflows.search.search_scene`). The phrase's attributes then pick
one: a half ("on the left") or a 3x3 cell ("in the top right of the image") keeps the candidates centred there; a
size ("largest", "smallest") or an extreme position ("leftmost", "topmost" ...) orders them; without either, the
best-scoring candidate wins. No candidate: no box, with the reason.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

from rsvision.core.progress import progress_bar
from rsvision.datasets.base import Dataset
from rsvision.errors import EvaluationError
from rsvision.geometry import boxes_to_polygons
from rsvision.io import open_scene
from rsvision.io.scene import Scene
from rsvision.io.writers import write_vectors
from rsvision.metrics.grounding import GroundingMetric
from rsvision.models.embedder import load_embedder
from rsvision.workflows.ask import canonical_class, detect_trees, segment_landcover
from rsvision.workflows.polygons import class_polygons
from rsvision.workflows.question_parser import LANDCOVER, SYNONYMS
from rsvision.workflows.search import search_scene

SIZES = {"largest": "max", "biggest": "max", "smallest": "min", "tiniest": "min"}
EXTREMES = {
    "leftmost": ("x", "min"),
    "rightmost": ("x", "max"),
    "topmost": ("y", "min"),
    "uppermost": ("y", "min"),
    "bottommost": ("y", "max"),
    "lowest": ("y", "max"),
}
HALVES = {"on the left": ("x", 0), "on the right": ("x", 1), "at the top": ("y", 0), "at the bottom": ("y", 1)}
CELL = re.compile(r"in the (top|bottom)?\s*(left|right)?\s*(center|centre)?\s*(?:of the image)?$")
_ROWS, _COLS = {"top": 0, None: 1, "bottom": 2}, {"left": 0, None: 1, "right": 2}


@dataclass(frozen=True)
class Referring:
    """What a phrase asks for: its class (canonical, or None), and the attributes that pick one candidate."""

    phrase: str
    target: str | None
    size: str | None = None  # "max" | "min"
    extreme: tuple[str, str] | None = None  # ("x" | "y", "min" | "max")
    half: tuple[str, int] | None = None  # ("x" | "y", 0 | 1)
    cell: tuple[int, int] | None = None  # (row, col) of a 3x3 grid


def parse_phrase(phrase: str) -> Referring:
    """The class and attributes named in ``phrase`` (lower-cased; unknown words are left to the dual encoder)."""
    text = " ".join(phrase.lower().replace("?", " ").replace(".", " ").split())
    size = next((v for k, v in SIZES.items() if re.search(rf"\b{k}\b", text)), None)
    extreme = next((v for k, v in EXTREMES.items() if re.search(rf"\b{k}\b", text)), None)
    half = next((v for k, v in HALVES.items() if k in text), None)
    cell = None
    if (m := CELL.search(text)) and any(m.groups()):
        cell = (_ROWS[m.group(1)], _COLS[m.group(2)])
    target = next((SYNONYMS[s] for s in sorted(SYNONYMS, key=len, reverse=True) if re.search(rf"\b{s}\b", text)), None)
    return Referring(phrase, target, size, extreme, half, cell)


@dataclass
class Candidates:
    """Boxes (N, 4) xyxy in scene pixels, their scores and areas (pixels), and the model that proposed them."""

    boxes: np.ndarray
    scores: np.ndarray
    areas: np.ndarray
    source: str


@dataclass
class Grounding:
    phrase: str
    box: list[float] | None
    score: float | None
    polygon: str | None  # WKT in the scene's CRS (pixels without a georeference)
    crs: str | None
    source: str
    reason: str = ""

    def as_json(self) -> dict:
        out = {"phrase": self.phrase, "box": self.box, "score": self.score, "polygon": self.polygon, "crs": self.crs}
        return out | {"source": self.source} | ({"reason": self.reason} if self.reason else {})


def candidates(scene: Scene, ref: Referring, workdir: Path, device: str = "cpu") -> Candidates:
    """Proposals for ``ref``'s class: detector boxes for trees, land-cover regions for a land-cover class, else the
    dual encoder's best windows for the phrase."""
    if ref.target == "tree":
        model, result = detect_trees(scene, device)
        boxes = result.detections.boxes.reshape(-1, 4)
        return Candidates(boxes, result.detections.scores, _areas(boxes), model)
    if ref.target in LANDCOVER:
        return _landcover_regions(scene, ref.target, workdir, device)
    embedder = load_embedder(None, needed_by="ground", device=device)
    query = embedder.embed_texts([ref.phrase])[0]
    side = max(scene.width, scene.height)
    hits = search_scene(scene, embedder, query, k=20, coarse=max(64, side // 2), fine=max(32, side // 6)).hits
    boxes = np.array([[c, r, c + w, r + h] for c, r, w, h in (h.entry.window for h in hits)], np.float64)
    return Candidates(boxes.reshape(-1, 4), np.array([h.score for h in hits]), _areas(boxes), embedder.name)


def _landcover_regions(scene: Scene, target: str, workdir: Path, device: str) -> Candidates:
    loaded, result = segment_landcover(scene, workdir / "landcover.tif", device)
    ids = [i for i, c in enumerate(loaded.weights.classes) if canonical_class(c) == target]
    return class_regions(result.class_map, ids, scene, loaded.weights.name)


def class_regions(class_map: Path, ids: list[int], scene: Scene, source: str) -> Candidates:
    """The connected regions of the class values ``ids`` in ``class_map`` (on ``scene``'s grid) as candidates:
    their bounding boxes in scene pixels and their areas in pixels."""
    geoms, _, _ = class_polygons(class_map, keep=ids)
    inverse = ~scene.transform
    boxes, areas = [], []
    for g in geoms:
        x0, y0, x1, y1 = g.bounds
        (c0, r0), (c1, r1) = inverse @ (x0, y1), inverse @ (x1, y0)
        boxes.append([min(c0, c1), min(r0, r1), max(c0, c1), max(r0, r1)])
        areas.append(g.area / abs(scene.transform.a * scene.transform.e))
    boxes_arr = np.array(boxes, np.float64).reshape(-1, 4)
    return Candidates(boxes_arr, np.ones(len(boxes_arr)), np.array(areas, np.float64), source)


def _areas(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def pick(cands: Candidates, ref: Referring, width: int, height: int) -> int | None:
    """The index of the candidate ``ref`` refers to, or None when none is left after the position filters."""
    if len(cands.boxes) == 0:
        return None
    centre = np.stack([(cands.boxes[:, 0] + cands.boxes[:, 2]) / 2, (cands.boxes[:, 1] + cands.boxes[:, 3]) / 2], 1)
    keep = np.ones(len(centre), bool)
    if ref.half is not None:
        axis, side = ref.half
        k, extent = (0, width) if axis == "x" else (1, height)
        keep &= (centre[:, k] < extent / 2) if side == 0 else (centre[:, k] >= extent / 2)
    if ref.cell is not None:
        row, col = ref.cell
        keep &= np.minimum((centre[:, 1] * 3 // height), 2) == row
        keep &= np.minimum((centre[:, 0] * 3 // width), 2) == col
    index = np.flatnonzero(keep)
    if len(index) == 0:
        return None
    if ref.size is not None:
        values = cands.areas[index]
        return int(index[np.argmax(values) if ref.size == "max" else np.argmin(values)])
    if ref.extreme is not None:
        axis, how = ref.extreme
        values = centre[index, 0 if axis == "x" else 1]
        return int(index[np.argmin(values) if how == "min" else np.argmax(values)])
    return int(index[np.argmax(cands.scores[index])])


def ground_scene(scene: Scene, phrase: str, workdir: Path, device: str = "cpu") -> Grounding:
    ref = parse_phrase(phrase)
    cands = candidates(scene, ref, workdir, device)
    chosen = pick(cands, ref, scene.width, scene.height)
    if chosen is None:
        what = ref.target or "anything"
        reason = (
            f"{cands.source} found no {what} here"
            if len(cands.boxes) == 0
            else f"none of the {len(cands.boxes)} {what} candidates of {cands.source} lies where the phrase says"
        )
        return Grounding(phrase, None, None, None, None, cands.source, reason)
    box = cands.boxes[chosen]
    polygon = boxes_to_polygons(box[None], scene.transform if scene.georeferenced else None)[0]
    crs = scene.crs.to_string() if scene.georeferenced else None
    return Grounding(
        phrase, [round(float(v), 2) for v in box], round(float(cands.scores[chosen]), 4), polygon.wkt, crs, cands.source
    )


def ground(
    scene: str | os.PathLike, phrase: str, output: str | os.PathLike | None = None, device: str = "cpu"
) -> Grounding:
    """Ground ``phrase`` in ``scene``; with ``output`` (.gpkg, .geojson) the box's polygon is written there too."""
    if not phrase.strip():
        raise EvaluationError("the phrase is empty: say what to find, e.g. 'the largest storage tank'")
    with tempfile.TemporaryDirectory(prefix="rsvision-ground-") as work:
        result = ground_scene(open_scene(scene), phrase, Path(work), device)
    if output is not None and result.polygon is not None:
        write_vectors(
            output,
            [shapely.from_wkt(result.polygon)],
            {"phrase": [phrase], "score": [result.score], "source": [result.source]},
            crs=result.crs,
        )
    return result


def evaluate_grounder(dataset: Dataset, device: str = "cpu", progress: bool = False) -> dict:
    """Grounding keys (``acc_at_0.5``, ``miou``) of the grounder on an RSVG-layout dataset, plus ``no_box`` (the share
    of phrases it found no box for; they count as IoU 0) and ``n_expressions``."""
    metric, missing = GroundingMetric(), 0
    with progress_bar(enabled=progress) as bar, tempfile.TemporaryDirectory(prefix="rsvision-ground-") as work:
        task = bar.add_task(f"grounding {len(dataset)} phrases", total=len(dataset))
        for n, sample in enumerate(dataset):
            if sample.image is None:
                raise EvaluationError(f"{dataset.root}: expression {sample.id} has no image file")
            folder = Path(work) / str(n)
            folder.mkdir()
            result = ground_scene(open_scene(sample.image), sample.targets["phrase"], folder, device)
            missing += result.box is None
            box = np.array([result.box if result.box else [0, 0, 0, 0]], np.float64)
            metric.update(box, sample.targets["boxes"].reshape(1, 4))
            bar.advance(task)
    return metric.compute() | {"no_box": missing / max(1, len(dataset)), "n_expressions": len(dataset)}
