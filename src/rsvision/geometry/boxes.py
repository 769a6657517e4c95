"""Box types and converters: horizontal ``xyxy``, COCO ``xywh``, rotated ``(cx, cy, w, h, angle)``, 8-corner polygons.

Rotated boxes follow the le90 convention (docs/architecture.md): ``w >= h``, angle in radians in
``[-pi/2, pi/2)``, a positive angle turns clockwise on the image (y down), so a corner is
``centre + R(angle) @ (+-w/2, +-h/2)`` with ``R = [[cos, -sin], [sin, cos]]``. A square has
two le90 encodings; its angle is taken in ``[-pi/4, pi/4)`` so that every rectangle has one.

Arrays have shape ``(..., K)``. NumPy input is computed in float64; the functions marked
"numpy or torch" also accept torch tensors and keep their dtype and device.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# torch is imported inside the functions that take tensors: readers and the command line use these functions on
# numpy arrays without paying seconds for importing torch.
from rsvision.errors import GeometryError

Array = Any  # np.ndarray or torch.Tensor

# Angles this close below a wrap boundary are snapped onto the lower boundary, so that
# pi/2 - 1e-16 and -pi/2 give one encoding.
_ANGLE_SNAP = 1e-9
# Relative |w - h| under which a rectangle counts as a square.
_SQUARE_RTOL = 1e-9


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _check(x: Array, k: int, name: str) -> Array:
    """Coerce to float64 numpy (torch passes through) and check the last axis has ``k`` values."""
    if not _is_torch(x):
        try:
            x = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise GeometryError(f"{name}: not a numeric array ({exc})") from None
    if x.ndim == 0 or x.shape[-1] != k:
        raise GeometryError(f"{name} must have shape (N, {k}), got {tuple(x.shape)}")
    return x


def _check_finite(x: Array, name: str) -> None:
    ok = bool(x.isfinite().all()) if _is_torch(x) else bool(np.isfinite(x).all())
    if not ok:
        raise GeometryError(f"{name} contain NaN or infinite values")


def _stack(parts: list, like: Array) -> Array:
    if _is_torch(like):
        import torch

        return torch.stack(parts, dim=-1)
    return np.stack(parts, axis=-1)


def _ops(x: Array):
    """The array module of ``x``: numpy, or torch for tensors."""
    if _is_torch(x):
        import torch

        return torch
    return np


# ----------------------------------------------------------------------------- horizontal


def xywh_to_xyxy(boxes: Array) -> Array:
    """COCO ``(x, y, w, h)`` -> ``(x1, y1, x2, y2)``. Numpy or torch."""
    b = _check(boxes, 4, "xywh boxes")
    return _stack([b[..., 0], b[..., 1], b[..., 0] + b[..., 2], b[..., 1] + b[..., 3]], b)


def xyxy_to_xywh(boxes: Array) -> Array:
    """``(x1, y1, x2, y2)`` -> COCO ``(x, y, w, h)``. Numpy or torch."""
    b = _check(boxes, 4, "xyxy boxes")
    return _stack([b[..., 0], b[..., 1], b[..., 2] - b[..., 0], b[..., 3] - b[..., 1]], b)


def box_area(boxes: Array) -> Array:
    """Area of ``xyxy`` boxes (0 for inverted boxes). Numpy or torch."""
    b = _check(boxes, 4, "xyxy boxes")
    xp = _ops(b)
    return xp.clip(b[..., 2] - b[..., 0], 0, None) * xp.clip(b[..., 3] - b[..., 1], 0, None)


def xyxy_to_rbox(boxes: Array) -> Array:
    """Horizontal ``xyxy`` -> le90 rotated boxes (a tall box gets angle -pi/2). Numpy or torch."""
    b = _check(boxes, 4, "xyxy boxes")
    if bool((b[..., 2] < b[..., 0]).any()) or bool((b[..., 3] < b[..., 1]).any()):
        raise GeometryError("xyxy boxes must have x1 <= x2 and y1 <= y2")
    zero = b[..., 0] * 0
    r = _stack(
        [(b[..., 0] + b[..., 2]) / 2, (b[..., 1] + b[..., 3]) / 2, b[..., 2] - b[..., 0], b[..., 3] - b[..., 1], zero],
        b,
    )
    return normalize_rbox(r)


# ----------------------------------------------------------------------------- rotated


def normalize_rbox(rboxes: Array) -> Array:
    """Any ``(cx, cy, w, h, angle)`` (w < h, any angle, negative sizes refused) -> its unique le90 encoding.

    Numpy or torch.
    """
    r = _check(rboxes, 5, "rotated boxes")
    _check_finite(r, "rotated boxes")
    xp = _ops(r)
    cx, cy, w, h, a = (r[..., i] for i in range(5))
    if bool((w < 0).any()) or bool((h < 0).any()):
        raise GeometryError("rotated boxes have a negative width or height")
    square = xp.abs(w - h) <= _SQUARE_RTOL * xp.maximum(w, h)
    swap = (w < h) & ~square
    mean = (w + h) / 2
    w, h = xp.where(square, mean, xp.where(swap, h, w)), xp.where(square, mean, xp.where(swap, w, h))
    a = xp.where(swap, a + math.pi / 2, a)
    # le90 half-turn range for rectangles, quarter-turn range for squares.
    full = a * 0 + math.pi  # keeps dtype and device for torch
    period = xp.where(square, full / 2, full)
    a = xp.remainder(a + period / 2, period) - period / 2
    a = xp.where(a >= period / 2 - _ANGLE_SNAP, -period / 2, a)
    return _stack([cx, cy, w, h, a], r)


def rbox_area(rboxes: Array) -> Array:
    """Area ``w * h`` of rotated boxes. Numpy or torch."""
    r = _check(rboxes, 5, "rotated boxes")
    return r[..., 2] * r[..., 3]


def rbox_to_poly(rboxes: Array) -> Array:
    """Rotated boxes -> ``(..., 8)`` corners ``x1 y1 .. x4 y4``, clockwise on the image, first corner at (-w/2, -h/2).

    Numpy or torch.
    """
    r = _check(rboxes, 5, "rotated boxes")
    xp = _ops(r)
    cx, cy, w, h, a = (r[..., i] for i in range(5))
    c, s = xp.cos(a), xp.sin(a)
    # half-axis vectors R @ (w/2, 0) and R @ (0, h/2)
    ux, uy = c * w / 2, s * w / 2
    vx, vy = -s * h / 2, c * h / 2
    return _stack(
        [
            cx - ux - vx, cy - uy - vy,
            cx + ux - vx, cy + uy - vy,
            cx + ux + vx, cy + uy + vy,
            cx - ux + vx, cy - uy + vy,
        ],
        r,
    )  # fmt: skip


def xyxy_to_poly(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) xyxy -> (N, 8) corners clockwise on the image from the top-left."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x1, y1, x2, y2 = b.T
    return np.stack([x1, y1, x2, y1, x2, y2, x1, y2], axis=1)


def rbox_to_xyxy(rboxes: Array) -> Array:
    """Rotated boxes -> their enclosing horizontal ``xyxy`` boxes. Numpy or torch."""
    r = _check(rboxes, 5, "rotated boxes")
    xp = _ops(r)
    c, s = xp.abs(xp.cos(r[..., 4])), xp.abs(xp.sin(r[..., 4]))
    hw = (c * r[..., 2] + s * r[..., 3]) / 2
    hh = (s * r[..., 2] + c * r[..., 3]) / 2
    return _stack([r[..., 0] - hw, r[..., 1] - hh, r[..., 0] + hw, r[..., 1] + hh], r)


# ----------------------------------------------------------------------------- polygons


def _check_poly(polys: Array) -> np.ndarray:
    p = np.asarray(polys, dtype=np.float64) if not _is_torch(polys) else polys.detach().cpu().double().numpy()
    if p.ndim == 0 or p.shape[-1] < 6 or p.shape[-1] % 2:
        raise GeometryError(f"polygons must have shape (N, 2k) with k >= 3 corners, got {tuple(p.shape)}")
    _check_finite(p, "polygons")
    return p


def poly_area(polys: Array) -> np.ndarray:
    """Unsigned shoelace area of ``(..., 2k)`` polygons."""
    p = _check_poly(polys)
    x, y = p[..., 0::2], p[..., 1::2]
    return np.abs((x * np.roll(y, -1, axis=-1) - np.roll(x, -1, axis=-1) * y).sum(-1)) / 2


def poly_to_xyxy(polys: Array) -> np.ndarray:
    """``(..., 2k)`` polygons -> enclosing ``xyxy`` boxes."""
    p = _check_poly(polys)
    x, y = p[..., 0::2], p[..., 1::2]
    return np.stack([x.min(-1), y.min(-1), x.max(-1), y.max(-1)], axis=-1)


def poly_to_rbox(polys: Array) -> np.ndarray:
    """``(..., 2k)`` polygons (DOTA / DIOR-R 8-corner) -> le90 minimum-area enclosing rectangles.

    The minimum-area rectangle has a side along a convex-hull edge; every hull edge joins two
    of the points, so trying the direction of every point pair (6 for 4 corners) and keeping
    the smallest enclosing rectangle is exact, needs no hull, and tolerates corners in any
    order, self-intersecting or non-convex quadrilaterals and repeated points.
    """
    p = _check_poly(polys)
    lead = p.shape[:-1]
    pts = p.reshape(-1, p.shape[-1] // 2, 2)
    k = pts.shape[1]
    i, j = np.triu_indices(k, 1)
    d = pts[:, j] - pts[:, i]  # (n, pairs, 2)
    length = np.hypot(d[..., 0], d[..., 1])
    valid = length > 0
    safe = np.where(valid, length, 1.0)
    ux, uy = np.where(valid, d[..., 0] / safe, 1.0), np.where(valid, d[..., 1] / safe, 0.0)
    # project every point on each candidate axis u and its normal n = (-uy, ux)
    pu = pts[:, None, :, 0] * ux[..., None] + pts[:, None, :, 1] * uy[..., None]  # (n, pairs, k)
    pn = -pts[:, None, :, 0] * uy[..., None] + pts[:, None, :, 1] * ux[..., None]
    u0, u1, n0, n1 = pu.min(-1), pu.max(-1), pn.min(-1), pn.max(-1)
    area = np.where(valid, (u1 - u0) * (n1 - n0), np.inf)
    best = np.argmin(area, axis=1)[:, None]
    take = lambda v: np.take_along_axis(v, best, axis=1)[:, 0]
    ux, uy, u0, u1, n0, n1 = map(take, (ux, uy, u0, u1, n0, n1))
    mu, mn = (u0 + u1) / 2, (n0 + n1) / 2
    r = np.stack([mu * ux - mn * uy, mu * uy + mn * ux, u1 - u0, n1 - n0, np.arctan2(uy, ux)], axis=-1)
    return normalize_rbox(r).reshape(*lead, 5)
