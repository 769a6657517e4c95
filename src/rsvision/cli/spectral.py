"""`rsvision spectral SCENE (--index ndvi,ndwi | --expr "(B08-B04)/(B08+B04)") -o OUT.tif`."""

from __future__ import annotations

from pathlib import Path

import typer

from rsvision.cli.app import QUIET, app, say, set_quiet
from rsvision.errors import InputNotFoundError, RsvisionError
from rsvision.io.writers import check_scene_outputs


def _constants(values: list[str]) -> dict[str, float]:
    out = {}
    for text in values:
        name, sep, value = text.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise RsvisionError(f"--constant takes NAME=NUMBER (e.g. L=0.5), got {text!r}")
    return out


@app.command("spectral")
def spectral_command(
    scene: Path | None = typer.Argument(
        None, help="A raster file, a folder of band files, or a product (.SAFE, Landsat folder, .zip, .tar)."
    ),
    output: Path | None = typer.Option(None, "-o", "--output", help="OUT.tif: a float32 COG, one band per index."),
    index: str | None = typer.Option(
        None, "--index", help="Awesome Spectral Indices short names, comma-separated (ndvi,ndwi,evi ...)."
    ),
    expr: list[str] = typer.Option(
        [], "--expr", help='Band arithmetic, e.g. "(B08-B04)/(B08+B04)" or "ratio=B08/B04"; repeatable.'
    ),
    scale: float | None = typer.Option(
        None, "--scale", help="Multiply band values by this first (default: 1e-4 for Sentinel-2 integers, else 1)."
    ),
    reflectance: bool = typer.Option(
        False,
        "--reflectance",
        help="Reflectance by the product's own rule (Sentinel-2 SAFE offsets, Landsat MTL); not with --scale.",
    ),
    constant: list[str] = typer.Option([], "--constant", help="NAME=NUMBER for an index's constant (L=0.5)."),
    list_indices: bool = typer.Option(False, "--list", help="List the catalogue's indices and formulas, then stop."),
    threads: int | None = typer.Option(None, "--threads", min=1, help="CPU threads (default: all available)."),
    quiet: bool = QUIET,
) -> None:
    """Spectral indices (Awesome Spectral Indices) and band arithmetic over a scene of any size.

    Band symbols of the catalogue (N, R, G, B, S1, RE1 ...) find the scene band by centre wavelength; scene band
    names (B08, red) work as they are. Zero denominators and nodata give NaN, the output's nodata.
    """
    set_quiet(quiet)
    from rsvision.tasks.spectral import index_names, spectral_index

    if list_indices:
        for name in index_names():
            entry = spectral_index(name)
            print(f"{name}\t{entry.formula}\t{entry.long_name}")
        return
    if scene is None or output is None:
        raise RsvisionError("give a SCENE and -o OUT.tif (or --list to see the indices)")
    if not scene.exists():
        raise InputNotFoundError(f"no such file or folder: {scene}")
    check_scene_outputs(output, kind="float32")
    from rsvision.workflows.spectral import compute_indices

    names = [n.strip() for n in (index or "").split(",") if n.strip()]
    result = compute_indices(
        scene,
        output,
        indices=names,
        expressions=expr,
        scale=scale,
        reflectance=reflectance,
        constants=_constants(constant),
        threads=threads,
        quiet=quiet,
    )
    say(f"{', '.join(result.names)} ({result.scaling}): {result.summary}")
