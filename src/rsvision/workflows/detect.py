"""Object detection on a scene of any size: any :class:`~rsvision.tasks.base.BoxPredictor` streamed through the
engine (tiles with overlap, cut boxes giving way to whole ones, class-aware (rotated) NMS across tiles), written
as polygons in the scene's CRS, or in pixel coordinates as DOTA or COCO files.

Each box gets ``class_id``, ``class``, ``score``, ``area`` (square metres on a projected grid, geodesic square
metres on a geographic one, pixels without a georeference: :func:`rsvision.workflows.polygons.polygon_areas`) and
its le90 parameters in scene pixels, ``cx``, ``cy``, ``w``, ``h`` (pixels) and ``angle`` (radians). Horizontal
predictors give rectangles along the pixel grid, rotated ones rotated rectangles.

Output formats (``format``, else guessed from ``output``): ``gpkg``, ``geojson``, ``geoparquet`` (polygons in the
scene's CRS); ``dota``: a labelTxt file ``NAME.txt`` (8 pixel corners, class, difficult 0; scores are not part of
labelTxt) or, when ``output`` is an existing folder, DOTA task-1 results ``Task1_<class>.txt`` (with scores, the
scene's file stem as the image name); ``coco``: a COCO annotation JSON (one image, the categories, each box's
``bbox``, ``area`` in pixels, ``score``, and for rotated boxes its corners as ``segmentation``). Every output is
written beside its name and renamed when complete.

Boxes are kept in memory until the end (a few hundred bytes each), so the run does not checkpoint.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

from rsvision.bench.detection import voc_detection_scores
from rsvision.bench.plots import detection_preview
from rsvision.core.files import atomic_output, check_writable
from rsvision.core.progress import progress_bar
from rsvision.datasets.base import Dataset, Sample
from rsvision.datasets.dota import write_labeltxt, write_task1
from rsvision.engine import RunResult, run
from rsvision.errors import OutputError, RsvisionError
from rsvision.geometry import Detections, poly_area, poly_to_rbox, polygons_to_pixel, xyxy_to_rbox
from rsvision.io import Scene, open_scene
from rsvision.io.rgb import rgb_positions
from rsvision.io.vectors import VectorLayer
from rsvision.io.writers import vector_driver
from rsvision.models.detection import detector_spec
from rsvision.models.embedder import load_embedder
from rsvision.models.resolve import check_cards
from rsvision.models.weights import Task, resolve_weights
from rsvision.tasks.base import BoxPredictor
from rsvision.tasks.open_vocabulary import OpenVocabularyDetector
from rsvision.tasks.zero_shot import folder_class_words
from rsvision.workflows.polygons import polygon_areas

FORMATS = ("gpkg", "geojson", "geoparquet", "dota", "coco")
_SUFFIXES = {
    "gpkg": (".gpkg",),
    "geojson": (".geojson", ".json"),
    "geoparquet": (".parquet", ".geoparquet"),
    "dota": (".txt",),
    "coco": (".json",),
}
_GUESS = {".gpkg": "gpkg", ".geojson": "geojson", ".parquet": "geoparquet", ".geoparquet": "geoparquet"}
_GUESS |= {".txt": "dota", ".json": "coco"}


@dataclass
class DetectResult:
    """What :func:`detect_scene` found and wrote. ``layer``: the boxes as polygons in the scene's CRS with their
    columns; ``detections``: the same boxes in scene pixels (``rboxes`` for rotated predictors, else ``boxes``)."""

    output: Path | None
    format: str | None
    layer: VectorLayer
    detections: Detections
    class_names: list[str]
    preview: Path | None
    summary: str  # the engine's line: tiles, time, throughput

    @property
    def counts(self) -> dict[str, int]:
        """Boxes of each class, most first."""
        names, n = np.unique(self.layer.columns["class"], return_counts=True)
        order = np.argsort(-n, kind="stable")
        return {str(names[i]): int(n[i]) for i in order}

    def describe(self) -> str:
        """``12 tree, 3 car`` (or ``no objects``)."""
        return ", ".join(f"{n:,} {name}" for name, n in self.counts.items()) or "no objects"


def load_detector(
    model: str | None,
    scene: Scene | None = None,
    *,
    bands: Sequence[str] | None = None,
    score: float = 0.3,
    tile: int | None = None,
    device: str = "cpu",
) -> tuple[BoxPredictor, str]:
    """The box predictor of ``-m MODEL`` (a built-in name or a weights file; the built-in tree detector without
    it) for ``scene`` (its bands, renamed by ``bands`` as ``--bands`` does, chosen for the model), keeping boxes
    scoring ``score`` or more, and a note on how the bands were chosen (empty when they are the model's own)."""
    spec = detector_spec(model)
    check_cards(spec, Task.DETECTION, "detect")  # another task's model refused before any network is built
    # deferred: the detection task brings torchvision's detectors, which only a detection run needs
    from rsvision.tasks.detection import load_detector as build_detector

    of_scene = {}
    if scene is not None:
        of_scene = {"scene_bands": scene.bands, "dtype": scene.dtype, "sensor": scene.sensor, "where": str(scene.path)}
    return build_detector(spec, bands=bands, score=score, tile_size=tile, device=device, **of_scene)


def is_open_vocabulary(model: str | None, classes: Sequence[str] | None) -> bool:
    """``--classes`` without ``-m`` naming a class the built-in detector does not know: the dual encoder labels
    windows with them instead (:class:`~rsvision.tasks.open_vocabulary.OpenVocabularyDetector`)."""
    if not classes or model is not None:
        return False
    known = {c.lower() for c in resolve_weights(detector_spec(None)).classes}
    return any(c.lower() not in known for c in classes)


def open_vocabulary_detector(
    scene: Scene, classes: Sequence[str], *, score: float = 0.5, model: str | None = None, device: str = "cpu"
) -> OpenVocabularyDetector:
    """Windows of ``scene``'s red, green and blue bands labelled by the dual encoder ``model`` (the built-in one when
    None) as one of ``classes``."""
    embedder = load_embedder(model, needed_by="detect --classes", device=device)
    return OpenVocabularyDetector(embedder, classes, rgb_positions(scene), score=score, to_8bit=scene.dtype != "uint8")


def output_format(output: str | os.PathLike, format: str | None = None) -> str:
    """The format of ``output``: ``format`` after checking the suffix fits it, else guessed from the suffix (an
    existing folder: DOTA task-1 files). Refused in one line before any work."""
    path = Path(output)
    if format is not None and format not in FORMATS:
        raise OutputError(f"unknown format {format!r}; use {', '.join(FORMATS)}")
    if path.is_dir():
        if format not in (None, "dota"):
            raise OutputError(
                f"cannot write {path}: it is a folder (only --format dota writes Task1_<class>.txt files)"
            )
        return "dota"
    suffix = path.suffix.lower()
    if format is None:
        if suffix not in _GUESS:
            raise OutputError(f"cannot write {path}: unknown format {suffix or '(no suffix)'!r}; give --format")
        return _GUESS[suffix]
    if suffix not in _SUFFIXES[format]:
        raise OutputError(f"cannot write {path}: --format {format} writes {' or '.join(_SUFFIXES[format])} files")
    return format


def check_detect_outputs(output: str | os.PathLike | None, format: str | None, preview: str | os.PathLike | None):
    """The output's format (None without an output) after checking every output can be written."""
    fmt = None
    if output is not None:
        fmt = output_format(output, format)
        path = Path(output)
        if path.is_dir():
            if not os.access(path, os.W_OK):
                raise OutputError(f"cannot write into {path}: the folder is not writable")
        else:
            check_writable(path)
            if fmt in ("gpkg", "geojson", "geoparquet"):
                vector_driver(path)
    if preview is not None:
        if Path(preview).suffix.lower() != ".png":
            raise OutputError(f"cannot write {preview}: the preview is a PNG picture (--preview OUT.png)")
        check_writable(preview)
    return fmt


def detect_scene(
    scene: Scene | str | os.PathLike,
    predictor: BoxPredictor,
    output: str | os.PathLike | None = None,
    *,
    format: str | None = None,
    preview: str | os.PathLike | None = None,
    score: float | None = None,
    classes: Sequence[str] | None = None,
    tile: int | None = None,
    overlap: int = 64,
    batch: int = 4,
    threads: int | None = None,
    quiet: bool = False,
    runner: Callable[..., RunResult] | None = None,
) -> DetectResult:
    """Detect objects in ``scene`` with ``predictor`` and write them to ``output`` (None: kept in the result only).

    ``format``: ``gpkg``, ``geojson``, ``geoparquet``, ``dota`` or ``coco`` (guessed from ``output``'s suffix);
    ``preview``: a PNG of the scene with the boxes drawn; ``score``: drop merged boxes scoring under it;
    ``classes``: keep only these class names. Tiles are ``tile`` pixels (the predictor's size, else 512)
    overlapping by ``overlap``: an object is found whole when it fits in the overlap.

    ``runner``: the engine call (:func:`~rsvision.engine.run` by default; ``rsvision batch`` gives
    :func:`~rsvision.engine.blocks.run_on_blocks` for a huge scene).
    """
    fmt = check_detect_outputs(output, format, preview)
    scene = open_scene(scene) if isinstance(scene, (str, os.PathLike)) else scene
    names = _class_names(predictor)
    keep_ids = _class_filter(classes, names)
    if fmt == "dota":
        _check_dota_names(names, scene, output)
    size = tile or predictor.tile_size or 512
    overlap = min(overlap, size // 2)  # tiles must advance: a small --tile with the default overlap still runs
    result = (runner or run)(
        scene, predictor, None, tile=size, overlap=overlap, batch=batch, threads=threads, quiet=quiet
    )
    geoms, columns = result.features
    layer, dets = _boxes(scene, predictor.rotated, geoms, columns, names)
    keep = np.ones(len(dets), bool)
    if score is not None:
        keep &= dets.scores >= score
    if keep_ids is not None:
        keep &= np.isin(dets.labels, keep_ids)
    layer, dets = _take(layer, dets, keep)
    written = _write(fmt, output, layer, dets, names, scene) if output is not None else None
    picture = detection_preview(scene, dets.as_polygons(), dets.labels, names, preview) if preview else None
    return DetectResult(written, fmt, layer, dets, names, picture, result.summary)


def _class_names(predictor: BoxPredictor) -> list[str]:
    names = getattr(predictor, "class_names", None)
    return [str(n) for n in names] if names is not None else []


def _name_of(names: list[str], ids: np.ndarray) -> np.ndarray:
    """Class names of ``ids``; ``class_<id>`` for a predictor without names."""
    return np.array([names[i] if i < len(names) else f"class_{i}" for i in ids.tolist()], dtype=str)


def _class_filter(classes: Sequence[str] | None, names: list[str]) -> np.ndarray | None:
    """The ids of the classes to keep, refusing a name the predictor does not know."""
    if classes is None:
        return None
    unknown = [c for c in classes if c not in names]
    if unknown:
        known = ", ".join(names) or "none named"
        raise RsvisionError(f"unknown class {unknown[0]!r}: the model's classes are {known}")
    return np.array([names.index(c) for c in classes], dtype=np.int64)


def _check_dota_names(names: list[str], scene: Scene, output) -> None:
    """DOTA lines are split on spaces: refuse names that would break them, before the run."""
    spaced = [n for n in names if any(c.isspace() for c in n)]
    if spaced:
        raise OutputError(f"cannot write DOTA files: the class name {spaced[0]!r} has a space")
    if Path(output).is_dir() and any(c.isspace() for c in Path(scene.path).stem):
        raise OutputError(f"cannot write DOTA task-1 files: the scene's name {Path(scene.path).stem!r} has a space")


def _boxes(scene: Scene, rotated: bool, geoms: list, columns: dict, names: list[str]):
    """The engine's polygons (map coordinates) as a layer with every column, and as pixel detections."""
    ids = np.asarray(columns["class_id"], dtype=np.int64)
    scores = np.asarray(columns["score"], dtype=np.float64)
    pixel = polygons_to_pixel(geoms, scene.transform) if len(geoms) else []
    if rotated:
        corners = _corners(pixel)
        rboxes = poly_to_rbox(corners) if len(corners) else np.zeros((0, 5))
        dets = Detections(ids, scores, rboxes=rboxes)
    else:
        xyxy = shapely.bounds(np.asarray(pixel, dtype=object)).reshape(-1, 4) if len(pixel) else np.zeros((0, 4))
        rboxes = xyxy_to_rbox(xyxy) if len(xyxy) else np.zeros((0, 5))
        dets = Detections(ids, scores, boxes=xyxy)
    table = {
        "class_id": ids,
        "class": _name_of(names, ids),
        "score": scores,
        "area": polygon_areas(geoms, scene.crs),
        **{key: rboxes[:, i] for i, key in enumerate(("cx", "cy", "w", "h", "angle"))},
    }
    return VectorLayer(geoms, table, scene.crs), dets


def _corners(polygons: list) -> np.ndarray:
    """(N, 8) corners of quadrilaterals (the closing point of each ring dropped)."""
    rings = shapely.get_exterior_ring(np.asarray(polygons, dtype=object))
    return shapely.get_coordinates(rings).reshape(len(polygons), 5, 2)[:, :4].reshape(-1, 8)


def _take(layer: VectorLayer, dets: Detections, keep: np.ndarray) -> tuple[VectorLayer, Detections]:
    if keep.all():
        return layer, dets
    boxes = {"rboxes": dets.rboxes[keep]} if dets.rboxes is not None else {"boxes": dets.boxes[keep]}
    kept = VectorLayer(layer.geometries[keep], {k: v[keep] for k, v in layer.columns.items()}, layer.crs)
    return kept, Detections(dets.labels[keep], dets.scores[keep], **boxes)


def _write(fmt: str, output, layer: VectorLayer, dets: Detections, names: list[str], scene: Scene) -> Path:
    output = Path(output)
    if fmt in ("gpkg", "geojson", "geoparquet"):
        return layer.write(output)
    labels = _all_names(names, dets.labels)
    if fmt == "coco":
        return write_coco_detections(output, dets, labels, scene)
    if output.is_dir():
        write_task1(output, {Path(scene.path).stem: dets}, labels)
        return output
    return write_dota(output, dets, labels, scene)


def _all_names(names: list[str], ids: np.ndarray) -> list[str]:
    """Class names covering every id (``class_<id>`` past the predictor's names)."""
    top = int(ids.max()) + 1 if len(ids) else 0
    return list(names) + [f"class_{i}" for i in range(len(names), top)]


def write_dota(path: str | os.PathLike, dets: Detections, classes: Sequence[str], scene: Scene) -> Path:
    """A DOTA labelTxt file of pixel detections: ``imagesource`` (the scene's file name) and ``gsd`` (metres, when
    known) headers, then ``x1 y1 .. x4 y4 class 0`` per box."""
    path = Path(path)
    meta = {"imagesource": Path(scene.path).name}
    gsd = _gsd_m(scene)
    if gsd is not None:
        meta["gsd"] = gsd
    targets = {"labels": dets.labels, "polygons": dets.as_polygons()}
    write_labeltxt(path.parent, [Sample(path.stem, None, targets, meta)], classes)
    return path


def _gsd_m(scene: Scene) -> float | None:
    crs = scene.crs
    if crs is None or not crs.is_projected:
        return None
    return float(abs(scene.transform.a) * crs.linear_units_factor[1])


def write_coco_detections(path: str | os.PathLike, dets: Detections, classes: Sequence[str], scene: Scene) -> Path:
    """A COCO annotation JSON of one image (the scene, in pixels) whose annotations also carry ``score``, so
    COCO readers take it as annotations and its ``annotations`` list is a results list. Rotated boxes give their
    enclosing ``bbox`` and their corners as ``segmentation``; ``area`` is the box's own, in pixels."""
    polys = dets.as_polygons()
    boxes = dets.as_boxes()
    area = poly_area(polys) if len(polys) else np.zeros(0)
    annotations = []
    for i in range(len(dets)):
        x1, y1, x2, y2 = (float(v) for v in boxes[i])
        ann = {
            "id": i + 1,
            "image_id": 1,
            "category_id": int(dets.labels[i]) + 1,
            "bbox": [x1, y1, x2 - x1, y2 - y1],
            "area": float(area[i]),
            "iscrowd": 0,
            "score": float(dets.scores[i]),
        }
        if dets.rboxes is not None:
            ann["segmentation"] = [[float(v) for v in polys[i]]]
        annotations.append(ann)
    document = {
        "images": [{"id": 1, "file_name": Path(scene.path).name, "width": scene.width, "height": scene.height}],
        "annotations": annotations,
        "categories": [{"id": i + 1, "name": name} for i, name in enumerate(classes)],
    }
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(document), encoding="utf-8")
    return Path(path)


def evaluate_open_vocabulary(
    dataset: Dataset, *, score: float = 0.05, model: str | None = None, device: str = "cpu", progress: bool = False
) -> dict:
    """Detection keys (``map50`` ...) of open-vocabulary detection on a dataset whose class names are the words
    asked for (``storage-tank`` -> "storage tank"): the same metric as ``eval detection -m`` on horizontal boxes.
    A low ``score`` keeps the ranked list long, as AP wants."""
    words = [folder_class_words(c) for c in dataset.classes]
    detections, predictor = {}, None
    with progress_bar(enabled=progress) as bar:
        task = bar.add_task(f"open-vocabulary detection on {len(dataset)} images", total=len(dataset))
        for i, sample in enumerate(dataset):
            scene = open_scene(sample.image)
            predictor = predictor or open_vocabulary_detector(scene, words, score=score, model=model, device=device)
            predictor.bands = rgb_positions(scene)
            detections[i] = detect_scene(scene, predictor, quiet=True).detections
            bar.advance(task)
    return voc_detection_scores(dataset, detections, rotated=False) | {"classes_asked": words}
