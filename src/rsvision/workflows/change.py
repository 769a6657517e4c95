"""Change detection between two dates of any sensor, paired by georeference: the binary change COG, the change
score in percent, change polygons with area and mean score, and a before | after | change picture.

Pairing: the first date is cut to the two scenes' intersection (on its own grid, pixel for pixel), the second is
warped onto that grid (:func:`rsvision.io.align`), and bands are paired by name where the names agree (and their
wavelengths, when both are known, do too), else by centre wavelength
(:func:`rsvision.core.sensors.match_bands`): a Sentinel-2 pair keeps its 13 bands, Sentinel-2 against Landsat 8
its common ones. Then two passes: the method's global statistics from a fixed-seed sample of windows of both
dates (bounded memory: at most ``sample_windows`` windows of ``sample_size`` pixels), and the map through the
engine (:func:`rsvision.engine.run`) with the fitted :class:`~rsvision.tasks.change.UnsupervisedChange`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from affine import Affine
from rasterio.warp import transform_bounds
from rasterio.windows import Window, from_bounds

from rsvision.bench.plots import change_preview
from rsvision.core.files import remove_partial
from rsvision.core.sensors import Band, match_bands
from rsvision.core.settings import bounded_block_cache
from rsvision.engine import Probabilities, RunResult, run
from rsvision.errors import BandCountError, BandNotFoundError, RsvisionError
from rsvision.io import Grid, Scene, align, open_scene, write_vectors
from rsvision.io.coregister import Shift, finest_bands
from rsvision.io.coregister import coregister as coregister_scene
from rsvision.io.writers import check_scene_outputs
from rsvision.models.change import RGB_CHANGE_MODEL
from rsvision.models.resolve import LoadedModel
from rsvision.models.weights import builtin_weights
from rsvision.tasks.change import UnsupervisedChange, change_method, method_threshold_note, normaliser
from rsvision.tasks.classification import select_bands
from rsvision.tasks.learned_change import LearnedChange, date_moments
from rsvision.workflows.polygons import class_polygons, polygon_areas, polygon_means
from rsvision.workflows.segment import class_counts

WAVELENGTH_TOLERANCE = 0.05  # of the band's centre wavelength (match_bands' default)
SAMPLE_CACHE_MB = 64


@dataclass
class ChangeResult:
    """What :func:`change_scenes` wrote, the changed and compared pixels, and summary lines."""

    change_map: Path
    probabilities: Path | None
    vector: Path | None
    preview: Path | None
    changed: int
    pixels: int
    polygons: int
    bands: list[tuple[str, str]]  # (first date's band, second date's band) compared
    summary: str
    note: str = ""


@dataclass
class ScenePair:
    """Two dates on one grid with paired bands, in the same order."""

    before: Scene
    after: Scene
    bands: list[tuple[str, str]]
    shift: Shift | None = None  # the second date's co-registration, where it was asked for and measured
    coregistration: str = ""  # what co-registration did, where it was asked for (for the note)


def pair_bands(first: Sequence[Band], second: Sequence[Band], wanted: Sequence[str] | None = None) -> list[tuple]:
    """Pairs ``(i, j)`` of band positions, in the first date's order: the first date's band ``i`` against the
    second's ``j``. By name where the names agree and the wavelengths (when both are known) lie within 5%; else by
    centre wavelength. Each band of the second date is used once, by the band nearest it (Sentinel-2 B8A, not
    B08, meets Landsat 8 B5). ``wanted``: only these bands of the first date."""
    first, second = list(first), list(second)
    by_wavelength = match_bands(first, second, WAVELENGTH_TOLERANCE)
    candidates = []  # (by name first, then wavelength distance, i, j)
    for i, band in enumerate(first):
        if wanted is not None and band.name not in wanted:
            continue
        j = next((k for k, b in enumerate(second) if b.name == band.name and _close(band, b)), None)
        if j is not None:
            candidates.append((0, 0.0, i, j))
        elif by_wavelength[i] is not None:
            j = second.index(by_wavelength[i])
            candidates.append((1, abs(second[j].wavelength_nm - band.wavelength_nm), i, j))
    pairs, used = [], set()
    for _, _, i, j in sorted(candidates):
        if j not in used:
            pairs.append((i, j))
            used.add(j)
    return sorted(pairs)


def _close(a: Band, b: Band) -> bool:
    if a.wavelength_nm is None or b.wavelength_nm is None:
        return True
    return abs(a.wavelength_nm - b.wavelength_nm) <= WAVELENGTH_TOLERANCE * a.wavelength_nm


def _intersection(before: Scene, after: Scene) -> Scene:
    """``before`` cut to the part ``after`` covers, on its own grid (a whole-pixel window of it)."""
    if before.crs is None or after.crs is None:
        return before
    west, south, east, north = transform_bounds(after.crs, before.crs, *after.bounds, densify_pts=21)
    window = from_bounds(west, south, east, north, transform=before.transform)
    col0, row0 = max(0, int(np.floor(window.col_off))), max(0, int(np.floor(window.row_off)))
    col1 = min(before.width, int(np.ceil(window.col_off + window.width)))
    row1 = min(before.height, int(np.ceil(window.row_off + window.height)))
    if (col0, row0, col1, row1) == (0, 0, before.width, before.height) or col1 <= col0 or row1 <= row0:
        return before  # whole, or disjoint (align says so)
    grid = Grid(before.crs, before.transform @ Affine.translation(col0, row0), col1 - col0, row1 - row0)
    return before.with_grid(grid, "nearest")  # whole pixels of the same grid: nearest copies them exactly


def pair_scenes(
    before: Scene | str | os.PathLike,
    after: Scene | str | os.PathLike,
    bands: Sequence[str] | None = None,
    coregister: bool = False,
) -> ScenePair:
    """The two dates on the first one's grid over their intersection, with their paired bands. A disjoint pair
    (``DisjointScenesError``) or one without common bands (``BandNotFoundError``) is refused. ``coregister``: the
    second date also moved by the sub-pixel shift its pixels show against the first's (:mod:`rsvision.io.coregister`,
    measured on the first pass's sample windows)."""
    before = open_scene(before) if isinstance(before, (str, os.PathLike)) else before
    after = open_scene(after) if isinstance(after, (str, os.PathLike)) else after
    align(after, to=before)  # refuses a disjoint pair before anything is cut
    before = _intersection(before, after)
    aligned = align(after, to=before)
    pairs = pair_bands(before.bands, after.bands, bands)
    if not pairs:
        asked = f" among {', '.join(bands)}" if bands else ""
        raise BandNotFoundError(
            f"{before.path} and {after.path} have no common bands{asked} (by name or centre wavelength): "
            f"{', '.join(before.band_names)} against {', '.join(after.band_names)}"
        )
    first = before.select_bands([i for i, _ in pairs])
    second = aligned.select_bands([j for _, j in pairs])
    pair = ScenePair(first, second, [(before.bands[i].name, after.bands[j].name) for i, j in pairs])
    if coregister:  # measured on the finest bands alone: only they are read
        fine = finest_bands(first.bands)
        sample = sample_windows(ScenePair(first.select_bands(fine), second.select_bands(fine), []))
        pair.after, pair.shift = coregister_scene(second, *sample)
        pair.coregistration = (
            f"second date co-registered by {pair.shift}"
            if pair.shift is not None
            else "second date not co-registered: the dates share too little structure to measure a shift"
        )
    return pair


