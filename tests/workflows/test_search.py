"""Index and search with a deterministic embedder (colour -> vector): the planted tile found with its footprint,
a killed run resumed without duplicates, and a huge scene searched coarse-to-fine in bounded reads."""

import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

from rsvision.io.search_index import SearchIndex
from rsvision.models.preprocess import Preprocessing
from rsvision.workflows.search import build_index, input_jobs, search_index, search_scene, write_hits

PREP = Preprocessing(bands=["red", "green", "blue"], scale=255, value_range=(0, 255), mean=[0.5] * 3, std=[0.25] * 3,
                     input_size=16)  # fmt: skip
ORIGIN = (500_000.0, 4_000_000.0)
PATCH = (320, 128, 64)  # col, row, size of the planted "water"


class ColourEmbedder:
    """Mean red, green, blue of an image as a unit vector; "water" is blue, "field" green."""

    name, dim, preprocessing = "colour", 3, PREP

    class weights:
        sha256 = "c" * 64

    def embed_images(self, images):
        x = np.stack([np.asarray(im, np.float32).reshape(3, -1).mean(1) + 1 for im in images])
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    def embed_texts(self, texts):
        table = {"water": [0, 0, 1.0], "field": [0, 1.0, 0]}
        return np.array([table[t] for t in texts], np.float32)


def planted_scene(path, size=512):
    """A green field (noisy) with a blue square at PATCH, 10 m pixels in UTM 33N."""
    rng = np.random.default_rng(0)
    data = np.zeros((3, size, size), np.uint8)
    data[1] = rng.integers(120, 180, (size, size))
    col, row, n = PATCH
    data[:, row : row + n, col : col + n] = np.array([0, 40, 200], np.uint8)[:, None, None]
    profile = dict(driver="GTiff", width=size, height=size, count=3, dtype="uint8", crs="EPSG:32633",
                   transform=from_origin(*ORIGIN, 10, 10), tiled=True, blockxsize=256, blockysize=256)  # fmt: skip
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
    return path


def patch_polygon():
    col, row, n = PATCH
    x0, y0 = ORIGIN[0] + col * 10, ORIGIN[1] - row * 10
    return shapely.box(x0, y0 - n * 10, x0 + n * 10, y0)


def test_planted_tile_is_found_with_its_footprint(tmp_path):
    scene = planted_scene(tmp_path / "scene.tif")
    embedder = ColourEmbedder()
    result = build_index([scene], embedder, tmp_path / "idx", tile_sizes=(64, 256), overlap=0)
    assert result.added == 64 + 4 and result.total == 68
    hits = search_index(tmp_path / "idx", embedder, embedder.embed_texts(["water"])[0], k=3)
    best = hits[0].entry
    assert best.tile_size == 64 and best.window == (320, 128, 64, 64) and best.crs == "EPSG:32633"
    assert shapely.from_wkt(best.footprint).equals(patch_polygon())
    lon, lat = shapely.from_wkt(best.footprint_lonlat).centroid.coords[0]
    assert 14.9 < lon < 15.1 and 36.1 < lat < 36.2  # UTM 33N, 500 km east, 4,000 km north
    out = write_hits(tmp_path / "hits.gpkg", hits)
    assert pyogrio.read_info(out)["features"] == 3 and pyogrio.read_info(out)["crs"] == "EPSG:32633"


def test_killed_run_resumes_without_duplicates(tmp_path):
    scene = planted_scene(tmp_path / "scene.tif")
    embedder = ColourEmbedder()

    def kill(n):
        if n == 0:
            raise KeyboardInterrupt  # as a killed job: stops after the first committed batch

    with pytest.raises(KeyboardInterrupt):
        build_index([scene], embedder, tmp_path / "idx", tile_sizes=(64, 256), overlap=0, batch=16, on_batch=kill)
    with SearchIndex.open(tmp_path / "idx") as index:
        assert len(index) == 16
    again = build_index([scene], embedder, tmp_path / "idx", tile_sizes=(64, 256), overlap=0, batch=16)
    assert again.skipped == 16 and again.added == 52 and again.total == 68
    grown = build_index([scene], embedder, tmp_path / "idx", tile_sizes=(64, 128), overlap=0)
    assert grown.added == 16 and grown.skipped == 64 and grown.total == 84
    with SearchIndex.open(tmp_path / "idx") as index:
        assert index.store().ntotal == 84


def test_every_entry_has_a_distinct_key(tmp_path):
    scene = planted_scene(tmp_path / "scene.tif")
    keys = [j.entry.key for j in input_jobs([scene], (64, 256), 0.25)]
    assert len(keys) == len(set(keys))


def test_huge_scene_search_reads_coarse_then_fine(tmp_path):
    scene = planted_scene(tmp_path / "scene.tif", size=1024)
    embedder = ColourEmbedder()
    found = search_scene(scene, embedder, embedder.embed_texts(["water"])[0], k=2, coarse=256, fine=64, regions=2)
    best = found.hits[0].entry
    assert shapely.from_wkt(best.footprint).intersection(patch_polygon()).area >= 0.5 * patch_polygon().area
    assert all(size == PREP.input_size for _, size in found.reads)  # never a read bigger than the model's input
    every_fine = (1024 // 32 - 1) ** 2  # fine tiles over the whole scene at half overlap
    assert len(found.reads) < every_fine / 4
