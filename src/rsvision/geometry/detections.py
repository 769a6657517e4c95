"""`Detections`: the boxes, scores and class indices of one image or tile, in any of the three box encodings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rsvision.errors import GeometryError
from rsvision.geometry.boxes import poly_to_xyxy, rbox_to_poly, xyxy_to_poly


@dataclass
class Detections:
    """Boxes of one image or tile with class indices and scores: a model's output, or results read back from a file.

    Give ``boxes`` (N, 4) xyxy, or ``rboxes`` (N, 5) le90, or ``polygons`` (N, 8); writers and the engine derive
    what they need.
    """

    labels: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray | None = None
    rboxes: np.ndarray | None = None
    polygons: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        self.scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        n = len(self.labels)
        for name, k in (("boxes", 4), ("rboxes", 5), ("polygons", 8)):
            value = getattr(self, name)
            if value is not None:
                value = np.asarray(value, dtype=np.float64).reshape(-1, k)
                if len(value) != n:
                    raise GeometryError(f"detections: {len(value)} {name} for {n} labels")
                setattr(self, name, value)
        if len(self.scores) != n:
            raise GeometryError(f"detections: {len(self.scores)} scores for {n} labels")
        if self.boxes is None and self.rboxes is None and self.polygons is None:
            raise GeometryError("detections need boxes, rboxes or polygons")

    @classmethod
    def empty(cls, rotated: bool = False) -> Detections:
        """No objects, as horizontal boxes or (``rotated``) as rotated boxes."""
        return cls(
            np.zeros(0), np.zeros(0), **({"rboxes": np.zeros((0, 5))} if rotated else {"boxes": np.zeros((0, 4))})
        )

    def __len__(self) -> int:
        return len(self.labels)

    def as_polygons(self) -> np.ndarray:
        """(N, 8) corners: the polygons, else the rotated boxes' corners, else the boxes' corners."""
        if self.polygons is not None:
            return self.polygons
        if self.rboxes is not None:
            return rbox_to_poly(self.rboxes).reshape(-1, 8)
        return xyxy_to_poly(self.boxes)

    def as_boxes(self) -> np.ndarray:
        """(N, 4) xyxy: the boxes, else the envelope of the rotated boxes or polygons."""
        if self.boxes is not None:
            return self.boxes
        return poly_to_xyxy(self.as_polygons()).reshape(-1, 4)
