"""How outputs merge across overlapping tiles: the blend window for dense maps, and box de-duplication.

Blend window: along each axis a tile weighs 1 inside and ramps over the stretch it shares with its previous and
next tile, ``sin^2`` rising and ``cos^2`` falling at pixel centres, so two tiles sharing a stretch sum to 1 there and
no weight is ever 0 (a tile at the scene edge has no ramp on that side). The 2-D window is the product of the two
axes; where more than two tiles overlap, dividing by the summed weights still gives a weighted mean.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely

from rsvision.geometry import boxes_to_polygons, nms, rbox_to_xyxy, rotated_nms


def _ramp_up(n: int) -> np.ndarray:
    t = (np.arange(n, dtype=np.float64) + 0.5) / n
    return np.sin(0.5 * np.pi * t) ** 2


def axis_weights(starts: Sequence[int], length: int) -> list[np.ndarray]:
    """Per-tile 1-D weights for tiles of ``length`` pixels at ``starts`` (sorted) along one axis; float64."""
    out = []
    for i, s in enumerate(starts):
        w = np.ones(length)
        if i > 0:
            shared = starts[i - 1] + length - s
            w[:shared] *= _ramp_up(shared)
        if i + 1 < len(starts):
            shared = s + length - starts[i + 1]
            w[length - shared :] *= _ramp_up(shared)[::-1]
        out.append(w)
    return out


def axis_weight_sum(starts: Sequence[int], length: int, size: int) -> np.ndarray:
    """The summed weight of every pixel along an axis of ``size`` pixels; float64, positive everywhere covered."""
    total = np.zeros(size)
    for s, w in zip(starts, axis_weights(starts, length)):
        total[s : s + length] += w
    return total


# Boxes -----------------------------------------------------------------------------------------------------------


def touches_inner_edge(
    boxes: np.ndarray, tile_hw: tuple[int, int], inner: tuple[bool, bool, bool, bool], margin: float
) -> np.ndarray:
    """Which boxes (tile pixels; xyxy or rotated) reach within ``margin`` of a tile edge that lies inside the scene.

    ``inner`` says for the (left, top, right, bottom) edges whether a neighbouring tile lies beyond them.
    """
    xyxy = rbox_to_xyxy(boxes) if boxes.shape[1] == 5 else boxes
    h, w = tile_hw
    left, top, right, bottom = inner
    cut = np.zeros(len(boxes), dtype=bool)
    if left:
        cut |= xyxy[:, 0] <= margin
    if top:
        cut |= xyxy[:, 1] <= margin
    if right:
        cut |= xyxy[:, 2] >= w - margin
    if bottom:
        cut |= xyxy[:, 3] >= h - margin
    return cut


def merge_boxes(
    boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, cut: np.ndarray, iou_threshold: float, cover: float = 0.5
) -> np.ndarray:
    """Indices of the boxes (scene pixels, from overlapping tiles) to keep, by descending score.

    A box cut by a tile edge is dropped when another box of its class covers at least ``cover`` of its area and
    is whole, or is a larger piece of a cut object: the object is kept from the tile where it is whole, or where
    most of it shows when it is larger than the overlap. Then class-aware NMS (rotated for ``(N, 5)`` boxes)
    removes the duplicates.
    """
    n = len(boxes)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    alive = np.ones(n, dtype=bool)
    cut_idx = np.flatnonzero(cut)
    if len(cut_idx) and n > 1:
        polys = np.asarray(boxes_to_polygons(boxes), dtype=object)
        area = shapely.area(polys)
        qi, other = shapely.STRtree(polys).query(polys[cut_idx], predicate="intersects")
        c = cut_idx[qi]
        bigger = ~cut[other] | (area[other] > area[c]) | ((area[other] == area[c]) & (other < c))
        m = (other != c) & (labels[other] == labels[c]) & bigger
        c, other = c[m], other[m]
        inter = shapely.area(shapely.intersection(polys[c], polys[other]))
        alive[c[inter >= cover * np.maximum(area[c], 1e-12)]] = False
    idx = np.flatnonzero(alive)
    if boxes.shape[1] == 5:
        keep = rotated_nms(boxes[idx], scores[idx], iou_threshold, classes=labels[idx])
    else:
        keep = nms(boxes[idx], scores[idx], iou_threshold, classes=labels[idx])
    return idx[np.asarray(keep, dtype=np.int64)]
