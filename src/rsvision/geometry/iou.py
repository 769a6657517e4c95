"""Intersection over union: horizontal boxes and exact rotated boxes, N x M or pair by pair.

Rotated IoU is exact (no sampling, no polygon library). The intersection of rectangle P with
rectangle Q is measured in Q's frame, where Q is the axis-aligned box ``[-a, a] x [-b, b]``.
Let T clamp a point into Q (its nearest point in Q). The straight path from a point to its
nearest point in a convex set never enters the set's interior, so T(boundary of P) winds
around every interior point of Q exactly as the boundary of P does, and around nothing
outside Q. Its shoelace area is therefore the area of P n Q. Each edge of P maps to a
polyline whose kinks lie where the edge crosses the lines x = +-a, y = +-b, so 5 points per
edge (20 per pair) give the area with no case analysis: nested, identical, touching and
zero-area boxes need no special handling, and everything is plain vectorised arithmetic.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from rsvision.errors import GeometryError
from rsvision.geometry.boxes import _check, _check_finite, _is_torch, rbox_to_xyxy

# Pairs per block in the rotated kernel: temporaries of (block, 20) floats stay in cache.
_BLOCK = 8192
# Candidate pairs expanded at once by the overlap sweep.
_SWEEP_PAIRS = 1 << 20


def box_iou(a, b):
    """IoU of horizontal ``xyxy`` boxes, ``(N, 4) x (M, 4) -> (N, M)``; 0 where the union is empty.

    Torch tensors go to ``torchvision.ops.box_iou``.
    """
    if _is_torch(a) or _is_torch(b):
        from torchvision.ops import box_iou as tv_box_iou

        return tv_box_iou(a, b)
    a, b = _check(a, 4, "boxes a"), _check(b, 4, "boxes b")
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def overlapping_pairs(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield blocks ``(ia, ib)`` of every pair of horizontal boxes whose interiors overlap.

    Sweep on x: after sorting by ``x1``, a pair overlaps in x when the later box starts
    before the earlier one ends, found with ``searchsorted``; then the y overlap filters.
    Cost grows with the number of x-overlapping pairs, not with ``N * M``.
    """
    a, b = np.asarray(a_xyxy, dtype=np.float64), np.asarray(b_xyxy, dtype=np.float64)
    order_b = np.argsort(b[:, 0], kind="stable")
    order_a = np.argsort(a[:, 0], kind="stable")
    # b starting inside [a.x1, a.x2), then a starting inside (b.x1, b.x2): disjoint, complete.
    passes = (
        (order_b, np.searchsorted(b[order_b, 0], a[:, 0], "left"), np.searchsorted(b[order_b, 0], a[:, 2], "left"), False),
        (order_a, np.searchsorted(a[order_a, 0], b[:, 0], "right"), np.searchsorted(a[order_a, 0], b[:, 2], "left"), True),
    )
    for order, lo, hi, flipped in passes:
        counts = np.clip(hi - lo, 0, None)
        ends = np.cumsum(counts)
        i0, n = 0, len(counts)
        while i0 < n:
            base = ends[i0 - 1] if i0 else 0
            i1 = max(int(np.searchsorted(ends, base + _SWEEP_PAIRS, "right")), i0 + 1)
            c = counts[i0:i1]
            total = int(c.sum())
            if total:
                rows = np.repeat(np.arange(i0, i1), c)
                offsets = np.arange(total) - np.repeat(np.cumsum(c) - c, c)
                cols = order[np.repeat(lo[i0:i1], c) + offsets]
                ia, ib = (cols, rows) if flipped else (rows, cols)
                keep = (
                    (a[ia, 0] < b[ib, 2]) & (b[ib, 0] < a[ia, 2]) & (a[ia, 1] < b[ib, 3]) & (b[ib, 1] < a[ia, 3])
                )
                if keep.any():
                    yield ia[keep], ib[keep]
            i0 = i1


def _check_rboxes(r, name: str) -> np.ndarray:
    if _is_torch(r):
        r = r.detach().cpu().double().numpy()
    r = _check(r, 5, name)
    if r.ndim != 2:
        raise GeometryError(f"{name} must have shape (N, 5), got {r.shape}")
    _check_finite(r, name)
    if (r[:, 2:4] < 0).any():
        raise GeometryError(f"{name} have a negative width or height")
    return r


def _clip01(t: np.ndarray) -> np.ndarray:
    # fmin/fmax drop the NaN of 0/0 (an edge lying on a clip line), mapping it to 1.
    return np.fmax(np.fmin(t, 1.0), 0.0)