def sample_windows(
    pair: ScenePair, windows: int = 16, size: int = 256, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first pass's sample: ``windows`` windows of ``size`` pixels at fixed-seed random places (the whole
    scene when it is no larger), read from both dates: ``(before, after, valid)``, ``(N, C, h, w)`` float32 and
    ``(N, h, w)`` bool (valid in both dates)."""
    h, w = pair.before.height, pair.before.width
    if h * w <= windows * size * size:
        places = [Window(0, 0, w, h)]
    else:
        sh, sw = min(size, h), min(size, w)
        rng = np.random.default_rng(seed)
        rows, cols = rng.integers(0, h - sh + 1, windows), rng.integers(0, w - sw + 1, windows)
        places = [Window(int(c), int(r), sw, sh) for r, c in zip(rows, cols)]
    x, y, valid = [], [], []
    with bounded_block_cache(SAMPLE_CACHE_MB):  # GDAL's default cache (5% of memory) would keep every block read
        for window in places:
            _read_window(pair, window, x, y, valid)
    valid_arr = np.stack(valid)
    if valid_arr.sum() < 100:
        raise RsvisionError(
            f"{pair.before.path} and {pair.after.path} share too few valid pixels ({int(valid_arr.sum())} in the "
            "sample) to compare"
        )
    return np.stack(x), np.stack(y), valid_arr


def _read_window(pair: ScenePair, window: Window, x: list, y: list, valid: list) -> None:
    """Append one sample window of both dates and where both are valid."""
    a, b = pair.before.read(window), pair.after.read(window)
    ok = ~np.ma.getmaskarray(a).any(0) & ~np.ma.getmaskarray(b).any(0)
    x.append(np.ma.getdata(a).astype(np.float32))
    y.append(np.ma.getdata(b).astype(np.float32))
    valid.append(ok & np.isfinite(x[-1]).all(0) & np.isfinite(y[-1]).all(0))


def fit_change(
    before: np.ndarray,
    after: np.ndarray,
    valid: np.ndarray,
    method: str = "cva",
    normalise: str | None = None,
    tile: int = 512,
) -> UnsupervisedChange:
    """The pair predictor of ``method``, its normalisation and statistics fitted on sample windows."""
    norm = normaliser(normalise)
    if norm is not None:
        norm.fit(before, after, valid)
        after = norm.apply(after)
    fitted = change_method(method)
    fitted.fit(before, after, valid)
    return UnsupervisedChange(fitted, norm, tile_size=tile)


def change_scenes(
    before: Scene | str | os.PathLike,
    after: Scene | str | os.PathLike,
    output: str | os.PathLike,
    *,
    model: LoadedModel | None = None,
    method: str = "cva",
    probabilities: str | os.PathLike | None = None,
    vector: str | os.PathLike | None = None,
    preview: str | os.PathLike | None = None,
    bands: Sequence[str] | None = None,
    normalise: str | None = None,
    coregister: bool | None = None,
    tta: bool = False,
    tile: int = 512,
    batch: int = 4,
    sample_windows_n: int = 16,
    sample_size: int = 256,
    seed: int = 0,
    device: str = "cpu",
    threads: int | None = None,
    quiet: bool = False,
    runner: Callable[..., RunResult] | None = None,
) -> ChangeResult:
    """Detect change from ``before`` to ``after`` with a learned ``model`` (a change card and its siamese network)
    or, without one, an unsupervised ``method`` (``cva``, ``irmad``, ``pcakmeans``) into the binary change COG
    ``output`` (0 no change, 1 change; on the first date's grid over the two scenes' intersection).

    ``probabilities``: the change probability (a model's; a method's score) in percent (uint8 COG, bands
    ``no change`` and ``change``; 50 is the decision); ``vector``: change polygons with ``area`` (m^2; pixels
    without a georeference) and ``probability`` (mean change probability, 0-1); ``preview``: a PNG before | after |
    change; ``bands``: compare only these bands of the first date (methods); ``normalise``: ``histogram`` or
    ``irmad`` relative radiometric normalisation of the second date (methods; off by default); ``coregister``: move
    the second date onto the first by the sub-pixel shift its pixels show (None: as the model's card says, off for
    the methods); ``tta``: a model's probabilities averaged over each tile pair's flips and quarter turns.

    ``runner``: the engine call (:func:`~rsvision.engine.run` by default; ``rsvision batch`` gives
    :func:`~rsvision.engine.blocks.run_on_blocks` for a huge scene).
    """
    output = check_scene_outputs(output, vector, preview, kind="change-map")
    if probabilities is not None:
        check_scene_outputs(probabilities, kind="probabilities")
    if model is not None:
        pair, predictor, overlap, note = learned_predictor(before, after, model, tile, device, coregister, tta)
    elif tta:
        raise RsvisionError("--tta applies to a learned change model (-m), not to the unsupervised methods")
    else:
        pair = pair_scenes(before, after, bands, bool(coregister))
        x, y, valid = sample_windows(pair, sample_windows_n, sample_size, seed)
        predictor = fit_change(x, y, valid, method, normalise, tile)
        del x, y, valid
        overlap, note = 2 * predictor.method.margin, method_threshold_note(predictor.method)
    scores = Path(probabilities) if probabilities is not None else None
    if scores is None and vector is not None:  # the polygons' mean score needs it; dropped afterwards
        scores = output.with_name(f".{output.name}.scores.tif")
    try:
        result = (runner or run)(
            pair.before,
            predictor,
            [output] + ([Probabilities(scores)] if scores is not None else []),
            scene2=pair.after,
            tile=tile,
            overlap=overlap,
            batch=batch,
            threads=threads,
            quiet=quiet,
        )
        polygons = _write_polygons(output, scores, vector) if vector is not None else 0
    finally:
        if probabilities is None and scores is not None:
            remove_partial(scores)
    if preview is not None:
        preview = change_preview(pair.before, pair.after, output, preview)
    counts = class_counts(output)
    summary = (
        result.summary if probabilities is not None or scores is None else result.summary.replace(f", {scores}", "")
    )
    note = f"{note}; bands " + ", ".join(a if a == b else f"{a}~{b}" for a, b in pair.bands)
    if pair.coregistration:
        note += f"; {pair.coregistration}"
    return ChangeResult(
        output,
        Path(probabilities) if probabilities is not None else None,
        Path(vector) if vector is not None else None,
        Path(preview) if preview is not None else None,
        counts.get("change", 0),
        sum(counts.values()),
        polygons,
        pair.bands,
        summary,
        note,
    )


def learned_predictor(
    before: Scene | str | os.PathLike,
    after: Scene | str | os.PathLike,
    model: LoadedModel,
    tile: int = 512,
    device: str = "cpu",
    coregister: bool | None = None,
    tta: bool = False,
) -> tuple[ScenePair, LearnedChange, int, str]:
    """The pair, the model's pair predictor, the tiles' overlap and a note. The model's bands are found among the
    pair's common bands as a classifier finds them in a scene (by name, or by wavelength for common names); a pair
    without them is refused with the bands the model needs, and a hint at the RGB model. ``coregister``: None
    takes the card's ``preprocessing.coregister``; ``tta``: D4 views of each tile pair averaged."""
    if coregister is None:
        coregister = model.weights.preprocessing.coregister
    pair = pair_scenes(before, after, coregister=coregister)
    weights, first = model.weights, pair.before
    try:
        choice = select_bands(weights, first.bands, None, f"{first.path}", first.dtype, first.sensor)
    except BandCountError as error:
        hint = ""
        if len(weights.bands) > 3:
            rgb = f"-m {RGB_CHANGE_MODEL}" if RGB_CHANGE_MODEL in builtin_weights() else "--method cva"
            hint = f"; for an RGB pair use {rgb}"
        raise BandCountError(f"{error} (bands both dates share){hint}") from None
    names = first.band_names
    order = [names.index(n) for n in choice.read] if choice.read else list(range(len(names)))
    moments = None
    if weights.preprocessing.standardise:  # the first pass: each date's band statistics from sample windows
        moments = date_moments(*sample_windows(pair), order)
    predictor = LearnedChange(
        weights, model.module, order, choice, dtype=first.dtype, tile_size=tile, device=device, moments=moments, tta=tta
    )
    how = f" ({choice.describe(weights)})" if choice.to_8bit else ""
    how += " with D4 TTA" if tta else ""
    return pair, predictor, min(64, tile // 4), f"model {weights.name}{how}"


def _write_polygons(change_map: Path, scores: Path, vector: str | os.PathLike) -> int:
    """Polygons of the changed regions, with area and mean change score."""
    geoms, _, crs = class_polygons(change_map, keep=[1])
    columns = {
        "area": polygon_areas(geoms, crs),
        "probability": polygon_means(scores, geoms, band=2) / 100,
    }
    write_vectors(vector, geoms, columns, crs=crs)
    return len(geoms)
