"""Non-maximum suppression for horizontal and rotated boxes, optionally per class.

Both keep a box unless a higher-scoring box (of the same class) overlaps it with IoU strictly
above ``iou_threshold``, and return the kept indices by descending score, as torchvision does.
"""

from __future__ import annotations

import numpy as np

# torch is imported inside the functions that take tensors: readers and the command line use these functions on
# numpy arrays without paying seconds for importing torch.
from rsvision.errors import GeometryError
from rsvision.geometry.boxes import _check, _is_torch, rbox_to_xyxy
from rsvision.geometry.iou import _check_rboxes, _frames, _paired_iou, overlapping_pairs


def _check_scores(scores, classes, n: int) -> tuple[np.ndarray, np.ndarray | None]:
    s = scores.detach().cpu().numpy() if _is_torch(scores) else np.asarray(scores)
    s = s.astype(np.float64, copy=False)
    if s.shape != (n,):
        raise GeometryError(f"scores must have shape ({n},) to match the boxes, got {s.shape}")
    if not np.isfinite(s).all():
        raise GeometryError("scores contain NaN or infinite values")
    if classes is None:
        return s, None
    c = classes.detach().cpu().numpy() if _is_torch(classes) else np.asarray(classes)
    if c.shape != (n,):
        raise GeometryError(f"classes must have shape ({n},) to match the boxes, got {c.shape}")
    return s, c


def _as_input_type(keep: np.ndarray, like):
    if _is_torch(like):
        import torch

        return torch.from_numpy(keep).to(like.device)
    return keep


def nms(boxes, scores, iou_threshold: float, classes=None):
    """Horizontal ``xyxy`` NMS (``torchvision.ops.batched_nms``); numpy or torch in, same type out."""
    import torch
    from torchvision.ops import batched_nms
    from torchvision.ops import nms as tv_nms

    b = _check(boxes, 4, "boxes")
    if b.ndim != 2:
        raise GeometryError(f"boxes must have shape (N, 4), got {tuple(b.shape)}")
    s, c = _check_scores(scores, classes, b.shape[0])
    tb = b if _is_torch(b) else torch.from_numpy(b)
    if not bool(tb.isfinite().all()):
        raise GeometryError("boxes contain NaN or infinite values")
    if bool((tb[:, 2] < tb[:, 0]).any()) or bool((tb[:, 3] < tb[:, 1]).any()):
        raise GeometryError("boxes must be x1 <= x2 and y1 <= y2")
    ts = torch.from_numpy(s).to(device=tb.device, dtype=tb.dtype)
    if c is None:
        keep = tv_nms(tb, ts, float(iou_threshold))
    else:
        groups = torch.from_numpy(np.unique(c, return_inverse=True)[1]).to(tb.device)  # any labels, even strings
        keep = batched_nms(tb, ts, groups, float(iou_threshold))
    return keep if _is_torch(boxes) else keep.cpu().numpy()


def rotated_nms(rboxes, scores, iou_threshold: float, classes=None):
    """Rotated-box NMS with the exact IoU of ``rotated_iou``; numpy or torch in, same type out.

    Only pairs whose enclosing horizontal boxes overlap (and whose classes agree) are
    measured; the greedy pass then visits only boxes that suppress something.
    """
    r = _check_rboxes(rboxes, "rotated boxes")
    s, c = _check_scores(scores, classes, len(r))
    order = np.argsort(-s, kind="stable")
    r = r[order]
    c = None if c is None else c[order]
    frames = _frames(r)
    src, dst = [], []
    for ia, ib in overlapping_pairs(*(rbox_to_xyxy(r),) * 2):
        m = ia < ib  # rank ia beats rank ib
        if c is not None:
            m &= c[ia] == c[ib]
        ia, ib = ia[m], ib[m]
        hit = _paired_iou(np.take(frames, ia, axis=1), np.take(frames, ib, axis=1)) > iou_threshold
        src.append(ia[hit])
        dst.append(ib[hit])
    suppressed = np.zeros(len(r), dtype=bool)
    if src:
        src, dst = np.concatenate(src), np.concatenate(dst)
        by_src = np.argsort(src, kind="stable")
        src, dst = src[by_src], dst[by_src]
        heads, starts = np.unique(src, return_index=True)
        ends = np.append(starts[1:], len(src))
        for h, lo, hi in zip(heads.tolist(), starts.tolist(), ends.tolist()):
            if not suppressed[h]:
                suppressed[dst[lo:hi]] = True
    return _as_input_type(order[~suppressed].astype(np.int64), rboxes)
