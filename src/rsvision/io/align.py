"""Put a second scene on a reference scene's grid (reprojection and resampling through WarpedVRT)."""

from __future__ import annotations

from rasterio.enums import Resampling
from rasterio.warp import transform_bounds

from rsvision.errors import DisjointScenesError, GridMismatchError
from rsvision.io.scene import Grid, Scene


def align(scene: Scene, to: Scene | Grid, resampling: str | Resampling | None = None) -> Scene:
    """``scene`` read on the reference grid (its CRS, transform and size), masked wherever ``scene`` has no data.

    Nothing is read here: pixels are warped window by window when the result is read.
    """
    grid = to.grid if isinstance(to, Scene) else to
    if scene.grid == grid:
        return scene
    if scene.crs is None or grid.crs is None:
        raise GridMismatchError(
            f"cannot align {scene.path} to the reference grid: both need a georeference (CRS and transform)"
        )
    west, south, east, north = transform_bounds(scene.crs, grid.crs, *scene.bounds, densify_pts=21)
    ref_w, ref_s, ref_e, ref_n = grid.bounds
    if west >= ref_e or east <= ref_w or south >= ref_n or north <= ref_s:
        raise DisjointScenesError(
            f"{scene.path} does not overlap the reference scene (bounds {ref_w:.6g}, {ref_s:.6g}, {ref_e:.6g},"
            f" {ref_n:.6g} in {grid.crs.to_string()}); pick scenes that cover the same area"
        )
    return scene.with_grid(grid, resampling)
