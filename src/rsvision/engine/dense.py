"""Blend dense tile predictions into finished strips of the output, holding only what is still in flight.

Tile row ``i`` covers scene rows ``[r_i, r_i + h)``; rows ``[r_i, r_{i+1})`` (its *zone*) receive nothing from later
tile rows, so they are final once the row is done. Within the zone, columns left of the next tile's start are final
once a tile is added, so the zone is blended in a window a tile wide that slides left to right. Rows shared with
the next tile row go to a full-width *carry* (``K x overlap x width``), which is all that crosses a row boundary,
and hence all a checkpoint has to keep besides the output written so far. The carry is held in column blocks (one
per tile column): a block of the incoming carry is freed once the zone has taken it in, and a block of the outgoing
carry is made when a tile first reaches it, so about one carry is in memory at a time, not two.
"""

from __future__ import annotations

from bisect import bisect_right

import numpy as np

from rsvision.engine.plan import TilePlan
from rsvision.tasks.merge import axis_weight_sum, axis_weights


class StripMerger:
    """Weighted blending of ``(K, h, w)`` tile scores into ``(out_count, zone_rows, width)`` output strips.

    ``output="classes"``: the argmax over K of the weighted sum (the normalising weight is positive per pixel, so it
    cannot change the argmax and is skipped); ``output="scores"``: the weighted mean. Nodata pixels get ``nodata``.
    """

    def __init__(self, plan: TilePlan, num_outputs: int, output: str, dtype: str, nodata: float):
        self.plan, self.k, self.output = plan, num_outputs, output
        self.dtype, self.nodata = np.dtype(dtype), nodata
        self.out_count = num_outputs if output == "scores" else 1
        self._wy, self._ykey = self._dedupe(axis_weights(plan.row_starts, plan.tile_h))
        self._wx, self._xkey = self._dedupe(axis_weights(plan.col_starts, plan.tile_w))
        self._w2d: dict[tuple[int, int], np.ndarray] = {}
        if output == "scores":
            self._sum_y = axis_weight_sum(plan.row_starts, plan.tile_h, plan.height).astype(np.float32)
            self._sum_x = axis_weight_sum(plan.col_starts, plan.tile_w, plan.width).astype(np.float32)
        # carry column blocks: block j spans [col_starts[j], col_starts[j + 1]) (the last one reaches the width)
        self._block_lo = list(plan.col_starts)
        self._block_hi = list(plan.col_starts[1:]) + [plan.width]
        self.carry: dict[int, np.ndarray] = {}  # block -> (K, carry_rows, block width), rows from carry_lo
        self.carry_rows, self.carry_lo = 0, 0

    @staticmethod
    def _dedupe(weights: list[np.ndarray]) -> tuple[list[np.ndarray], list[int]]:
        unique: dict[bytes, int] = {}
        arrays, keys = [], []
        for w in weights:
            key = unique.setdefault(w.tobytes(), len(unique))
            if key == len(arrays):
                arrays.append(w.astype(np.float32))
            keys.append(key)
        return arrays, keys

    def _weight(self, row: int, col: int) -> np.ndarray:
        key = (self._ykey[row], self._xkey[col])
        w = self._w2d.get(key)
        if w is None:
            if len(self._w2d) >= 16:  # a few kinds per axis (edge, and up to two overlap widths each side)
                self._w2d.pop(next(iter(self._w2d)))
            w = self._w2d[key] = np.outer(self._wy[key[0]], self._wx[key[1]]).astype(np.float32)
        return w

    def _blocks(self, lo: int, hi: int) -> range:
        """Carry blocks that columns ``[lo, hi)`` touch."""
        return range(bisect_right(self._block_lo, lo) - 1, bisect_right(self._block_lo, hi - 1))

    # checkpoint state: the carry is everything that crosses a tile-row boundary (saved block by block, no copy)
    def state(self) -> dict[str, np.ndarray]:
        blocks = {f"carry_{j}": block for j, block in self.carry.items()} if self.carry_rows else {}
        return {"carry_lo": np.array(self.carry_lo), "carry_rows": np.array(self.carry_rows), **blocks}

    def restore(self, state: dict[str, np.ndarray]) -> None:
        self.carry_lo, self.carry_rows = int(state["carry_lo"]), int(state["carry_rows"])
        n = len(self._block_lo) if self.carry_rows else 0
        self.carry = {j: np.asarray(state[f"carry_{j}"], dtype=np.float32) for j in range(n)}

    # one tile row ----------------------------------------------------------------------------------------------
    def begin_row(self, row: int) -> None:
        p = self.plan
        r, r_end = p.row_starts[row], p.row_end(row)
        if self.carry_rows and self.carry_lo != r:
            raise RuntimeError(f"tile row {row} starts at {r} but the carried rows start at {self.carry_lo}")
        carry_hi = self.carry_lo + self.carry_rows
        self._row, self._r, self._zh = row, r, r_end - r
        self._new_rows = (r + p.tile_h if row + 1 < p.n_rows else r_end) - r_end
        self._new: dict[int, np.ndarray] = {}
        if carry_hi > r_end:  # three tile rows overlap: rows past this zone carry on
            for j, block in self.carry.items():
                self._new_block(j)[:, : carry_hi - r_end] = block[:, r_end - r :]
        self._n_in = max(0, min(carry_hi, r_end) - r)  # carried rows inside the zone
        self._zbuf = np.zeros((self.k, self._zh, 0), np.float32)  # zone columns [zlo, zlo + zbuf width)
        self._zmask = np.zeros((self._zh, 0), bool)
        self._zlo = 0
        self._strip = np.empty((self.out_count, self._zh, p.width), self.dtype)

    def _new_block(self, j: int) -> np.ndarray:
        block = self._new.get(j)
        if block is None:
            width = self._block_hi[j] - self._block_lo[j]
            block = self._new[j] = np.zeros((self.k, self._new_rows, width), np.float32)
        return block

    def _grow(self, hi: int) -> None:
        old_w = self._zbuf.shape[2]
        start = self._zlo + old_w
        if start >= hi:
            return
        zbuf = np.zeros((self.k, self._zh, hi - self._zlo), np.float32)
        zbuf[:, :, :old_w] = self._zbuf
        if self._n_in:  # take in the carried rows of the new columns, then free the blocks taken in whole
            for j in self._blocks(start, hi):
                lo, bhi = self._block_lo[j], self._block_hi[j]
                a, b = max(start, lo), min(hi, bhi)
                zbuf[:, : self._n_in, a - self._zlo : b - self._zlo] = self.carry[j][:, : self._n_in, a - lo : b - lo]
                if bhi <= hi:
                    del self.carry[j]
        zmask = np.zeros((self._zh, hi - self._zlo), bool)
        zmask[:, :old_w] = self._zmask
        self._zbuf, self._zmask = zbuf, zmask

    def add(self, col: int, scores: np.ndarray | None, nodata: np.ndarray | None) -> None:
        """Add tile ``col`` of the current row: its ``(K, h, w)`` scores (None for a skipped nodata tile) and its
        nodata mask; then finish the zone columns no later tile reaches."""
        p = self.plan
        c = p.col_starts[col]
        self._grow(c + p.tile_w)
        lo, hi = c - self._zlo, c - self._zlo + p.tile_w
        zh = self._zh
        if scores is None:
            self._zmask[:, lo:hi] = True
        else:
            weighted = scores if scores.dtype == np.float32 and scores.flags.writeable else scores.astype(np.float32)
            np.multiply(weighted, self._weight(self._row, col), out=weighted)
            self._zbuf[:, :, lo:hi] += weighted[:, :zh]
            if self._new_rows:
                for j in self._blocks(c, c + p.tile_w):
                    b_lo = self._block_lo[j]
                    a, b = max(c, b_lo), min(c + p.tile_w, self._block_hi[j])
                    self._new_block(j)[:, :, a - b_lo : b - b_lo] += weighted[:, zh:, a - c : b - c]
            self._zmask[:, lo:hi] = nodata[:zh]
        done = p.col_starts[col + 1] if col + 1 < p.n_cols else p.width
        self._finish(done)

    def _finish(self, hi: int) -> None:
        n = hi - self._zlo
        if n <= 0:
            return
        acc, mask = self._zbuf[:, :, :n], self._zmask[:, :n]
        out = self._strip[:, :, self._zlo : hi]
        if self.output == "classes":
            _argmax_into(acc, out[0])
        else:
            r = self._r
            norm = self._sum_y[r : r + self._zh, None] * self._sum_x[None, self._zlo : hi]
            np.divide(acc, norm, out=out)
        if mask.any():
            out[:, mask] = self.nodata
        self._zbuf, self._zmask = self._zbuf[:, :, n:], self._zmask[:, n:]
        self._zlo = hi

    def end_row(self) -> tuple[int, np.ndarray]:
        """The finished strip ``(first scene row, (out_count, rows, width) array)``; the row's carry is kept."""
        if self._zlo != self.plan.width:
            raise RuntimeError(f"tile row {self._row} ended with columns from {self._zlo} unfinished")
        if self._new_rows:  # blocks only skipped (nodata) tiles reached carry nothing
            for j in range(len(self._block_lo)):
                self._new_block(j)
        self.carry, self.carry_rows, self.carry_lo = self._new, self._new_rows, self._r + self._zh
        self._new = {}
        strip, self._strip = self._strip, None
        return self._r, strip


def _argmax_into(scores: np.ndarray, out: np.ndarray) -> None:
    """``out[...] = scores.argmax(axis=0)`` (first maximum on ties) for a (K, H, W) view: K passes over whole planes
    run faster than numpy's argmax along a strided leading axis."""
    best = scores[0].copy()
    out[...] = 0
    for k in range(1, len(scores)):
        better = scores[k] > best
        out[better] = k
        np.maximum(best, scores[k], out=best)
