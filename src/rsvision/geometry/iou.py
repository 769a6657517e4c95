"""Intersection over union: horizontal boxes and exact rotated boxes, N x M or pair by pair.

Rotated IoU is exact (no sampling, no polygon library). The intersection of rectangle P with
rectangle Q is measured in Q's frame, where Q is the axis-aligned box ``[-a, a] x [-b, b]``.
Let T clamp a point into Q (its nearest point in Q). The straight path from a point to its
nearest point in a convex set never enters the set's interior, so T(boundary of P) winds
around every interior point of Q exactly as the boundary of P does, and around nothing
outside Q. Its shoelace area is therefore the area of P n Q. An edge of P maps to a
polyline: it sits at one corner of Q until it enters its first slab (|x| <= a or |y| <= b)
and at one corner after it leaves its last, so its only kinks are the later entry and the
earlier exit. Three points per edge (12 per pair) give the area with no case analysis:
nested, identical, touching and zero-area boxes need no special handling, and everything is
plain vectorised arithmetic.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

# torch is imported inside the functions that take tensors: readers and the command line use these functions on
# numpy arrays without paying seconds for importing torch.
from rsvision.errors import GeometryError
from rsvision.geometry.boxes import _check, _check_finite, _is_torch, rbox_to_xyxy

# Pairs per block in the rotated kernel: its (4, block) temporaries stay in cache.
_BLOCK = 4096
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
    bx1, ax1 = b[order_b, 0], a[order_a, 0]
    passes = (
        (order_b, np.searchsorted(bx1, a[:, 0], "left"), np.searchsorted(bx1, a[:, 2], "left"), False),
        (order_a, np.searchsorted(ax1, b[:, 0], "right"), np.searchsorted(ax1, b[:, 2], "left"), True),
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
                keep = (a[ia, 0] < b[ib, 2]) & (b[ib, 0] < a[ia, 2]) & (a[ia, 1] < b[ib, 3]) & (b[ib, 1] < a[ia, 3])
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


def _frames(r: np.ndarray) -> np.ndarray:
    """Per-box values the kernel reads: ``(6, N)`` rows cx, cy, w/2, h/2, cos(angle), sin(angle)."""
    return np.stack([r[:, 0], r[:, 1], r[:, 2] / 2, r[:, 3] / 2, np.cos(r[:, 4]), np.sin(r[:, 4])])


def _clamp(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    np.minimum(x, hi, out=x)
    return np.maximum(x, lo, out=x)


def _intersection_area(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Exact area of ``rect p[:, k] n rect q[:, k]`` for ``(6, K)`` frames (see ``_frames``)."""
    pcx, pcy, phw, phh, pc, ps = p
    qcx, qcy, a, b, qc, qs = q
    k = p.shape[1]
    dx, dy = pcx - qcx, pcy - qcy
    ox, oy = qc * dx + qs * dy, qc * dy - qs * dx  # P's centre in Q's frame
    cr, sr = pc * qc + ps * qs, ps * qc - pc * qs  # P's angle relative to Q
    ux, uy, vx, vy = cr * phw, sr * phw, -sr * phh, cr * phh  # P's half-axes in Q's frame
    x0, y0, ex, ey = np.empty((4, k)), np.empty((4, k)), np.empty((4, k)), np.empty((4, k))
    x0[0], x0[1], x0[2], x0[3] = ox - ux - vx, ox + ux - vx, ox + ux + vx, ox - ux + vx  # corners
    y0[0], y0[1], y0[2], y0[3] = oy - uy - vy, oy + uy - vy, oy + uy + vy, oy - uy + vy
    ex[0], ex[1], ey[0], ey[1] = 2 * ux, 2 * vx, 2 * uy, 2 * vy  # edge i runs from corner i to i + 1
    np.negative(ex[:2], out=ex[2:])
    np.negative(ey[:2], out=ey[2:])
    na, nb = -a, -b
    # Parameters where each edge enters and leaves the slabs |x| <= a and |y| <= b. An edge
    # parallel to a slab gives +-inf or NaN (0/0); fmin/fmax keep the finite side or end at 1,
    # harmless since such an edge has no kink there.
    with np.errstate(divide="ignore", invalid="ignore"):
        ix, iy = 1.0 / ex, 1.0 / ey
        t1, t2 = (na - x0) * ix, (a - x0) * ix
        t3, t4 = (nb - y0) * iy, (b - y0) * iy
    # Before it enters the first slab and after it leaves the last, an edge is clamped to one
    # corner of Q, so only the later entry and the earlier exit are kinks of its image.
    enter = np.fmax(np.fmin(t1, t2), np.fmin(t3, t4))
    leave = np.fmin(np.fmax(t1, t2), np.fmax(t3, t4))
    for t in (enter, leave):
        np.fmin(t, 1.0, out=t)
        np.fmax(t, 0.0, out=t)
    # Shoelace over the clamped polyline: corner, its 2 kinks in order, next corner, ...
    cx, cy = _clamp(x0.copy(), na, a), _clamp(y0.copy(), nb, b)
    acc, tmp = np.zeros((4, k)), np.empty((4, k))
    px, py = cx, cy
    for t, bx, by in ((np.fmin(enter, leave), t1, t2), (np.fmax(enter, leave), t3, t4)):
        x = _clamp(np.add(np.multiply(t, ex, out=bx), x0, out=bx), na, a)
        y = _clamp(np.add(np.multiply(t, ey, out=by), y0, out=by), nb, b)
        acc += np.multiply(px, y, out=tmp)
        acc -= np.multiply(x, py, out=tmp)
        px, py = x, y
    acc += np.multiply(px, np.roll(cy, -1, axis=0), out=tmp)
    acc -= np.multiply(np.roll(cx, -1, axis=0), py, out=tmp)
    return np.clip(acc.sum(0) / 2, 0.0, None)


