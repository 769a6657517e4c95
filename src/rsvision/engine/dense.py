"""Blend dense tile predictions into finished strips of the output, holding only what is still in flight.

Tile row ``i`` covers scene rows ``[r_i, r_i + h)``; rows ``[r_i, r_{i+1})`` (its *zone*) receive nothing from later
tile rows, so they are final once the row is done. Within the zone, columns left of the next tile's start are final
once a tile is added: the sums of earlier tiles over the columns it shares with them are added into its scores,
the final columns are finished straight from those, and the columns the next tile shares are kept in one buffer a
tile wide; nothing is cleared or copied twice. Rows shared with the next tile row go to a full-width *carry*
(``K x overlap x width``), which is all that crosses a row boundary, and hence all a checkpoint has to keep besides
the output written so far. The carry is held in column blocks (one per tile column): a block of the incoming carry
is set aside for reuse once the zone has taken it in, and a block of the outgoing carry is made when a tile first
reaches it, so about one carry is in memory at a time, not two.

The arithmetic runs as torch operations on views of the same arrays: they run on torch's intra-op threads, which
are already awake from the model's forward pass, so a tile is merged on every core without a thread of ours
competing with them (numpy on a second thread ran no faster while those threads spun)."""

from __future__ import annotations

from bisect import bisect_right

import numpy as np
import torch

from rsvision.io.tiles import TilePlan
from rsvision.tasks.merge import axis_weight_sum, axis_weights


class _Ramps:
    """The 1-D blend weights of one axis, with the stretches where they differ from 1: a tile is weighted by
    scaling only those stretches (the weight is separable), about half the pixels of a 512 tile with overlap 64."""

    def __init__(self, starts: tuple[int, ...], length: int):
        self.weights, self.parts = [], []
        for w in axis_weights(starts, length):
            w = w.astype(np.float32)
            ones = np.flatnonzero(w == 1)
            lead, trail = (int(ones[0]), length - 1 - int(ones[-1])) if len(ones) else (length, length)
            if lead + trail >= length:  # the two ramps meet: weight the whole axis at once
                parts = [(0, length)] if lead or trail else []
            else:
                parts = [(a, b) for a, b in ((0, lead), (length - trail, length)) if b > a]
            self.weights.append(torch.from_numpy(w))
            self.parts.append(parts)


class StripMerger:
    """Weighted blending of ``(K, h, w)`` tile scores into ``(out_count, zone_rows, width)`` output strips.

    ``output="classes"``: the argmax over K of the weighted sum (the normalising weight is positive per pixel, so it
    cannot change the argmax and is skipped); ``output="scores"``: the weighted mean. Nodata pixels get ``nodata``.
    """

    def __init__(self, plan: TilePlan, num_outputs: int, output: str, dtype: str, nodata: float):
        self.plan, self.k, self.output = plan, num_outputs, output
        self.dtype, self.nodata = np.dtype(dtype), nodata
        self.out_count = num_outputs if output == "scores" else 1
        max_zone = max(plan.row_end(i) - plan.row_starts[i] for i in range(plan.n_rows))
        self._rows = _Ramps(plan.row_starts, plan.tile_h)
        self._cols = _Ramps(plan.col_starts, plan.tile_w)
        if output == "scores":
            self._sum_y = torch.from_numpy(
                axis_weight_sum(plan.row_starts, plan.tile_h, plan.height).astype(np.float32)
            )
            self._sum_x = torch.from_numpy(axis_weight_sum(plan.col_starts, plan.tile_w, plan.width).astype(np.float32))
        # the sliding zone buffer: allocated once, reused by every tile
        self._zone = torch.empty((self.k, plan.tile_h, plan.tile_w), dtype=torch.float32)
        # one strip buffer, and the carry blocks taken in, for reuse: over thousands of tiles, fresh arrays of these
        # sizes would fragment the heap and creep the memory up
        self._strip_buffer = np.empty((self.out_count, max_zone, plan.width), self.dtype)
        self._spare: list[np.ndarray] = []
        self._scratch = _ArgmaxScratch(self.k, plan.tile_h, plan.tile_w) if output == "classes" else None
        # carry column blocks: block j spans [col_starts[j], col_starts[j + 1]) (the last one reaches the width)
        self._block_lo = list(plan.col_starts)
        self._block_hi = [*list(plan.col_starts[1:]), plan.width]
        self.carry: dict[int, np.ndarray] = {}  # block -> (K, carry_rows, block width), rows from carry_lo
        self.carry_rows, self.carry_lo = 0, 0

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
        self.carry = {j: np.require(state[f"carry_{j}"], np.float32, "W") for j in range(n)}

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
        self._filled = 0  # zone columns [col start, + filled) hold the sums of earlier tiles
        self._strip = self._strip_buffer[:, : self._zh]

    def _new_block(self, j: int) -> np.ndarray:
        block = self._new.get(j)
        if block is None:
            width = self._block_hi[j] - self._block_lo[j]
            shape = (self.k, self._new_rows, width)
            spare = next((i for i, b in enumerate(self._spare) if b.shape == shape), None)
            if spare is None:
                block = np.zeros(shape, np.float32)
            else:
                block = self._spare.pop(spare)
                block.fill(0)
            self._new[j] = block
        return block

    def _weigh(self, out: torch.Tensor, col: int) -> None:
        """A tile's scores times its blend window, in place."""
        wy, wx = self._rows.weights[self._row], self._cols.weights[col]
        for a, b in self._rows.parts[self._row]:
            out[:, a:b].mul_(wy[a:b, None])
        for a, b in self._cols.parts[col]:
            out[:, :, a:b].mul_(wx[a:b])

    def add(self, col: int, scores: np.ndarray | None, nodata: np.ndarray | None) -> None:
        """Add tile ``col`` of the current row: its ``(K, h, w)`` scores (None for a skipped nodata tile) and its
        nodata mask; then finish the zone columns no later tile reaches: weigh the tile, take in the carried rows,
        add the earlier tiles' sums over the shared columns, finish the final columns, keep the rest."""
        p = self.plan
        c, tw, zh, f = p.col_starts[col], p.tile_w, self._zh, self._filled
        if scores is None:  # nothing to add: the carried rows alone pass on to the next tile
            weighted, nodata = torch.zeros((self.k, p.tile_h, tw)), np.ones((p.tile_h, tw), bool)
        else:
            if scores.dtype != np.float32 or not scores.flags.writeable or min(scores.strides) < 0:
                scores = scores.astype(np.float32)
            weighted = torch.from_numpy(scores)
            self._weigh(weighted, col)
            if self._new_rows:  # rows past the zone go into the outgoing carry
                for j in self._blocks(c, c + tw):
                    b_lo = self._block_lo[j]
                    a, b = max(c, b_lo), min(c + tw, self._block_hi[j])
                    carry = torch.from_numpy(self._new_block(j))
                    carry[:, :, a - b_lo : b - b_lo].add_(weighted[:, zh:, a - c : b - c])
        n = (p.col_starts[col + 1] if col + 1 < p.n_cols else p.width) - c  # final columns
        n_in = self._n_in
        if n_in and f < tw:  # carried rows of the columns no earlier tile of this row reached
            for j in self._blocks(c + f, c + tw):
                lo, hi = self._block_lo[j], self._block_hi[j]
                a, b = max(c + f, lo), min(c + tw, hi)
                carry = torch.from_numpy(self.carry[j])
                weighted[:, :n_in, a - c : b - c].add_(carry[:, :n_in, a - lo : b - lo])
                if hi <= c + tw:  # taken in whole: set aside for reuse
                    self._spare.append(self.carry.pop(j))
        weighted[:, :zh, :f].add_(self._zone[:, :zh, :f])
        acc, out = weighted[:, :zh, :n], self._strip[:, :, c : c + n]
        if self.output == "classes":
            _argmax_into(acc, out[0], self._scratch)
        else:
            norm = self._sum_y[self._r : self._r + zh, None] * self._sum_x[None, c : c + n]
            torch.div(acc, norm, out=torch.from_numpy(out))
        mask = nodata[:zh, :n]
        if mask.any():
            out[:, mask] = self.nodata
        self._zone[:, :zh, : tw - n].copy_(weighted[:, :zh, n:tw])
        self._filled = tw - n

    def end_row(self) -> tuple[int, np.ndarray]:
        """The finished strip ``(first scene row, (out_count, rows, width) array)``; the row's carry is kept. The
        strip's buffer is filled again by the next row: write it first."""
        if self._new_rows:  # blocks only skipped (nodata) tiles reached carry nothing
            for j in range(len(self._block_lo)):
                self._new_block(j)
        self.carry, self.carry_rows, self.carry_lo = self._new, self._new_rows, self._r + self._zh
        self._new = {}
        strip, self._strip = self._strip, None
        return self._r, strip


