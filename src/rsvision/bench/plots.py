"""Pictures of results: a class map laid over its scene with a legend of the classes present, and confusion
matrices."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import rasterio
from matplotlib import colormaps
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from rsvision.core.files import atomic_output
from rsvision.core.sensors import reflectance_to_8bit
from rsvision.errors import NotGeoreferencedWarning
from rsvision.io import open_scene
from rsvision.io.scene import Scene


def _display_rgb(scene: Scene, shape: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) floats in [0, 1]: red, green, blue when the scene names them (B04, B03, B02 for Sentinel-2),
    else its first three bands (or its one band as grey), each stretched between its 2nd and 98th percentiles."""
    names = scene.band_names
    for wanted in (["red", "green", "blue"], ["B04", "B03", "B02"], ["B4", "B3", "B2"]):
        if all(n in names for n in wanted):
            bands = wanted
            break
    else:
        bands = names[:3] if len(names) >= 3 else names[:1] * 3
    pixels = scene.read(bands=bands, out_shape=shape, resampling="average")
    data = np.ma.filled(pixels.astype("float64"), np.nan)
    lo, hi = np.nanpercentile(data, 2, axis=(1, 2)), np.nanpercentile(data, 98, axis=(1, 2))
    rgb = (data - lo[:, None, None]) / np.maximum(hi - lo, 1e-9)[:, None, None]
    return np.nan_to_num(np.clip(rgb, 0, 1)).transpose(1, 2, 0)


def class_map_preview(
    scene: Scene | str | os.PathLike,
    class_map: str | os.PathLike,
    output: str | os.PathLike,
    max_size: int = 1200,
    alpha: float = 0.45,
) -> Path:
    """A PNG of ``scene`` with ``class_map`` (a class-map COG with its colour map and ``classes`` tag, as
    ``rsvision classify`` writes it) blended over it, and a legend of the classes present."""
    scene = scene if isinstance(scene, Scene) else open_scene(scene)
    with warnings.catch_warnings():  # our own output: the scene's missing georeference was reported already
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        classes_scene = open_scene(class_map)
    with classes_scene, rasterio.open(class_map) as ds:
        colours = ds.colormap(1)
        names = json.loads(ds.tags().get("classes", "[]"))
        nodata = ds.nodata
        scale = min(1.0, max_size / max(scene.width, scene.height))
        shape = (max(1, round(scene.height * scale)), max(1, round(scene.width * scale)))
        ids = classes_scene.read(out_shape=shape, resampling="nearest").data[0]
    rgb = _display_rgb(scene, shape)
    valid = ids != nodata if nodata is not None else np.ones(ids.shape, bool)
    lut = np.zeros((256, 3))
    for value, colour in colours.items():
        lut[value] = np.asarray(colour[:3]) / 255
    blended = rgb.copy()
    blended[valid] = (1 - alpha) * rgb[valid] + alpha * lut[ids[valid]]
    present = [int(v) for v in np.unique(ids[valid])]
    fig = Figure(figsize=(shape[1] / 100 + 2.6, shape[0] / 100), dpi=100)  # no pyplot: no global figure state
    ax = fig.subplots()
    ax.imshow(blended, interpolation="nearest")
    ax.set_axis_off()
    handles = [Patch(facecolor=lut[v], edgecolor="0.4", label=names[v] if v < len(names) else str(v)) for v in present]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False, fontsize=9)
    fig.tight_layout()
    with atomic_output(output) as tmp:
        fig.savefig(tmp, format="png")
    return Path(output)


