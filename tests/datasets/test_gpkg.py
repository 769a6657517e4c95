"""Boxes to GeoPackage: polygons in map coordinates with class and score columns and the CRS."""

import numpy as np
import pyogrio
import pyogrio.raw
import pytest
import shapely
from rasterio.transform import Affine

from rsvision.datasets.gpkg import write_boxes
from rsvision.errors import AnnotationError
from rsvision.geometry import Detections


def test_boxes_with_transform_and_crs(tmp_path):
    dets = {
        "tile_a": Detections([0, 1], [0.9, 0.25], boxes=[[0, 0, 10, 20], [5, 5, 6, 6]]),
        "tile_b": Detections([1], [0.5], rboxes=[[50, 50, 20, 10, 0.0]]),
    }
    transform = Affine(0.5, 0, 500000, 0, -0.5, 4000000)
    out = write_boxes(tmp_path / "boxes.gpkg", dets, ["car", "ship"], crs="EPSG:32633", transform=transform)
    meta, _, geometry, fields = pyogrio.raw.read(out)
    assert pyogrio.list_layers(out)[0][0] == "boxes"
    assert meta["fields"].tolist() == ["image", "class", "label", "score"]
    assert "32633" in meta["crs"]
    columns = dict(zip(meta["fields"], fields))
    assert columns["image"].tolist() == ["tile_a", "tile_a", "tile_b"]
    assert columns["class"].tolist() == ["car", "ship", "ship"]
    assert columns["score"].tolist() == [0.9, 0.25, 0.5]
    geoms = shapely.from_wkb(geometry)
    assert shapely.bounds(geoms[0]).tolist() == [500000, 4000000 - 10, 500005, 4000000]
    assert shapely.area(geoms[2]) == pytest.approx(20 * 10 * 0.25)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["boxes.gpkg"]  # no temporary file left


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_single_image_in_pixels_and_bad_label(tmp_path):
    out = write_boxes(tmp_path / "px.gpkg", Detections([0], [1.0], boxes=[[1, 2, 3, 4]]), ["tree"])
    meta, _, geometry, _ = pyogrio.raw.read(out)
    assert meta["fields"].tolist() == ["class", "label", "score"] and meta["crs"] is None
    np.testing.assert_array_equal(shapely.bounds(shapely.from_wkb(geometry)[0]), [1, 2, 3, 4])
    with pytest.raises(AnnotationError, match="class index 3 is outside the 1 classes"):
        write_boxes(tmp_path / "bad.gpkg", Detections([3], [1.0], boxes=[[1, 2, 3, 4]]), ["tree"])