def _paired_iou(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """IoU of ``(6, K)`` frames pair by pair, in cache-sized blocks."""
    out = np.empty(p.shape[1])
    for s in range(0, p.shape[1], _BLOCK):
        pp, qq = p[:, s : s + _BLOCK], q[:, s : s + _BLOCK]
        area_p, area_q = 4 * pp[2] * pp[3], 4 * qq[2] * qq[3]
        inter = np.minimum(_intersection_area(pp, qq), np.minimum(area_p, area_q))
        union = area_p + area_q - inter
        out[s : s + _BLOCK] = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return out


def _like(result: np.ndarray, ref):
    if _is_torch(ref):
        import torch

        dtype = ref.dtype if ref.is_floating_point() else torch.float64
        return torch.from_numpy(result).to(device=ref.device, dtype=dtype)
    return result


def rotated_iou(a, b):
    """Exact IoU of rotated boxes ``(cx, cy, w, h, angle)``, ``(N, 5) x (M, 5) -> (N, M)``.

    Pairs whose enclosing horizontal boxes do not overlap cost nothing; 0 where the union is
    empty. Torch tensors are computed on the CPU and returned as tensors on their device.
    """
    ra, rb = _check_rboxes(a, "rotated boxes a"), _check_rboxes(b, "rotated boxes b")
    out = np.zeros((len(ra), len(rb)))
    fa, fb = _frames(ra), _frames(rb)
    for ia, ib in overlapping_pairs(rbox_to_xyxy(ra), rbox_to_xyxy(rb)):
        out.ravel()[ia * len(rb) + ib] = _paired_iou(np.take(fa, ia, axis=1), np.take(fb, ib, axis=1))
    return _like(out, a)


def paired_rotated_iou(a, b):
    """Exact IoU of rotated boxes pair by pair, ``(N, 5), (N, 5) -> (N,)``."""
    ra, rb = _check_rboxes(a, "rotated boxes a"), _check_rboxes(b, "rotated boxes b")
    if len(ra) != len(rb):
        raise GeometryError(f"paired IoU needs as many boxes in a as in b, got {len(ra)} and {len(rb)}")
    out = np.zeros(len(ra))
    xa, xb = rbox_to_xyxy(ra), rbox_to_xyxy(rb)
    hit = np.flatnonzero((xa[:, 0] < xb[:, 2]) & (xb[:, 0] < xa[:, 2]) & (xa[:, 1] < xb[:, 3]) & (xb[:, 1] < xa[:, 3]))
    out[hit] = _paired_iou(_frames(ra[hit]), _frames(rb[hit]))
    return _like(out, a)
