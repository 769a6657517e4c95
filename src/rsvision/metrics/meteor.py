"""METEOR with exact and Snowball-stem matching, after the alignment and scoring of Meteor 1.5.

Scored with Meteor 1.5's English parameters (alpha 0.85, beta 0.2, gamma 0.6), the
ones pycocoevalcap's jar and so published caption tables use. Differences to the
Java METEOR 1.5 are listed in docs/metrics.md: no WordNet synonyms or paraphrase
table, no function-word weighting, every match weighs 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer

ALPHA = 0.85
BETA = 0.2
GAMMA = 0.6
# Meteor 1.5's beam width and alignment-time module weights: exact matches are
# preferred to stem matches when choosing the alignment (scoring counts both as 1).
BEAM = 40
_EXACT, _STEM = 1.0, 0.5

_stemmer = snowballstemmer.stemmer("english")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Snowball English ("Porter2") stem, the stemmer Meteor 1.5 uses for English."""
    return _stemmer.stemWord(word)


@dataclass(frozen=True)
class MeteorStats:
    """Sufficient statistics of one alignment; they add up over a corpus as in Meteor's EVAL."""

    test_len: int
    ref_len: int
    matches: int
    chunks: int

    def __add__(self, other: MeteorStats) -> MeteorStats:
        return MeteorStats(
            self.test_len + other.test_len,
            self.ref_len + other.ref_len,
            self.matches + other.matches,
            self.chunks + other.chunks,
        )

    @property
    def score(self) -> float:
        m = self.matches
        if m == 0:
            return 0.0
        precision = m / self.test_len
        recall = m / self.ref_len
        f_mean = precision * recall / (ALPHA * precision + (1.0 - ALPHA) * recall)
        # Meteor 1.5: a complete, single-chunk match is not penalised at all
        complete = m == self.test_len and m == self.ref_len and self.chunks <= 1
        frag = 0.0 if complete else self.chunks / m
        return max(0.0, f_mean * (1.0 - GAMMA * frag**BETA))


def align(hyp: Sequence[str], ref: Sequence[str]) -> MeteorStats:
    """Align two token lists: most (weighted) matches, then fewest chunks, then least distance.

    A beam search over reference positions, like Meteor 1.5's aligner; one-to-one
    matches that nothing else competes for are fixed before the search.
    """
    hyp_stems = [stem(w) for w in hyp]
    ref_stems = [stem(w) for w in ref]
    cands: list[list[tuple[int, float]]] = []
    hyp_cover = [0] * len(hyp)
    for j, word in enumerate(ref):
        row = []
        for i, h in enumerate(hyp):
            if h == word:
                row.append((i, _EXACT))
            elif hyp_stems[i] == ref_stems[j]:
                row.append((i, _STEM))
        for i, _ in row:
            hyp_cover[i] += 1
        cands.append(row)
    fixed = [len(row) == 1 and hyp_cover[row[0][0]] == 1 for row in cands]

    # state: (weighted matches, chunks, distance, used hyp positions as a bitmask, hyp index matched
    # at the previous reference position or -1, match count)
    states = [(0.0, 0, 0, 0, -1, 0)]
    for j, row in enumerate(cands):
        grown: dict[tuple[int, int], tuple[float, int, int, int, int, int]] = {}

        def push(state: tuple[float, int, int, int, int, int], grown: dict = grown) -> None:
            key = (state[3], state[4])
            old = grown.get(key)
            if old is None or (-state[0], state[1], state[2]) < (-old[0], old[1], old[2]):
                grown[key] = state

        for weight, chunks, dist, used, last, count in states:
            for i, w in row:
                if used >> i & 1:
                    continue
                new_chunk = 0 if (last >= 0 and i == last + 1) else 1
                push((weight + 2 * w, chunks + new_chunk, dist + abs(i - j), used | 1 << i, i, count + 1))
            if not (fixed[j] and not used >> row[0][0] & 1):
                push((weight, chunks, dist, used, -1, count))
        states = sorted(grown.values(), key=lambda s: (-s[0], s[1], s[2]))[:BEAM]
    best = states[0]
    return MeteorStats(len(hyp), len(ref), best[5], best[1])


def best_reference_stats(hyp: Sequence[str], refs: Sequence[Sequence[str]]) -> MeteorStats:
    """Statistics against the reference that scores best (the first one on ties), as Meteor does."""
    best: MeteorStats | None = None
    for ref in refs:
        stats = align(hyp, ref)
        if best is None or stats.score > best.score:
            best = stats
    if best is None:
        raise ValueError("METEOR needs at least one reference")
    if best.matches == best.test_len == best.ref_len and best.chunks == 1:
        # as the jar: a complete single-chunk match adds no chunk to a corpus's sums (no fragmentation)
        best = MeteorStats(best.test_len, best.ref_len, best.matches, 0)
    return best


def meteor(hyps: Sequence[Sequence[str]], refs: Sequence[Sequence[Sequence[str]]]) -> float:
    """Corpus METEOR: each hypothesis's best-reference statistics summed, then scored once (Meteor's EVAL)."""
    total = MeteorStats(0, 0, 0, 0)
    for hyp, rs in zip(hyps, refs, strict=True):
        total = total + best_reference_stats(hyp, rs)
    return total.score
