"""`rsvision info SCENE [--json]`."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from rsvision.cli.app import QUIET, app, set_quiet
from rsvision.core.progress import plural
from rsvision.errors import NotGeoreferencedWarning
from rsvision.io import open_scene, scene_info


@app.command()
def info(
    scene: Path = typer.Argument(..., help="A raster file, a folder of band files (Sentinel-2, OSCD imgs_1/)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (keys in docs/io.md)."),
    quiet: bool = QUIET,
) -> None:
    """Describe a scene: sensor, bands, CRS, size, pixel size, bounds, nodata, dtype, overviews."""
    set_quiet(quiet)
    with warnings.catch_warnings():  # the crs line says it: "none (pixel coordinates)"
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        s = open_scene(scene)
    with s:
        meta = scene_info(s)
        res = s.res
    if as_json:
        print(json.dumps(meta, indent=2))
        return
    console = Console()
    console.print(f"[bold]{meta['path']}[/bold]")
    rows = [
        ("sensor", meta["sensor"] or "unknown"),
        ("crs", meta["crs"] or "none (pixel coordinates)"),
        ("size", f"{meta['width']} x {meta['height']} pixels, {plural(len(meta['bands']), 'band')}, {meta['dtype']}"),
        ("pixel size", f"{res[0]:.6g} x {res[1]:.6g}"),
        ("bounds", ", ".join(f"{v:.6f}" for v in meta["bounds"])),
        ("bounds lon/lat", ", ".join(f"{v:.6f}" for v in meta["bounds_lonlat"]) if meta["bounds_lonlat"] else "-"),
        ("nodata", str(meta["nodata"])),
        ("overviews", ", ".join(map(str, meta["overviews"])) or "none"),
        ("reflectance", meta["reflectance"] or "no rule in the metadata (values as stored)"),
    ]
    for key, value in rows:
        console.print(f"  {key:<15} {value}", highlight=False)
    table = Table("band", "wavelength (nm)", "GSD (m)", "from", box=None, padding=(0, 2))
    for b in meta["bands"]:
        table.add_row(
            b["name"],
            f"{b['wavelength_nm']:g}" if b["wavelength_nm"] else "-",
            f"{b['gsd_m']:g}" if b["gsd_m"] else "-",
            b["origin"] or "-",  # where the name came from: file, catalogue (by band count), user; "-": unknown
        )
    console.print(table)
