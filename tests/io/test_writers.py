import json
import os

import numpy as np
import pyarrow.parquet as pq
import pyogrio
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window
from shapely.geometry import box

from rsvision.core.files import atomic_output
from rsvision.errors import OutputError
from rsvision.io import Grid, RasterWriter, staging, write_cog, write_vectors

GRID = Grid(rasterio.crs.CRS.from_epsg(32633), Affine(10, 0, 500000, 0, -10, 4000000), 700, 600)


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_cog_roundtrip_equal(tmp_path):
    data = np.random.default_rng(0).integers(0, 4000, (3, 600, 700)).astype("uint16")
    path = write_cog(tmp_path / "out.tif", data, GRID, nodata=0)
    with rasterio.open(path) as ds:
        assert ds.crs == GRID.crs and ds.transform == GRID.transform and ds.nodata == 0
        assert ds.profile["tiled"] and ds.compression is not None
        assert ds.overviews(1)  # overviews built
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        np.testing.assert_array_equal(ds.read(), data)
    assert _leftovers(tmp_path) == []


def test_masked_array_written_as_nodata(tmp_path):
    data = np.ma.MaskedArray(np.ones((1, 40, 50), "float32"), mask=False)
    data.mask[0, :10] = True
    path = write_cog(tmp_path / "m.tif", data, Grid(None, Affine.identity(), 50, 40), nodata=-1)
    with rasterio.open(path) as ds:
        out = ds.read(1)
    assert (out[:10] == -1).all() and (out[10:] == 1).all()
    with pytest.raises(OutputError, match="no nodata value"):
        write_cog(tmp_path / "n.tif", data, Grid(None, Affine.identity(), 50, 40))


def test_incremental_writer_windows(tmp_path):
    data = np.arange(600 * 700, dtype="int32").reshape(1, 600, 700)
    with RasterWriter(tmp_path / "w.tif", GRID, 1, "int32") as writer:
        for row in range(0, 600, 256):
            h = min(256, 600 - row)
            writer.write(data[:, row : row + h], Window(0, row, 700, h))
        assert not (tmp_path / "w.tif").exists()  # nothing under the final name until complete
    with rasterio.open(tmp_path / "w.tif") as ds:
        np.testing.assert_array_equal(ds.read(), data)


