import numpy as np
import pytest

from rsvision.errors import GeometryError
from rsvision.geometry import Detections


def test_detections_shapes_and_conversions():
    d = Detections([1, 0], [0.5, 0.25], boxes=[[0, 0, 4, 2], [1, 1, 3, 5]])
    np.testing.assert_array_equal(d.as_polygons()[0], [0, 0, 4, 0, 4, 2, 0, 2])
    r = Detections([0], [1.0], rboxes=[[5, 5, 4, 2, 0]])
    np.testing.assert_allclose(r.as_boxes(), [[3, 4, 7, 6]])
    with pytest.raises(GeometryError, match="1 scores for 2 labels"):
        Detections([0, 1], [1.0], boxes=np.zeros((2, 4)))
    with pytest.raises(GeometryError, match="need boxes, rboxes or polygons"):
        Detections([0], [1.0])


def test_empty_detections():
    assert len(Detections.empty()) == 0 and Detections.empty().boxes.shape == (0, 4)
    assert Detections.empty(rotated=True).rboxes.shape == (0, 5)
