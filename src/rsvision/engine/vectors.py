"""Vector outputs of a run: boxes merged across tiles row by row, and one record per tile."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rsvision.errors import OutputError, PredictorError
from rsvision.geometry import Detections, boxes_to_polygons, rbox_to_xyxy
from rsvision.io.tiles import TilePlan
from rsvision.tasks.merge import merge_boxes, touches_inner_edge


class BoxMerger:
    """Boxes in scene pixels. Each tile row is merged with the boxes still open from the row above (cut boxes give
    way to whole ones, then class-aware NMS); boxes ending above the next tile row's start are final."""

    def __init__(
        self, plan: TilePlan, rotated: bool, iou_threshold: float, edge_margin: float, n_classes: int | None = None
    ):
        self.plan, self.rotated, self.n_classes = plan, rotated, n_classes
        self.iou_threshold, self.edge_margin = iou_threshold, edge_margin
        d = 5 if rotated else 4
        empty = {"boxes": np.zeros((0, d)), "scores": np.zeros(0), "labels": np.zeros(0, np.int64)}
        self.final = dict(empty)
        self.open = {**empty, "cut": np.zeros(0, bool)}
        self._row: list[dict[str, np.ndarray]] = []

    def add(self, row: int, col: int, det: Detections) -> None:
        if self.rotated and det.rboxes is None and len(det):
            raise PredictorError("a rotated box predictor must return Detections with rboxes (cx, cy, w, h, angle)")
        boxes = (det.rboxes if det.rboxes is not None else np.zeros((0, 5))) if self.rotated else det.as_boxes()
        scores, labels = det.scores, det.labels
        if self.n_classes is not None and len(labels) and (labels.min() < 0 or labels.max() >= self.n_classes):
            raise PredictorError(f"class ids must be in [0, {self.n_classes}) to match the predictor's class names")
        plan = self.plan
        cut = touches_inner_edge(boxes, (plan.tile_h, plan.tile_w), plan.inner_edges(row, col), self.edge_margin)
        shifted = boxes.copy()
        shifted[:, 0] += plan.col_starts[col]
        shifted[:, 1] += plan.row_starts[row]
        if not self.rotated:
            shifted[:, 2] += plan.col_starts[col]
            shifted[:, 3] += plan.row_starts[row]
        self._row.append({"boxes": shifted, "scores": scores, "labels": labels, "cut": cut})

    def end_row(self, row: int) -> None:
        parts = [self.open, *self._row]
        self._row = []
        union = {k: np.concatenate([p[k] for p in parts]) for k in self.open}
        keep = merge_boxes(union["boxes"], union["scores"], union["labels"], union["cut"], self.iou_threshold)
        kept = {k: v[keep] for k, v in union.items()}
        if row + 1 < self.plan.n_rows:
            y2 = (rbox_to_xyxy(kept["boxes"]) if self.rotated else kept["boxes"])[:, 3]
            done = y2 <= self.plan.row_end(row)
        else:
            done = np.ones(len(keep), bool)
        self.final = {k: np.concatenate([self.final[k], kept[k][done]]) for k in self.final}
        self.open = {k: v[~done] for k, v in kept.items()}

    def state(self) -> dict[str, np.ndarray]:
        return {**{f"final_{k}": v for k, v in self.final.items()}, **{f"open_{k}": v for k, v in self.open.items()}}

    def restore(self, state: dict[str, np.ndarray]) -> None:
        self.final = {k: state[f"final_{k}"] for k in self.final}
        self.open = {k: state[f"open_{k}"] for k in self.open}

    def features(self, transform, class_names: Sequence[str] | None) -> tuple[list, dict[str, np.ndarray]]:
        """Polygons in map coordinates, with columns ``class_id``, ``class`` (with names) and ``score``."""
        f = self.final
        geoms = boxes_to_polygons(f["boxes"], transform) if len(f["boxes"]) else []
        columns: dict[str, np.ndarray] = {"class_id": f["labels"]}
        if class_names is not None:
            names = np.asarray(list(class_names), dtype=str)
            columns["class"] = names[f["labels"]] if len(names) else np.zeros(0, dtype=str)
        columns["score"] = f["scores"]
        return geoms, columns


class RecordCollector:
    """One record per tile: the tile's place and the predictor's columns (scalars, strings or vectors)."""

    def __init__(self, plan: TilePlan):
        self.plan = plan
        self.windows: list[tuple[int, int]] = []  # (row_off, col_off)
        self.columns: dict[str, list] = {}

    def add(self, row: int, col: int, record: dict[str, np.ndarray]) -> None:
        if self.windows and set(record) != set(self.columns):
            raise PredictorError(f"tile records changed columns: {sorted(record)} after {sorted(self.columns)}")
        for name, value in record.items():
            self.columns.setdefault(name, []).append(np.asarray(value))
        self.windows.append((self.plan.row_starts[row], self.plan.col_starts[col]))

    def end_row(self, row: int) -> None:
        pass

    def _arrays(self) -> dict[str, np.ndarray]:
        return {name: np.stack(values) for name, values in self.columns.items()}

    def state(self) -> dict[str, np.ndarray]:
        arrays = {f"col_{k}": v for k, v in self._arrays().items()}
        return {"windows": np.asarray(self.windows, dtype=np.int64).reshape(-1, 2), **arrays}

    def restore(self, state: dict[str, np.ndarray]) -> None:
        self.windows = [tuple(w) for w in state["windows"].tolist()]
        self.columns = {k[4:]: list(v) for k, v in state.items() if k.startswith("col_")}

    def features(self, transform) -> tuple[list, dict[str, np.ndarray]]:
        """Tile footprints in map coordinates, with ``row_off``, ``col_off`` and the predictor's columns."""
        w = np.asarray(self.windows, dtype=np.float64).reshape(-1, 2)
        xyxy = np.stack([w[:, 1], w[:, 0], w[:, 1] + self.plan.tile_w, w[:, 0] + self.plan.tile_h], axis=1)
        geoms = boxes_to_polygons(xyxy, transform) if len(w) else []
        columns = {"row_off": w[:, 0].astype(np.int64), "col_off": w[:, 1].astype(np.int64), **self._arrays()}
        return geoms, columns


def check_record(record: dict[str, np.ndarray], driver: str | None, path) -> None:
    """A tile record holds one value or one vector per column; vectors per tile (embeddings) fit GeoParquet only.
    Checked on the first record, so a wrong output says so at the first batch, not at the end of the run."""
    for name, value in record.items():
        if np.ndim(value) > 1:
            raise PredictorError(
                f"tile record column {name!r} has shape {np.shape(value)} per tile: give one value "
                "or one vector per tile"
            )
        if np.ndim(value) == 1 and driver is not None and driver != "Parquet":
            raise OutputError(
                f"cannot write {path}: column {name!r} holds a vector per tile; write it to a .parquet file"
            )