class _ArgmaxScratch:
    """Work buffers for :func:`_argmax_into` on up to ``k`` planes of ``h x w``, allocated once per run."""

    def __init__(self, k: int, h: int, w: int):
        padded = -(-(h * w) // 8) * 8  # whole 64-bit words
        self.best = np.empty(h * w, np.float32)
        self.flags = np.zeros(min(k, 8) * padded, bool)
        self.word = np.empty(padded // 8, np.uint64)
        self.bits = np.empty(padded // 8, np.uint64)


# The argmax for K <= 8 classes: which planes equal the maximum, as bytes of 0/1 shifted to bit k and OR-ed together
# eight pixels (one 64-bit word) at a time, so the lowest set bit of each byte, looked up in a table, is the first
# maximum. Whole-plane passes only: 4x faster than K compare-and-select passes, and numpy's argmax along the
# strided leading axis is slower still.
_LOWEST_BIT = np.array([(v & -v).bit_length() - 1 if v else 0 for v in range(256)], np.uint8)


def _argmax_into(scores: torch.Tensor, out: np.ndarray, scratch: _ArgmaxScratch) -> None:
    """``out[...] = scores.argmax(axis=0)`` (first maximum on ties) for a (K, h, w) view."""
    k, h, w = scores.shape
    m = h * w
    best = scratch.best[:m].reshape(h, w)
    torch.amax(scores, dim=0, out=torch.from_numpy(best))  # on torch's threads; numpy's reduce is 4x slower
    scores = scores.numpy()
    if k > 8 or out.dtype != np.uint8:
        out[...] = k - 1
        flags = scratch.flags[:m].reshape(h, w)
        for i in range(k - 2, -1, -1):  # later writes win: the first maximum is written last
            np.equal(scores[i], best, out=flags)
            np.copyto(out, i, where=flags)
        return
    padded = -(-m // 8) * 8
    flags = scratch.flags[: k * padded].reshape(k, padded)
    np.equal(scores, best, out=flags[:, :m].reshape(k, h, w))
    flags[:, m:] = False
    words = flags.view(np.uint64)
    bits, word = scratch.bits[: padded // 8], scratch.word[: padded // 8]
    np.copyto(bits, words[0])
    for i in range(1, k):
        np.left_shift(words[i], np.uint64(i), out=word)
        np.bitwise_or(bits, word, out=bits)
    np.take(_LOWEST_BIT, bits.view(np.uint8)[:m].reshape(h, w), out=out, mode="clip")  # "raise" would buffer
