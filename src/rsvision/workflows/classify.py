"""Scene classification jobs: every image of a folder (or a dataset's split) into a CSV, and every tile of a
scene into a class-map COG, with the tile footprints as vectors and a picture on request."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rsvision.bench.plots import class_map_preview
from rsvision.core.files import atomic_output, check_writable
from rsvision.datasets.base import IMAGE_SUFFIXES, Dataset, Sample
from rsvision.datasets.folder import list_folder_images
from rsvision.engine import ClassMap, RunResult, run
from rsvision.errors import InputNotFoundError, RsvisionError
from rsvision.io import Scene, open_scene
from rsvision.io.writers import check_scene_outputs
from rsvision.models.classifier import Classifier, require_head
from rsvision.models.inference import predict_dataset
from rsvision.tasks.classification import (
    TileClassifier,
    class_colours,
    scene_gsd,
    select_bands,
    tile_size_for,
)


@dataclass
class FolderResult:
    """What :func:`classify_folder` did: rows written, and ``(image, reason)`` for each image left out."""

    output: Path
    classified: int
    failures: list[tuple[str, str]] = field(default_factory=list)


def _as_dataset(inputs: str | os.PathLike | Sequence[str | os.PathLike] | Dataset) -> Dataset:
    """A folder (searched recursively), a list of image files, or a dataset (a split of it) as samples whose ids
    are the paths the CSV names: relative to the folder, or the file names of listed files."""
    if isinstance(inputs, Dataset):
        return Dataset(
            inputs.root,
            [Sample(id=Path(os.path.relpath(s.image, inputs.root)).as_posix(), image=s.image) for s in inputs],
        )
    if isinstance(inputs, (str, os.PathLike)) and Path(inputs).is_dir():
        root = Path(inputs)
        files = list_folder_images(root)
        if not files:
            raise InputNotFoundError(f"{root}: no image files ({', '.join(IMAGE_SUFFIXES)}) in it or its subfolders")
        return Dataset(root, [Sample(id=p.relative_to(root).as_posix(), image=p) for p in files])
    files = [Path(inputs)] if isinstance(inputs, (str, os.PathLike)) else [Path(p) for p in inputs]
    if not files:
        raise InputNotFoundError("no image files were given")
    return Dataset(files[0].parent, [Sample(id=p.name, image=p) for p in files])


def classify_folder(
    inputs: str | os.PathLike | Sequence[str | os.PathLike] | Dataset,
    classifier: Classifier,
    output: str | os.PathLike,
    *,
    batch_size: int = 32,
    tta: bool = False,
    top: int = 5,
    progress: bool = False,
) -> FolderResult:
    """Classify every image of a folder (recursively), the listed image files, or a dataset's samples (e.g. its
    ``rsicd-test`` split) into a CSV that ``rsvision eval classification --predictions`` scores.

    Columns ``path`` (relative to the folder or dataset root, ``/``-separated; the file name for listed files),
    ``class``, ``score`` (its probability) and ``top5`` (``class:prob;...``, the ``top`` most probable). An image
    that cannot be read or that the model cannot take is left out of the CSV and listed in ``failures``. The CSV
    is written atomically, and only when at least one image was classified.
    """
    require_head(classifier)
    output = check_writable(output)
    dataset = _as_dataset(inputs)
    pred = predict_dataset(classifier, dataset, batch_size=batch_size, tta=tta, progress=progress)
    result = FolderResult(output, len(pred.indices), list(pred.failures))
    if not len(pred.indices):
        return result
    classes = classifier.classes
    k = min(top, len(classes))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["path", "class", "score", "top5"])
    for i, p in zip(pred.indices, pred.probabilities):
        order = np.argsort(-p, kind="stable")[:k]
        writer.writerow(
            [
                dataset[i].id,
                classes[order[0]],
                f"{p[order[0]]:.6f}",
                ";".join(f"{classes[j]}:{p[j]:.4f}" for j in order),
            ]
        )
    with atomic_output(output) as tmp:
        tmp.write_text(buf.getvalue(), encoding="utf-8")
    return result


@dataclass
class SceneResult:
    """What :func:`classify_scene` wrote, the tile size used, the number of tiles per class, the engine's summary
    line, and a note for the user when the scene is not what the model was trained on (else empty)."""

    class_map: Path
    vector: Path | None
    preview: Path | None
    tile_size: int
    tiles: int
    skipped: int
    counts: dict[str, int]
    summary: str
    note: str = ""


def classify_scene(
    scene: Scene | str | os.PathLike,
    classifier: Classifier,
    output: str | os.PathLike,
    *,
    vector: str | os.PathLike | None = None,
    preview: str | os.PathLike | None = None,
    tile: int | None = None,
    overlap: int = 0,
    batch: int = 8,
    tta: bool = False,
    bands: Sequence[str] | None = None,
    threads: int | None = None,
    quiet: bool = False,
    runner: Callable[..., RunResult] | None = None,
    memory_mb: float = 512.0,
) -> SceneResult:
    """One class per tile of ``scene`` (a path or an open :class:`~rsvision.io.Scene`) in one engine pass:
    the class-map COG ``output``, written strip by strip as tile rows finish (:class:`~rsvision.engine.ClassMap`);
    with ``vector``, the tile footprints with ``class`` and ``score``; with ``preview``, a PNG of the class map
    over the scene with a legend. A killed run resumes where it was checkpointed when called again.

    The tile size is ``tile`` or follows the weights record (:func:`tile_size_for`). ``bands`` names the
    scene's bands in order (otherwise they are matched by name or wavelength, :func:`select_bands`);
    ``threads`` is torch's thread count (the engine's default: the CPUs available). Batches are made smaller
    when ``batch`` tiles would take more than ``memory_mb``. ``quiet``: no progress bar.

    ``runner``: the engine call (:func:`~rsvision.engine.run` by default; ``rsvision batch`` gives
    :func:`~rsvision.engine.blocks.run_on_blocks` for a huge scene).
    """
    require_head(classifier)
    output = check_scene_outputs(output, vector, preview)
    scene = open_scene(scene) if isinstance(scene, (str, os.PathLike)) else scene
    choice = select_bands(classifier.weights, scene.bands, bands, str(scene.path), scene.dtype, scene.sensor)
    size = int(tile) if tile else tile_size_for(classifier.weights, scene_gsd(scene))
    if size < 2:
        raise RsvisionError(f"tile size must be at least 2 pixels, got {size}")
    channels = len(choice.read) if choice.read is not None else scene.count
    per_tile_mb = channels * size * size * 4 / 2**20
    batch = max(1, min(batch, int(memory_mb // max(per_tile_mb, 1e-9))))
    predictor = TileClassifier(classifier, size, choice, tta, scene.dtype)
    classes = list(classifier.classes)
    destinations = [ClassMap(output, classes, class_colours(len(classes))), vector]  # no vector: None, left out
    result = (runner or run)(
        scene,
        predictor,
        destinations,
        tile=size,
        overlap=min(overlap, size - 1),
        batch=batch,
        threads=threads,
        quiet=quiet,
    )
    class_map = result.outputs[0]
    vector_path = result.outputs[1] if vector is not None else None
    _, cols = result.features
    if preview is not None:
        preview = class_map_preview(scene, class_map, preview)
    names, counts = np.unique(np.asarray(cols.get("class", []), dtype=str), return_counts=True)  # none: all nodata
    order = np.argsort(-counts, kind="stable")
    return SceneResult(
        class_map,
        vector_path,
        preview,
        size,
        result.tiles,
        result.skipped,
        {str(names[i]): int(counts[i]) for i in order},
        result.summary,
        choice.describe(classifier.weights),
    )
