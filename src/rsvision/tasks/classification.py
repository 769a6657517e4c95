"""Scene classification as a task: whole images of a folder -> CSV rows, or the tiles of a scene -> a class map.

- ``-m MODEL`` is resolved by :func:`rsvision.models.classifier.load_classifier`.
- :func:`classify_folder` classifies every image under a folder (an image the model cannot take is reported
  and skipped, the rest is classified) and writes ``path,class,score,top5`` rows.
- :class:`TileClassifier` is the engine's predictor: one record (class, score) per tile. :func:`classify_scene`
  runs it over a scene once; the tile records become the GeoPackage of tile footprints and, rasterised so that
  each pixel takes the class of the tile whose centre is nearest, the class-map COG. See docs/classification.md.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rsvision.datasets.base import IMAGE_SUFFIXES, Dataset, Sample, is_image
from rsvision.errors import BandCountError, InputNotFoundError, OutputError, RsvisionError
from rsvision.models.classifier import Classifier, require_head
from rsvision.models.weights import Weights
from rsvision.tasks.base import TileBatch, TilePredictor

# ----------------------------------------------------------------------------- folders


def list_folder_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` and its subfolders (hidden ones skipped), sorted by path."""
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out.extend(Path(root) / f for f in files if is_image(Path(f)))
    return sorted(out)