@pytest.mark.parametrize("shape", [(600, 700), (1301, 1027)])
def test_overviews_built_as_strips_are_written(tmp_path, shape):
    h, w = shape
    grid = Grid(GRID.crs, GRID.transform, w, h)
    data = np.random.default_rng(1).integers(0, 250, (2, h, w)).astype("uint8")
    writer = RasterWriter(tmp_path / "o.tif", grid, 2, "uint8", blocksize=256).open()
    for row in range(0, h, 217):  # strips that match no block
        writer.write(data[:, row : row + 217], Window(0, row, w, min(217, h - row)))
    assert staging.part_path(writer._tmp, 0, level1=True).exists()  # the first overview, filled as strips came
    writer.suspend()  # as at a checkpoint: both files kept and reopened
    writer.open(resume=True)
    path = writer.close()
    rows, cols = np.minimum(2 * np.arange(-(-h // 2)) + 1, h - 1), np.minimum(2 * np.arange(-(-w // 2)) + 1, w - 1)
    with rasterio.open(path) as ds:
        assert ds.overviews(1) == [2 ** (i + 1) for i in range(len(ds.overviews(1)))]
        assert max(-(-h // ds.overviews(1)[-1]), -(-w // ds.overviews(1)[-1])) <= 256  # down to one block
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        np.testing.assert_array_equal(ds.read(), data)
        level1 = ds.read(out_shape=(2, len(rows), len(cols)))
    np.testing.assert_array_equal(level1, data[:, rows][:, :, cols])  # nearest: pixel 2i + 1
    assert _leftovers(tmp_path) == []


def test_failure_keeps_existing_output_and_leaves_nothing(tmp_path):
    target = tmp_path / "out.tif"
    target.write_bytes(b"previous result")
    with pytest.raises(RuntimeError), RasterWriter(target, GRID, 1, "uint8") as writer:
        writer.write(np.ones((1, 100, 700), "uint8"), Window(0, 0, 700, 100))
        raise RuntimeError("killed")
    assert target.read_bytes() == b"previous result"
    assert _leftovers(tmp_path) == []
    with pytest.raises(ValueError), atomic_output(target) as tmp:
        tmp.write_bytes(b"half")
        raise ValueError
    assert target.read_bytes() == b"previous result" and _leftovers(tmp_path) == []


def test_unwritable_output(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        write_cog(tmp_path / "missing" / "out.tif", np.zeros((5, 5), "uint8"), Grid(None, Affine.identity(), 5, 5))
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(OutputError, match="does not exist"):
        write_cog(a_file / "out.tif", np.zeros((5, 5), "uint8"), Grid(None, Affine.identity(), 5, 5))
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        with pytest.raises(OutputError, match="not writable"):
            write_vectors(locked / "v.gpkg", [box(0, 0, 1, 1)], {"a": [1]})
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson"])
def test_vectors_roundtrip(tmp_path, suffix):
    geoms = [box(500000, 3990000, 500100, 3990100), box(500200, 3990000, 500300, 3990050)]
    path = write_vectors(
        tmp_path / f"v{suffix}", geoms, {"class": ["ship", "plane"], "score": [0.9, 0.5]}, crs="EPSG:32633"
    )
    meta = pyogrio.read_info(path)
    assert meta["features"] == 2 and meta["crs"] == "EPSG:32633"
    _, _, _wkb, fields = pyogrio.raw.read(path)
    assert list(fields[0]) == ["ship", "plane"] and np.allclose(fields[1], [0.9, 0.5])
    assert _leftovers(tmp_path) == []


def test_geoparquet(tmp_path):
    import shapely

    geoms = [box(0, 0, 1, 1), box(2, 2, 4, 3)]
    path = write_vectors(tmp_path / "v.parquet", geoms, {"score": [0.1, 0.2]}, crs="EPSG:4326")
    table = pq.read_table(path)
    geo = json.loads(table.schema.metadata[b"geo"])
    assert geo["primary_column"] == "geometry" and geo["columns"]["geometry"]["encoding"] == "WKB"
    assert geo["columns"]["geometry"]["crs"]["id"]["code"] == 4326
    assert geo["columns"]["geometry"]["bbox"] == [0, 0, 4, 3]
    back = shapely.from_wkb(table.column("geometry").to_pylist())
    assert all(a.equals(b) for a, b in zip(back, geoms))


def test_empty_vector_layer(tmp_path):
    path = write_vectors(tmp_path / "e.gpkg", [], {"score": np.array([], "float64")}, crs="EPSG:32633")
    assert pyogrio.read_info(path)["features"] == 0


def test_unknown_vector_format(tmp_path):
    with pytest.raises(OutputError, match="unknown vector format"):
        write_vectors(tmp_path / "v.shp.zip", [box(0, 0, 1, 1)])


def test_class_map_metadata_on_a_small_strip_raster(tmp_path):
    grid = Grid(GRID.crs, GRID.transform, 150, 150)
    colours = {0: (255, 0, 0, 255), 1: (0, 0, 255, 255)}
    with RasterWriter(
        tmp_path / "c.tif",
        grid,
        1,
        "uint8",
        255,
        descriptions=["class"],
        colormap=colours,
        tags={"classes": '["a", "b"]'},
    ) as writer:
        writer.write(np.tile(np.array([0, 1], "uint8"), (150, 75)))
    with rasterio.open(tmp_path / "c.tif") as ds:
        assert ds.colormap(1)[0] == (255, 0, 0, 255) and ds.colormap(1)[1] == (0, 0, 255, 255)
        assert ds.descriptions == ("class",) and ds.tags()["classes"] == '["a", "b"]'


def test_staging_blocks_are_shorter_on_wide_outputs_and_the_cache_need_follows(tmp_path):
    """Strips of any height leave at most one part-filled staging block row in GDAL's cache: on a wide output the
    blocks are shorter, so that row stays small."""
    writer = RasterWriter(tmp_path / "s.tif", GRID, 2, "uint16", blocksize=256).open()
    assert writer._ds.block_shapes[0] == (256, 256) and writer._ovr.block_shapes[0] == (256, 256)
    writer.abort()
    row = (3 + 2) * 256 * 2 * 2  # 3 block columns (700 px) and 2 of the first overview (350 px), 2 bands of uint16
    assert writer.block_cache_bytes() == 2 * 256 * row
    wide_grid = Grid(GRID.crs, GRID.transform, 65536, 600)
    wide = RasterWriter(tmp_path / "w.tif", wide_grid, 1, "uint8", blocksize=512).open()
    assert wide._ds.block_shapes[0] == (336, 512)  # 32 MB / (65,536 + 32,768 bytes a row): 341 rows, to 16
    wide.abort()
    scores = RasterWriter(tmp_path / "p.tif", wide_grid, 6, "float32", blocksize=512)
    assert scores._staging_block_rows == 64 and scores.block_cache_bytes() == 2 * 64 * (65536 + 32768) * 6 * 4
