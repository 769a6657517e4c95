"""Staging in parts: every flush closes a part and the next rows go to a new one; the COG made from the parts
equals the one made from a single staging file, overviews included; a resume drops the parts after its row."""

import numpy as np
import rasterio
from affine import Affine
from rasterio.windows import Window

from rsvision.io import Grid, RasterWriter, staging

GRID = Grid(rasterio.crs.CRS.from_epsg(32633), Affine(10, 0, 500000, 0, -10, 4000000), 900, 1100)
DATA = np.random.default_rng(0).integers(0, 6, (1, 1100, 900)).astype("uint8")


def _write(path, flush_every=None, stop_after=None, grid=GRID):
    writer = RasterWriter(
        path,
        grid,
        1,
        "uint8",
        255,
        blocksize=256,
        colormap={0: (255, 0, 0, 255)},
        descriptions=["class"],
        tags={"classes": '["a"]'},
        staging=path.with_name("stage.tif"),
    )
    writer.open()
    for i, row in enumerate(range(0, 1100, 130)):
        writer.write(DATA[:, row : row + 130], Window(0, row, 900, min(130, 1100 - row)))
        if flush_every and i % flush_every == flush_every - 1:
            writer.flush()
        if stop_after is not None and i == stop_after:
            return writer
    return writer


def test_parts_make_the_same_cog_as_one_staging_file(tmp_path):
    one = _write(tmp_path / "one.tif").close()
    writer = _write(tmp_path / "parts.tif", flush_every=2)
    assert staging.part_starts(writer._tmp) == [0, 260, 520, 780, 1040]
    parts = writer.close()
    with rasterio.open(one) as a, rasterio.open(parts) as b:
        assert np.array_equal(a.read(), b.read()) and np.array_equal(a.read(), DATA)
        assert a.overviews(1) == b.overviews(1) and len(a.overviews(1)) >= 2
        for f in a.overviews(1):
            shape = (1, -(-1100 // f), -(-900 // f))
            assert np.array_equal(a.read(out_shape=shape), b.read(out_shape=shape))
        assert b.colormap(1)[0] == (255, 0, 0, 255) and b.descriptions == ("class",) and b.tags()["classes"] == '["a"]'
        assert b.crs == GRID.crs and b.transform == GRID.transform and b.nodata == 255
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.tif", "parts.tif"]  # parts and VRTs removed


def test_a_resume_drops_the_parts_after_its_row(tmp_path):
    out = tmp_path / "r.tif"
    writer = _write(out, flush_every=2, stop_after=4)  # parts from rows 0, 260, 520; the last one was open
    writer.suspend()
    again = RasterWriter(out, GRID, 1, "uint8", 255, blocksize=256, staging=writer._tmp).open(resume=True)
    again.resume_at(260)  # the checkpoint said 260 rows were staged
    assert staging.part_starts(again._tmp) == [0]
    for row in range(260, 1100, 130):
        again.write(DATA[:, row : row + 130], Window(0, row, 900, min(130, 1100 - row)))
    with rasterio.open(again.close()) as ds:
        assert np.array_equal(ds.read(), DATA)


def test_parts_of_a_scene_without_georeference_stitch(tmp_path):
    """A photo's class map (no CRS, identity transform) staged in parts: GDAL refuses a None CRS on the stitched VRT,
    so none is set, and the COG stays without one."""
    grid = Grid(None, Affine.identity(), 900, 1100)
    out = _write(tmp_path / "photo.tif", flush_every=2, grid=grid).close()
    with rasterio.open(out) as ds:
        assert ds.crs is None and np.array_equal(ds.read(), DATA)