def plot_confusion(matrix: np.ndarray, classes: list[str], path: Path, title: str) -> Path:
    """Row-normalised confusion matrix (rows = true class) as a PNG."""
    m = np.asarray(matrix, dtype=float)
    rows = m / np.maximum(m.sum(1, keepdims=True), 1)
    n = len(classes)
    fig = Figure(figsize=(0.32 * n + 3, 0.32 * n + 2.5))  # no pyplot: no global figure state
    ax = fig.subplots()
    im = ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), classes, rotation=90, fontsize=7)
    ax.set_yticks(range(n), classes, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    for i in range(n):
        for j in range(n):
            if m[i, j]:
                ax.text(
                    j,
                    i,
                    int(m[i, j]),
                    ha="center",
                    va="center",
                    fontsize=5,
                    color="white" if rows[i, j] > 0.5 else "black",
                )
    fig.colorbar(im, ax=ax, fraction=0.03)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return Path(path)


def plot_segmentation(
    image: np.ndarray,
    truth: np.ndarray,
    predicted: np.ndarray,
    classes: list[str],
    colours: list[tuple[int, int, int]],
    path: Path,
    title: str,
    ignore_index: int | None = None,
    max_size: int = 700,
) -> Path:
    """One PNG of image | truth | prediction side by side (classes in their colours, ignored pixels grey), with a
    legend. ``image`` is (3, H, W) 8-bit; the maps hold class ids."""
    step = max(1, -(-max(image.shape[1:]) // max_size))
    lut = np.full((256, 3), 0.6)
    for i, rgb in enumerate(colours):
        lut[i] = np.asarray(rgb[:3]) / 255
    panels = [image[:3, ::step, ::step].transpose(1, 2, 0) / 255.0]
    for ids in (truth, predicted):
        ids = np.asarray(ids)[::step, ::step]
        shown = lut[np.clip(ids, 0, 255)]
        if ignore_index is not None:
            shown[ids == ignore_index] = 0.6
        panels.append(shown)
    h, w = panels[0].shape[:2]
    fig = Figure(figsize=(3 * w / 100 + 1.8, h / 100 + 0.6), dpi=100)  # no pyplot: no global figure state
    axes = fig.subplots(1, 3)
    for ax, panel, name in zip(axes, panels, ("image", "truth", "prediction")):
        ax.imshow(panel, interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    handles = [Patch(color=lut[i], label=c) for i, c in enumerate(classes)]
    fig.legend(handles=handles, loc="center right", fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(left=0.01, right=0.86, top=0.88, bottom=0.02, wspace=0.03)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return Path(path)


def change_preview(
    before: Scene, after: Scene, change_map: str | os.PathLike, output: str | os.PathLike, max_size: int = 800
) -> Path:
    """A PNG of three panels: the first date, the second date (on the first one's grid) and the change map (its
    changed pixels red over the second date)."""
    scale = min(1.0, max_size / max(before.width, before.height))
    shape = (max(1, round(before.height * scale)), max(1, round(before.width * scale)))
    with warnings.catch_warnings():  # our own output
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with open_scene(change_map) as changes:
            ids = changes.read(out_shape=shape, resampling="nearest").data[0]
    first, second = _display_rgb(before, shape), _display_rgb(after, shape)
    marked = second.copy()
    marked[ids == 1] = 0.35 * second[ids == 1] + 0.65 * np.array([0.9, 0.15, 0.15])
    fig = Figure(figsize=(3 * shape[1] / 100 + 0.4, shape[0] / 100 + 0.5), dpi=100)
    for ax, image, title in zip(fig.subplots(1, 3), (first, second, marked), ("before", "after", "change")):
        ax.imshow(image, interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.set_axis_off()
    fig.tight_layout()
    with atomic_output(output) as tmp:
        fig.savefig(tmp, format="png")
    return Path(output)


def _true_colour(bands: np.ndarray) -> np.ndarray:
    """``(3, H, W)`` as 8 bits: 8-bit as it is, integer reflectance by the sensor's true colour, float values of
    no fixed range (a standardised date) stretched between their 2nd and 98th percentiles."""
    if bands.dtype == np.uint8:
        return bands
    if bands.dtype.kind != "f":
        return reflectance_to_8bit(bands)
    low, high = np.percentile(bands, (2, 98))
    return (np.clip((bands - low) / max(high - low, 1e-6), 0, 1) * 255).astype(np.uint8)


def plot_change_example(
    pair: np.ndarray,
    truth: np.ndarray,
    predicted: np.ndarray,
    bands: list[str],
    path: Path,
    title: str,
    max_size: int = 400,
) -> Path:
    """One PNG of before | after | truth | prediction for a stacked pair ``(2C, H, W)`` (bands named ``bands``):
    the dates in true colour (Sentinel-2 reflectance's B04, B03, B02, or 8-bit red, green, blue; float values, as
    standardised dates, stretched between their 2nd and 98th percentiles), changed pixels white."""
    c = len(bands)
    names = next((n for n in (["B04", "B03", "B02"], ["red", "green", "blue"]) if set(n) <= set(bands)), None)
    rgb = np.array([bands.index(b) for b in names] if names else [0, 0, 0])
    step = max(1, -(-max(truth.shape) // max_size))
    dates = [_true_colour(pair[offset + rgb, ::step, ::step]).transpose(1, 2, 0) / 255.0 for offset in (0, c)]
    panels = dates + [np.asarray(m, dtype=float)[::step, ::step] for m in (truth, predicted)]
    h, w = panels[-1].shape
    fig = Figure(figsize=(4 * w / 100 + 0.4, h / 100 + 0.6), dpi=100)
    for ax, panel, name in zip(fig.subplots(1, 4), panels, ("before", "after", "truth", "prediction")):
        ax.imshow(panel, interpolation="nearest", cmap="gray", vmin=0, vmax=1)
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(left=0.01, right=0.99, top=0.88, bottom=0.02, wspace=0.03)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return Path(path)


def detection_preview(
    scene: Scene | str | os.PathLike,
    corners: np.ndarray,
    labels: np.ndarray,
    classes: list[str],
    output: str | os.PathLike,
    max_size: int = 1200,
) -> Path:
    """A PNG of ``scene`` (downsampled to ``max_size`` pixels at most) with boxes drawn as outlines, one colour
    per class, and a legend of the classes found. ``corners``: ``(N, 8)`` box corners in scene pixels."""
    scene = scene if isinstance(scene, Scene) else open_scene(scene)
    scale = min(1.0, max_size / max(scene.width, scene.height))
    shape = (max(1, round(scene.height * scale)), max(1, round(scene.width * scale)))
    rgb = _display_rgb(scene, shape)
    labels = np.asarray(labels, dtype=np.int64)
    present = [int(v) for v in np.unique(labels)]
    palette = _class_colours(max(present, default=0) + 1)
    fig = Figure(figsize=(shape[1] / 100 + 2.6, shape[0] / 100), dpi=100)
    ax = fig.subplots()
    ax.imshow(rgb, interpolation="nearest", extent=(0, shape[1], shape[0], 0))
    if len(labels):
        # pixel edges scale with the picture: corners are continuous pixel coordinates of the scene
        polygons = np.asarray(corners, dtype=np.float64).reshape(-1, 4, 2) * (shape[1] / scene.width)
        ax.add_collection(
            PolyCollection(polygons, closed=True, facecolors="none", edgecolors=palette[labels], linewidths=1.2)
        )
    ax.set_xlim(0, shape[1])
    ax.set_ylim(shape[0], 0)
    ax.set_axis_off()
    names = [classes[v] if v < len(classes) else f"class_{v}" for v in present]
    counts = [int((labels == v).sum()) for v in present]
    handles = [
        Patch(facecolor="none", edgecolor=palette[v], label=f"{n} ({c:,})") for v, n, c in zip(present, names, counts)
    ]
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False, fontsize=9)
    fig.tight_layout()
    with atomic_output(output) as tmp:
        fig.savefig(tmp, format="png")
    return Path(output)


def _class_colours(n: int) -> np.ndarray:
    """``(n, 4)`` RGBA colours that stand out on imagery: tab10's, repeated past ten classes."""
    return np.asarray([colormaps["tab10"](i % 10) for i in range(n)])


def plot_pr_curve(recall: np.ndarray, precision: np.ndarray, scores: np.ndarray, path: Path, title: str) -> Path:
    """A precision-recall curve (one class), the points at scores 0.3 and 0.5 marked."""
    fig = Figure(figsize=(4.5, 4), dpi=100)
    ax = fig.subplots()
    ax.plot(recall, precision, lw=1.5)
    for threshold, marker in ((0.3, "o"), (0.5, "s")):
        above = np.flatnonzero(scores >= threshold)
        if len(above):
            i = above[-1]
            ax.plot(recall[i], precision[i], marker, label=f"score {threshold}: P {precision[i]:.2f} R {recall[i]:.2f}")
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall", ylabel="precision", title=title)
    ax.legend(fontsize=7, loc="lower left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)


def plot_detections(
    image: np.ndarray, truth: np.ndarray, found: np.ndarray, path: Path, title: str, max_size: int = 900
) -> Path:
    """An 8-bit ``(3, H, W)`` image with its true boxes (white, dashed) and the found ones (red), xyxy pixels; a
    larger image is shown at a whole-number reduction to ``max_size`` pixels."""
    step = max(1, -(-max(image.shape[1:]) // max_size))
    shown = image[:3, ::step, ::step]
    h, w = shown.shape[1:]
    fig = Figure(figsize=(w / 100 + 0.2, h / 100 + 0.5), dpi=100)
    ax = fig.subplots()
    ax.imshow(shown.transpose(1, 2, 0))
    for boxes, style in ((truth, {"ec": "white", "ls": "--"}), (found, {"ec": "red", "ls": "-"})):
        for x0, y0, x1, y1 in np.asarray(boxes)[:, :4] / step:
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, lw=1, **style))
    ax.set_title(f"{title}: truth dashed white, found red", fontsize=8)
    ax.set_axis_off()
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)
