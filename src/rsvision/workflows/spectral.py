"""Spectral indices and band arithmetic over a scene of any size: one float32 band per index in a COG, streamed
through the engine tile by tile (no overlap: every pixel is computed once)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rsvision.core.sensors import Band
from rsvision.engine import RunResult, run
from rsvision.errors import RsvisionError
from rsvision.io import Scene, open_scene
from rsvision.io.writers import check_scene_outputs
from rsvision.tasks.spectral import (
    Formula,
    SpectralPredictor,
    parse_expression,
    resolve_formula,
    spectral_index,
)

# Sentinel-2 L1C/L2A digital numbers are reflectance x 10,000 (before processing baseline 04.00's offset)
SENTINEL2_SCALE = 1e-4


def formulas_for(
    bands: Sequence[Band],
    indices: Sequence[str] = (),
    expressions: Sequence[str] = (),
    constants: Mapping[str, float] | None = None,
) -> list[Formula]:
    """The output bands: catalogue indices by short name, then expressions (``NAME=EXPR`` names its band, else
    ``expr1``, ``expr2`` ...), each mapped onto the scene's bands."""
    formulas = []
    for name in indices:
        index = spectral_index(name)
        formulas.append(resolve_formula(index.name, index.expression, bands, constants))
    for i, text in enumerate(expressions, start=1):
        name, sep, body = text.partition("=")
        if not sep or not name.strip().isidentifier():
            name, body = f"expr{i}", text
        formulas.append(resolve_formula(name.strip(), parse_expression(body), bands, constants))
    if not formulas:
        raise RsvisionError("name at least one index (--index ndvi,ndwi) or expression (--expr)")
    names = [f.name for f in formulas]
    if len(set(names)) != len(names):
        raise RsvisionError(f"output band names repeat: {', '.join(names)}")
    return formulas


def reflectance_scale(scene: Scene) -> float:
    """What turns the scene's values into reflectance: 1e-4 for Sentinel-2 integers, else 1 (values as stored)."""
    if scene.sensor == "sentinel-2" and np.dtype(scene.dtype).kind in "ui":
        return SENTINEL2_SCALE
    return 1.0


def input_scaling(scene: Scene, scale: float | None, reflectance: bool) -> tuple[Scene, float, str]:
    """The scene to read (a reflectance view when asked), the factor the predictor multiplies by, and a label of
    the scaling applied: ``"reflectance: sentinel-2 boa, baseline 04.00, offset -1000, ..."`` or
    ``"values x 0.0001"``."""
    if reflectance:
        if scale is not None:
            raise RsvisionError("give either a scale factor (--scale) or reflectance from metadata, not both")
        view = scene.scaled("reflectance")
        return view, 1.0, f"reflectance: {scene.scaling.label}"  # type: ignore[union-attr]
    factor = reflectance_scale(scene) if scale is None else float(scale)
    return scene, factor, f"values x {factor:g}"


@dataclass
class SpectralResult:
    """What :func:`compute_indices` wrote: the COG, its band names, the scale applied (1 for reflectance from
    metadata), the label of the scaling (the output's ``scaling`` tag) and the engine's summary."""

    output: Path
    names: list[str]
    scale: float
    summary: str
    scaling: str = ""


def compute_indices(
    scene: Scene | str | os.PathLike,
    output: str | os.PathLike,
    *,
    indices: Sequence[str] = (),
    expressions: Sequence[str] = (),
    scale: float | None = None,
    reflectance: bool = False,
    constants: Mapping[str, float] | None = None,
    tile: int = 1024,
    threads: int | None = None,
    quiet: bool = False,
    runner: Callable[..., RunResult] | None = None,
) -> SpectralResult:
    """Compute ``indices`` (Awesome Spectral Indices short names: ``ndvi``, ``ndwi``, ``evi`` ...) and
    ``expressions`` over ``scene`` into a float32 COG ``output``, one named band each. Values are multiplied by
    ``scale`` first (default :func:`reflectance_scale`), or with ``reflectance`` turned into reflectance by the
    product's own rule (:attr:`Scene.scaling`, from its metadata); the output's ``scaling`` tag says which. NaN is
    the nodata of the output (zero denominators, nodata pixels).

    ``runner``: the engine call (:func:`~rsvision.engine.run` by default; ``rsvision batch`` gives
    :func:`~rsvision.engine.blocks.run_on_blocks` for a huge scene).
    """
    output = check_scene_outputs(output, kind="float32")
    scene = open_scene(scene) if isinstance(scene, (str, os.PathLike)) else scene
    formulas = formulas_for(scene.bands, indices, expressions, constants)
    source, factor, label = input_scaling(scene, scale, reflectance)
    nodata = None if reflectance else scene.nodata  # a reflectance view holds NaN where no data
    predictor = SpectralPredictor(formulas, factor, constants, nodata=nodata, scaling=label)
    result = (runner or run)(source, predictor, output, tile=tile, overlap=0, batch=1, threads=threads, quiet=quiet)
    return SpectralResult(result.outputs[0], [f.name for f in formulas], factor, result.summary, label)
