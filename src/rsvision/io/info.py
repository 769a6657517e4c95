"""What `rsvision info` reports about a scene, as a JSON-ready dict (keys in docs/io.md)."""

from __future__ import annotations

from rasterio.warp import transform_bounds

from rsvision.io.scene import Scene


def scene_info(scene: Scene) -> dict:
    bounds_lonlat = None
    if scene.crs is not None:
        bounds_lonlat = list(transform_bounds(scene.crs, "EPSG:4326", *scene.bounds, densify_pts=21))
    return {
        "path": scene.path,
        "sensor": scene.sensor,
        "crs": scene.crs.to_string() if scene.crs is not None else None,
        "width": scene.width,
        "height": scene.height,
        "transform": list(scene.transform)[:6],
        "bounds": list(scene.bounds),
        "bounds_lonlat": bounds_lonlat,
        "dtype": scene.dtype,
        "nodata": scene.nodata,
        "overviews": scene.overviews,
        "reflectance": scene.scaling.label if scene.scaling is not None else None,
        "bands": [
            {"name": b.name, "wavelength_nm": b.wavelength_nm, "gsd_m": b.gsd_m, "origin": b.origin}
            for b in scene.bands
        ],
    }
