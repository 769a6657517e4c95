"""Text and example search: ``index`` embeds images and scene tiles into an index folder
(:mod:`rsvision.io.search_index`), ``search`` ranks its entries against a sentence or an example image, and
:func:`search_scene` searches one huge scene without an index, coarse tiles first and finer ones inside the best.

Every tile is read through :meth:`rsvision.io.Scene.read` with ``out_shape`` at the model's input size, so GDAL
decimates as it reads (from overviews when the file has them): memory follows the model's input, not the tile.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer
from rasterio.windows import Window

from rsvision.core.progress import progress_bar
from rsvision.datasets.folder import list_folder_images
from rsvision.errors import BandCountError, InputNotFoundError, RsvisionError, SearchIndexError
from rsvision.geometry.transform import boxes_to_polygons
from rsvision.io import Scene, open_scene
from rsvision.io.images import image_size, read_image
from rsvision.io.rgb import read_rgb8
from rsvision.io.search_index import Entry, ModelId, SearchIndex
from rsvision.io.tiles import TilePlan
from rsvision.io.writers import write_vectors

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")  # whole images; rasters may be scenes to tile
DEFAULT_TILE_SIZES = (256, 1024)
BATCH = 64  # entries per committed batch


def model_id(embedder) -> ModelId:
    """What an index records of ``embedder``: its name, the sha256 of its weights, its width."""
    weights = getattr(embedder, "weights", None)
    return ModelId(embedder.name, getattr(weights, "sha256", None) or "unknown", int(embedder.dim))


# ---------------------------------------------------------------------------------------------- what to embed
@dataclass(frozen=True)
class Job:
    """One entry to embed: ``window`` of ``source`` (the whole image when ``scene`` is None)."""

    entry: Entry
    scene: Scene | None


def footprints(scene: Scene, window: Window) -> tuple[str | None, str, str | None]:
    """(CRS string, footprint WKT in the scene's CRS or pixels, footprint WKT in lon/lat or None)."""
    box = np.array([[window.col_off, window.row_off, window.col_off + window.width, window.row_off + window.height]])
    poly = boxes_to_polygons(box, scene.transform if scene.georeferenced else None)[0]
    if not scene.georeferenced:
        return None, poly.wkt, None
    to_lonlat = Transformer.from_crs(scene.crs, "EPSG:4326", always_xy=True)
    lonlat = shapely.transform(poly.segmentize(max(poly.length / 64, 1e-9)), to_lonlat.transform, interleaved=False)
    return scene.crs.to_string(), poly.wkt, lonlat.wkt


def scene_jobs(scene: Scene, source: str, sizes: Sequence[int], overlap: float) -> Iterator[Job]:
    """Tiles of each size (``overlap``: the fraction of a tile neighbours share); a size larger than the scene
    gives no tiles, except the smallest size, which always covers the scene."""
    for n, size in enumerate(sorted(sizes)):
        if n and size > max(scene.width, scene.height):
            continue
        plan = TilePlan.for_shape(scene.height, scene.width, size, int(size * overlap))
        for window in plan.windows():
            crs, fp, lonlat = footprints(scene, window)
            win = (int(window.col_off), int(window.row_off), int(window.width), int(window.height))
            yield Job(Entry(source, win, size, crs, fp, lonlat), scene)


def photo_job(path: Path) -> Job:
    width, height = image_size(path)
    box = shapely.box(0, 0, width, height)
    return Job(Entry(str(path), (0, 0, width, height), max(width, height), None, box.wkt, None), None)


def input_jobs(inputs: Sequence[str | os.PathLike], sizes: Sequence[int], overlap: float) -> Iterator[Job]:
    """Every entry of the inputs: folders recursively, photos whole, rasters tiled (as scenes)."""
    for item in inputs:
        path = Path(item)
        if not path.exists():
            raise InputNotFoundError(f"no such file or folder: {path}")
        files = list_folder_images(path) if path.is_dir() else [path]
        for file in files:
            source = str(file.resolve())
            if file.suffix.lower() in PHOTO_SUFFIXES:
                yield photo_job(file.resolve())
            else:
                yield from scene_jobs(open_scene(file), source, sizes, overlap)


# ---------------------------------------------------------------------------------------------- reading
def model_bands(scene: Scene, bands: Sequence[str]) -> list[int]:
    """Scene band positions in the model's order: by name when the scene names them, else the first ones."""
    names = [b.lower() for b in scene.band_names]
    if all(b.lower() in names for b in bands):
        return [names.index(b.lower()) for b in bands]
    if scene.count >= len(bands):
        return list(range(len(bands)))
    raise BandCountError(f"{scene.path}: {scene.count} bands; the model takes {len(bands)} ({', '.join(bands)})")


def read_tile(scene: Scene, window: Window, bands: Sequence[str], size: int) -> np.ndarray:
    """The window at ``size`` x ``size`` pixels (GDAL decimates as it reads), nodata as 0. An RGB model reads the
    scene's red, green and blue wherever they are (a Sentinel-2 stack's B04, B03, B02, made 8-bit true colour)."""
    if [b.lower() for b in bands] == ["red", "green", "blue"]:
        return read_rgb8(scene, size, window)
    data = scene.read(window, bands=model_bands(scene, bands), out_shape=(size, size))
    return np.ma.filled(data, 0).astype(scene.dtype, copy=False)


def read_job(job: Job, bands: Sequence[str], size: int) -> np.ndarray:
    if job.scene is None:
        return read_image(job.entry.source)
    col, row, width, height = job.entry.window
    return read_tile(job.scene, Window(col, row, width, height), bands, size)


# ---------------------------------------------------------------------------------------------- index
@dataclass
class IndexResult:
    index: Path
    added: int
    skipped: int
    total: int
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def summary(self) -> str:
        return f"{self.added:,} entries added, {self.skipped:,} already indexed; {self.total:,} in {self.index}"


def batched(jobs: Iterator[Job], n: int) -> Iterator[list[Job]]:
    batch: list[Job] = []
    for job in jobs:
        batch.append(job)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


def build_index(
    inputs: Sequence[str | os.PathLike],
    embedder,
    index: str | os.PathLike,
    *,
    tile_sizes: Sequence[int] = DEFAULT_TILE_SIZES,
    overlap: float = 0.25,
    batch: int = BATCH,
    progress: bool = False,
    on_batch: Callable[[int], None] | None = None,
) -> IndexResult:
    """Embed ``inputs`` into the index folder ``index`` (created, or grown when it exists; refused when another
    model built it). Entries already in are skipped, so a killed run resumes where its last batch committed.
    ``on_batch(n)`` is called after each committed batch (tests stop a run there)."""
    jobs = list(input_jobs(inputs, tile_sizes, overlap))  # every input checked before the index is touched
    if not jobs:
        raise InputNotFoundError(f"no images in {', '.join(map(str, inputs))}")
    store = SearchIndex.open_or_create(index, model_id(embedder))
    store.remove_orphans()
    result = IndexResult(Path(index), 0, 0, 0)
    prep = embedder.preprocessing
    with store, progress_bar(enabled=progress) as bar:
        task = bar.add_task(f"embedding {len(jobs):,} images and tiles", total=len(jobs))
        for n, part in enumerate(batched(iter(jobs), batch)):
            todo = _not_done(store, part, result)
            images, kept = [], []
            for job in todo:
                try:
                    images.append(read_job(job, prep.bands, prep.input_size))
                    kept.append(job.entry)
                except RsvisionError as err:
                    result.failures.append((job.entry.source, str(err)))
            if kept:
                result.added += store.add(kept, embedder.embed_images(images))
            bar.advance(task, len(part))
            if on_batch is not None:
                on_batch(n)
        store.store()  # the vector store brought up to date once, at the end
        result.total = len(store)
    return result


def embed_scene(
    path: str | os.PathLike | Scene,
    embedder,
    *,
    tile_sizes: Sequence[int] = DEFAULT_TILE_SIZES,
    overlap: float = 0.25,
    batch: int = BATCH,
) -> tuple[list[Entry], np.ndarray]:
    """The entries of one image or scene and their vectors, in batches of ``batch`` (``rsvision batch index``
    embeds scenes on workers this way and adds them to the index in one process)."""
    if isinstance(path, Scene):
        jobs = list(scene_jobs(path, str(Path(path.path).resolve()), tile_sizes, overlap))
    else:
        jobs = list(input_jobs([path], tile_sizes, overlap))
    prep = embedder.preprocessing
    vectors = [
        embedder.embed_images([read_job(j, prep.bands, prep.input_size) for j in part])
        for part in batched(iter(jobs), batch)
    ]
    return [j.entry for j in jobs], np.concatenate(vectors) if vectors else np.zeros((0, embedder.dim), np.float32)


def add_new(store: SearchIndex, entries: Sequence[Entry], vectors: np.ndarray) -> int:
    """Add the entries the index does not hold yet; how many were added."""
    done = store.done(e.key for e in entries)
    keep = [i for i, e in enumerate(entries) if e.key not in done]
    return store.add([entries[i] for i in keep], vectors[keep]) if keep else 0


def _not_done(store: SearchIndex, part: list[Job], result: IndexResult) -> list[Job]:
    done = store.done(j.entry.key for j in part)
    result.skipped += sum(j.entry.key in done for j in part)
    return [j for j in part if j.entry.key not in done]


# ---------------------------------------------------------------------------------------------- search
@dataclass(frozen=True)
class SearchHit:
    rank: int
    score: float
    entry: Entry

    def as_json(self) -> dict:
        col, row, width, height = self.entry.window
        lonlat = self.entry.footprint_lonlat
        return {
            "rank": self.rank,
            "score": round(self.score, 6),
            "source": self.entry.source,
            "window": {"col": col, "row": row, "width": width, "height": height},
            "tile_size": self.entry.tile_size,
            "crs": self.entry.crs,
            "footprint": shapely.geometry.mapping(shapely.from_wkt(lonlat)) if lonlat else None,
            "footprint_pixels_or_crs": self.entry.footprint,
        }


def embed_query(embedder, text: str | None, image: str | os.PathLike | None) -> np.ndarray:
    """The query vector: of a sentence (truncated with a warning past the text tower's context) or an image."""
    if (text is None) == (image is None):
        raise RsvisionError("give a text query or --image EXAMPLE, not both")
    if image is not None:
        return embedder.embed_images([read_image(image)])[0]
    return embedder.embed_texts([text])[0]


def search_index(folder: str | os.PathLike, embedder, query: np.ndarray, k: int = 10) -> list[SearchHit]:
    """The ``k`` entries of the index folder nearest ``query``, best first (refused for another model)."""
    with SearchIndex.open(folder, model_id(embedder)) as index:
        if len(index) == 0:
            raise SearchIndexError(f"{folder} holds no entries")
        return [SearchHit(i + 1, h.score, h.entry) for i, h in enumerate(index.search(query, k))]


def write_hits(path: str | os.PathLike, hits: Sequence[SearchHit]) -> Path:
    """Hit footprints as polygons: in their scene's CRS when all share one, else in lon/lat."""
    crs_set = {h.entry.crs for h in hits}
    one_crs = len(crs_set) == 1 and None not in crs_set
    lonlat = not one_crs and all(h.entry.footprint_lonlat for h in hits)
    geoms = [shapely.from_wkt(h.entry.footprint_lonlat if lonlat else h.entry.footprint) for h in hits]
    columns = {
        "rank": [h.rank for h in hits],
        "score": [h.score for h in hits],
        "source": [h.entry.source for h in hits],
        "tile_size": [h.entry.tile_size for h in hits],
        "col": [h.entry.window[0] for h in hits],
        "row": [h.entry.window[1] for h in hits],
        "width": [h.entry.window[2] for h in hits],
        "height": [h.entry.window[3] for h in hits],
    }
    crs = "EPSG:4326" if lonlat else (next(iter(crs_set)) if one_crs else None)
    return write_vectors(path, geoms, columns, crs=crs)


# ---------------------------------------------------------------------------------------------- huge scenes
@dataclass
class SceneSearch:
    """Hits of :func:`search_scene` and every window it read with the size it was read at (bounded reads)."""

    hits: list[SearchHit]
    reads: list[tuple[tuple[int, int, int, int], int]] = field(default_factory=list)


def _score_windows(scene, windows, embedder, query, reads) -> np.ndarray:
    prep = embedder.preprocessing
    scores = []
    for start in range(0, len(windows), BATCH):
        part = windows[start : start + BATCH]
        images = [read_tile(scene, w, prep.bands, prep.input_size) for w in part]
        reads.extend(((int(w.col_off), int(w.row_off), int(w.width), int(w.height)), prep.input_size) for w in part)
        scores.append(embedder.embed_images(images) @ query)
    return np.concatenate(scores) if scores else np.zeros(0, np.float32)


def _inside(region: Window, size: int, overlap: int) -> list[Window]:
    plan = TilePlan.for_shape(int(region.height), int(region.width), size, overlap)
    return [Window(w.col_off + region.col_off, w.row_off + region.row_off, w.width, w.height) for w in plan.windows()]


def _best_distinct(windows: list[Window], scores: np.ndarray, k: int, max_iou: float = 0.3) -> list[int]:
    """Indices of the ``k`` best windows, skipping one that overlaps a better kept one by more than ``max_iou``."""
    boxes = [shapely.box(w.col_off, w.row_off, w.col_off + w.width, w.row_off + w.height) for w in windows]
    kept: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        if all(boxes[i].intersection(boxes[j]).area / boxes[i].union(boxes[j]).area <= max_iou for j in kept):
            kept.append(int(i))
        if len(kept) == k:
            break
    return kept


def search_scene(
    scene: Scene | str | os.PathLike,
    embedder,
    query: np.ndarray,
    k: int = 5,
    *,
    coarse: int = 1024,
    fine: int = 256,
    regions: int = 4,
) -> SceneSearch:
    """ImageRAG-style search of one scene without an index: every ``coarse`` tile (half overlapping) read
    decimated to the model's input and scored, then ``fine`` tiles inside the ``regions`` best coarse tiles; the
    ``k`` best distinct fine tiles come back with footprints. No read is larger than the model's input."""
    scene = scene if isinstance(scene, Scene) else open_scene(scene)
    source = str(Path(scene.path).resolve())
    result = SceneSearch([])
    coarse_windows = list(TilePlan.for_shape(scene.height, scene.width, coarse, coarse // 2).windows())
    coarse_scores = _score_windows(scene, coarse_windows, embedder, query, result.reads)
    best = _best_distinct(coarse_windows, coarse_scores, regions, max_iou=0.9)
    fine_windows = {(w.col_off, w.row_off): w for i in best for w in _inside(coarse_windows[i], fine, fine // 2)}
    windows = list(fine_windows.values())
    scores = _score_windows(scene, windows, embedder, query, result.reads)
    for rank, i in enumerate(_best_distinct(windows, scores, k), 1):
        w = windows[i]
        crs, fp, lonlat = footprints(scene, w)
        entry = Entry(source, (int(w.col_off), int(w.row_off), int(w.width), int(w.height)), fine, crs, fp, lonlat)
        result.hits.append(SearchHit(rank, float(scores[i]), entry))
    return result