def _intersection_area(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Exact area of ``rect p[i] n rect q[i]`` for aligned ``(K, 5)`` rotated boxes (any angle)."""
    cq, sq = np.cos(q[:, 4]), np.sin(q[:, 4])
    cp, sp = np.cos(p[:, 4]), np.sin(p[:, 4])
    dx, dy = p[:, 0] - q[:, 0], p[:, 1] - q[:, 1]
    ox, oy = cq * dx + sq * dy, cq * dy - sq * dx  # P's centre in Q's frame
    cr, sr = cp * cq + sp * sq, sp * cq - cp * sq  # angle of P relative to Q
    hw, hh = p[:, 2] / 2, p[:, 3] / 2
    ux, uy, vx, vy = cr * hw, sr * hw, -sr * hh, cr * hh
    x0 = np.stack([ox - ux - vx, ox + ux - vx, ox + ux + vx, ox - ux + vx], axis=1)  # (K, 4) corners
    y0 = np.stack([oy - uy - vy, oy + uy - vy, oy + uy + vy, oy - uy + vy], axis=1)
    ex = np.roll(x0, -1, axis=1) - x0
    ey = np.roll(y0, -1, axis=1) - y0
    a = (q[:, 2] / 2)[:, None]
    b = (q[:, 3] / 2)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        ix, iy = 1.0 / ex, 1.0 / ey
        t1, t2 = _clip01((-a - x0) * ix), _clip01((a - x0) * ix)
        t3, t4 = _clip01((-b - y0) * iy), _clip01((b - y0) * iy)
    lox, hix = np.minimum(t1, t2), np.maximum(t1, t2)
    loy, hiy = np.minimum(t3, t4), np.maximum(t3, t4)
    m1, m2 = np.maximum(lox, loy), np.minimum(hix, hiy)
    t = np.stack([np.zeros_like(lox), np.minimum(lox, loy), np.minimum(m1, m2), np.maximum(m1, m2), np.maximum(hix, hiy)], axis=2)
    px = np.clip(x0[:, :, None] + t * ex[:, :, None], -a[:, :, None], a[:, :, None]).reshape(len(p), 20)
    py = np.clip(y0[:, :, None] + t * ey[:, :, None], -b[:, :, None], b[:, :, None]).reshape(len(p), 20)
    twice = (px[:, :-1] * py[:, 1:] - px[:, 1:] * py[:, :-1]).sum(1) + (px[:, -1] * py[:, 0] - px[:, 0] * py[:, -1])
    return np.clip(twice / 2, 0.0, None)


def _paired_iou(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    out = np.empty(len(p))
    for s in range(0, len(p), _BLOCK):
        pp, qq = p[s : s + _BLOCK], q[s : s + _BLOCK]
        area_p, area_q = pp[:, 2] * pp[:, 3], qq[:, 2] * qq[:, 3]
        inter = np.minimum(_intersection_area(pp, qq), np.minimum(area_p, area_q))
        union = area_p + area_q - inter
        out[s : s + _BLOCK] = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return out


def _like(result: np.ndarray, ref):
    if _is_torch(ref):
        import torch

        return torch.from_numpy(result).to(device=ref.device, dtype=ref.dtype if ref.is_floating_point() else torch.float64)
    return result


def rotated_iou(a, b):
    """Exact IoU of rotated boxes ``(cx, cy, w, h, angle)``, ``(N, 5) x (M, 5) -> (N, M)``.

    Pairs whose enclosing horizontal boxes do not overlap cost nothing; 0 where the union is
    empty. Torch tensors are computed on the CPU and returned as tensors on their device.
    """
    ra, rb = _check_rboxes(a, "rotated boxes a"), _check_rboxes(b, "rotated boxes b")
    out = np.zeros((len(ra), len(rb)))
    for ia, ib in overlapping_pairs(rbox_to_xyxy(ra), rbox_to_xyxy(rb)):
        out[ia, ib] = _paired_iou(ra[ia], rb[ib])
    return _like(out, a)


def paired_rotated_iou(a, b):
    """Exact IoU of rotated boxes pair by pair, ``(N, 5), (N, 5) -> (N,)``."""
    ra, rb = _check_rboxes(a, "rotated boxes a"), _check_rboxes(b, "rotated boxes b")
    if len(ra) != len(rb):
        raise GeometryError(f"paired IoU needs as many boxes in a as in b, got {len(ra)} and {len(rb)}")
    out = np.zeros(len(ra))
    xa, xb = rbox_to_xyxy(ra), rbox_to_xyxy(rb)
    hit = np.flatnonzero(
        (xa[:, 0] < xb[:, 2]) & (xb[:, 0] < xa[:, 2]) & (xa[:, 1] < xb[:, 3]) & (xb[:, 1] < xa[:, 3])
    )
    out[hit] = _paired_iou(ra[hit], rb[hit])
    return _like(out, a)