def is_image_folder(path: Path) -> bool:
    """Whether a folder is one of images to classify one by one (else it is a scene: a folder of band files,
    each file naming its band like ``..._B02.tif``, as :func:`rsvision.io.open_scene` stacks them)."""
    from rsvision.io.sensors import band_from_filename

    top = [p for p in path.iterdir() if p.is_file() and is_image(p)]
    subdirs = [p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")]
    band_files = bool(top) and all(band_from_filename(p.stem) for p in top)
    return not band_files or bool(subdirs and any(list_folder_images(d) for d in subdirs))


@dataclass
class FolderResult:
    """What :func:`classify_folder` did: rows written, and ``(image, reason)`` for each image left out."""

    output: Path
    classified: int
    failures: list[tuple[str, str]] = field(default_factory=list)


def classify_folder(inputs: str | os.PathLike | Sequence[str | os.PathLike], classifier: Classifier,
                    output: str | os.PathLike, *, batch_size: int = 32, tta: bool = False, top: int = 5,
                    progress: bool = False) -> FolderResult:
    """Classify every image of a folder (recursively), or the listed image files, into a CSV.

    Columns ``path`` (relative to the folder, ``/``-separated; the file name for listed files), ``class``,
    ``score`` (its probability) and ``top5`` (``class:prob;...``, the ``top`` most probable). An image that
    cannot be read or that the model cannot take is left out of the CSV and listed in ``failures``. The CSV
    is written atomically, and only when at least one image was classified.
    """
    from rsvision.io.writers import atomic_output, check_writable
    from rsvision.train.evaluate import predict_dataset

    require_head(classifier)
    output = check_writable(output)
    if isinstance(inputs, (str, os.PathLike)) and Path(inputs).is_dir():
        root = Path(inputs)
        files = list_folder_images(root)
        names = [p.relative_to(root).as_posix() for p in files]
    else:
        files = [Path(inputs)] if isinstance(inputs, (str, os.PathLike)) else [Path(p) for p in inputs]
        root = files[0].parent if files else Path(".")
        names = [p.name for p in files]
    if not files:
        raise InputNotFoundError(f"{root}: no image files ({', '.join(IMAGE_SUFFIXES)}) in it or its subfolders")
    dataset = Dataset(root, [Sample(id=n, image=p) for n, p in zip(names, files)])
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
        writer.writerow([names[i], classes[order[0]], f"{p[order[0]]:.6f}",
                         ";".join(f"{classes[j]}:{p[j]:.4f}" for j in order)])
    with atomic_output(output) as tmp:
        tmp.write_text(buf.getvalue(), encoding="utf-8")
    return result


# ----------------------------------------------------------------------------- scenes


def scene_gsd(scene) -> float | None:
    """Metres per pixel of a scene on a projected grid (square pixels assumed: the x resolution); else None."""
    crs = scene.crs
    if crs is None or not crs.is_projected:
        return None
    return float(abs(scene.res[0]) * crs.linear_units_factor[1])


def tile_size_for(weights: Weights, gsd_m: float | None) -> int:
    """Scene pixels per tile: the record's input size, scaled by ``record GSD / scene GSD`` when both are known,
    so that a tile covers the ground the model saw in one image (it is then resampled to the input size)."""
    if weights.gsd_m and gsd_m:
        return max(2, round(weights.input_size * weights.gsd_m / gsd_m))
    return weights.input_size


def select_bands(weights: Weights, scene_bands: Sequence[str], given: Sequence[str] | None, where: str
                 ) -> tuple[list[str] | None, list[str] | None]:
    """``(bands to read, their names for the model)``. By name when the scene (or ``given``, naming the scene's
    bands in order) has every band the model takes; by position when the scene's bands are unnamed
    (``band1`` ...) and as many as the model takes; otherwise a BandCountError naming what is missing."""
    names = list(given) if given is not None else list(scene_bands)
    if given is not None and len(given) != len(scene_bands):
        raise BandCountError(f"{where}: {len(given)} band names given for {len(scene_bands)} bands")
    lower = [n.lower() for n in names]
    if all(b.lower() in lower for b in weights.bands):
        picked = [scene_bands[lower.index(b.lower())] for b in weights.bands]
        return picked, list(weights.bands)
    unnamed = all(n.lower() == f"band{i + 1}" for i, n in enumerate(names))
    if unnamed and len(names) == len(weights.bands):
        return None, None
    raise BandCountError(f"{where}: the model takes bands {', '.join(weights.bands)}; the scene has "
                         f"{', '.join(names)} (name its bands with --bands)")


class TileClassifier(TilePredictor):
    """One record per tile: ``class_id``, ``class`` and ``score`` (the class probability, D4-averaged with
    ``tta``). ``read_bands`` are the scene bands read (by name, in the model's order; None: all, by position),
    ``dtype`` the scene's: integer tiles are handed to the model as such, so the record's value checks see
    the file's values."""

    def __init__(self, classifier: Classifier, tile_size: int, read_bands: Sequence[str] | None = None,
                 tta: bool = False, dtype: str | None = None):
        self.classifier, self.tile_size, self.tta = classifier, int(tile_size), tta
        self.bands = list(read_bands) if read_bands is not None else None
        self.model_bands = list(classifier.weights.bands) if read_bands is not None else None
        self.dtype = dtype if dtype and np.dtype(dtype).kind in "ui" else None
        self.class_names = np.asarray(classifier.classes, dtype=str)

    def predict(self, batch: TileBatch) -> dict[str, np.ndarray]:
        import torch

        from rsvision.models.tta import d4_probabilities

        images = batch.images.astype(self.dtype) if self.dtype else batch.images
        w = batch.windows[0]
        where = f"tiles from column {int(w.col_off)}, row {int(w.row_off)}"
        x = self.classifier.weights.preprocess(images, self.model_bands, where=where)
        with torch.inference_mode():
            model = self.classifier.model
            p = (d4_probabilities(model, x) if self.tta else model(x).float().softmax(-1)).numpy()
        ids = p.argmax(1)
        return {"class_id": ids.astype(np.int32), "class": self.class_names[ids],
                "score": p[np.arange(len(p)), ids].astype(np.float64)}

    def fingerprint(self) -> str:
        w = self.classifier.weights
        text = json.dumps([type(self).__qualname__, w.name, w.sha256, w.preprocessing.model_dump(), self.tile_size,
                           self.tta, self.bands, self.dtype])
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def cell_edges(starts: Sequence[int], tile: int, length: int) -> np.ndarray:
    """Boundaries along one axis of the pixels each tile owns: pixel ``p`` belongs to tile ``i`` when
    ``edges[i] <= p < edges[i + 1]``, i.e. to the tile whose centre is nearest (ties to the later tile)."""
    s = np.asarray(starts, dtype=np.int64)
    return np.concatenate([[0], (s[:-1] + s[1:] + tile) // 2, [length]])


def class_colours(n: int) -> dict[int, tuple[int, int, int, int]]:
    """``n`` distinct RGBA colours: hues a golden angle apart, lightness alternating in three steps."""
    import colorsys

    out = {}
    for i in range(n):
        h = (i * 0.618033988749895) % 1.0
        r, g, b = colorsys.hls_to_rgb(h, (0.45, 0.62, 0.32)[i % 3], 0.75)
        out[i] = (round(r * 255), round(g * 255), round(b * 255), 255)
    return out


def write_class_map(path: str | os.PathLike, grid, plan, row_off: np.ndarray, col_off: np.ndarray,
                    class_id: np.ndarray, classes: Sequence[str], max_rows: int = 512) -> Path:
    """A one-band COG on ``grid`` in which every pixel holds the class of the tile whose centre is nearest
    (nodata where that tile was not predicted), with a colour map, the band description ``class`` and the
    class names as the JSON tag ``classes``. Written in strips of at most ``max_rows`` rows."""
    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.windows import Window

    from rsvision.io import RasterWriter

    dtype = "uint8" if len(classes) < 255 else "uint16"
    nodata = int(np.iinfo(dtype).max)
    ids = np.full((plan.n_rows, plan.n_cols), nodata, dtype=dtype)
    rows = np.searchsorted(plan.row_starts, np.asarray(row_off, dtype=np.int64))
    cols = np.searchsorted(plan.col_starts, np.asarray(col_off, dtype=np.int64))
    ids[rows, cols] = np.asarray(class_id, dtype=dtype)
    y_edges = cell_edges(plan.row_starts, plan.tile_h, plan.height)
    widths = np.diff(cell_edges(plan.col_starts, plan.tile_w, plan.width))
    colours = class_colours(len(classes)) if len(classes) < 255 else None
    if colours is not None:
        colours[nodata] = (0, 0, 0, 0)
    writer = RasterWriter(path, grid, 1, dtype, nodata, descriptions=["class"], colormap=colours,
                          tags={"classes": json.dumps(list(classes))})
    with warnings.catch_warnings():
        if grid.crs is None:  # the scene's missing georeference was reported when it was opened
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with writer:
            for r in range(plan.n_rows):
                line = np.repeat(ids[r], widths)
                for y0 in range(int(y_edges[r]), int(y_edges[r + 1]), max_rows):
                    y1 = min(y0 + max_rows, int(y_edges[r + 1]))
                    writer.write(np.broadcast_to(line, (y1 - y0, plan.width)), Window(0, y0, plan.width, y1 - y0))
    return writer.path


@dataclass
class SceneResult:
    """What :func:`classify_scene` wrote, the tile size used, and the number of tiles per class."""

    class_map: Path
    vector: Path | None
    tile_size: int
    tiles: int
    skipped: int
    counts: dict[str, int]
    summary: str


def classify_scene(scene, classifier: Classifier, output: str | os.PathLike, *, vector: str | os.PathLike | None = None,
                   tile: int | None = None, overlap: int = 0, batch: int = 8, tta: bool = False,
                   bands: Sequence[str] | None = None, threads: int | None = None, quiet: bool = False,
                   memory_mb: float = 512.0) -> SceneResult:
    """One class per tile of ``scene`` (a path or an open :class:`~rsvision.io.Scene`) in one engine pass:
    the class-map COG ``output`` and, with ``vector``, the tile footprints with ``class`` and ``score``.

    The tile size is ``tile`` or follows the weights record (:func:`tile_size_for`). ``bands`` names the
    scene's bands in order; ``threads`` is torch's thread count (the engine's default: the CPUs available).
    Batches are made smaller when ``batch`` tiles would take more than ``memory_mb``.
    """
    from rsvision.engine import run
    from rsvision.engine.plan import TilePlan
    from rsvision.io import open_scene
    from rsvision.io.writers import check_writable, vector_driver

    require_head(classifier)
    output = check_writable(output)
    if output.suffix.lower() not in (".tif", ".tiff"):
        raise OutputError(f"cannot write {output}: a class map is a GeoTIFF (.tif)")
    if vector is not None:
        vector_driver(vector)
    scene = scene if not isinstance(scene, (str, os.PathLike)) else open_scene(scene)
    read, _ = select_bands(classifier.weights, scene.band_names, bands, str(scene.path))
    size = int(tile) if tile else tile_size_for(classifier.weights, scene_gsd(scene))
    if size < 2:
        raise RsvisionError(f"tile size must be at least 2 pixels, got {size}")
    channels = len(read) if read is not None else scene.count
    per_tile_mb = channels * size * size * 4 / 2**20
    batch = max(1, min(batch, int(memory_mb // max(per_tile_mb, 1e-9))))
    predictor = TileClassifier(classifier, size, read, tta, scene.dtype)
    result = run(scene, predictor, vector, tile=size, overlap=min(overlap, size - 1), batch=batch, threads=threads,
                 quiet=quiet)
    _, cols = result.features
    if "class_id" not in cols:  # every tile was nodata
        cols = {**cols, "class_id": np.zeros(0, np.int32), "class": np.zeros(0, dtype=str)}
    plan = TilePlan.for_shape(scene.height, scene.width, size, min(overlap, size - 1))
    class_map = write_class_map(output, scene.grid, plan, cols["row_off"], cols["col_off"], cols["class_id"],
                                classifier.classes)
    names, counts = np.unique(np.asarray(cols["class"], dtype=str), return_counts=True)
    order = np.argsort(-counts, kind="stable")
    return SceneResult(class_map, result.output, size, result.tiles, result.skipped,
                       {str(names[i]): int(counts[i]) for i in order}, result.summary)
