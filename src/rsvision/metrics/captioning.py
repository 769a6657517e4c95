"""Caption metrics: BLEU-1..4, METEOR, ROUGE-L and CIDEr-D, computed as the COCO caption toolkit does.

BLEU, ROUGE-L and CIDEr-D reproduce pycocoevalcap's ``Bleu`` (closest reference
length, corpus-level counts), ``Rouge`` (beta 1.2, best precision and recall over
the references) and ``Cider`` (CIDEr-D: sigma 6, clipped counts, Gaussian length
penalty, x10, document frequencies over the references of the evaluated set).
METEOR lives in :mod:`rsvision.metrics.meteor`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from rsvision.errors import MetricInputError
from rsvision.metrics.meteor import meteor

Tokens = list[str]

# What pycocoevalcap's PTBTokenizer drops after tokenising.
PTB_PUNCTUATION = frozenset(
    ["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--", "...", ";"]
)
_CLITIC = re.compile(r"(?<=\w)(n't|'s|'re|'ve|'ll|'d|'m)\b")
_TOKEN = re.compile(r"n't|'(?:s|re|ve|ll|d|m)\b|[^\W_]+(?:[-./'&][^\W_]+)*|\S")
_BRACKETS = frozenset('()[]{}"')


def tokenize_caption(text: str) -> Tokens:
    """Lowercase and split like the PTB tokenizer, then drop punctuation as pycocoevalcap does.

    Words keep inner hyphens, periods, slashes and apostrophes ("well-known",
    "3.5"); clitics split off ("plane's" -> "plane 's", "don't" -> "do n't");
    brackets and quotes are dropped along with PTB_PUNCTUATION.
    """
    text = _CLITIC.sub(r" \1", text.lower())
    return [t for t in _TOKEN.findall(text) if t not in PTB_PUNCTUATION and t not in _BRACKETS]


def ngram_counts(tokens: Sequence[str], n: int) -> Counter:
    counts: Counter = Counter()
    for k in range(1, n + 1):
        for i in range(len(tokens) - k + 1):
            counts[tuple(tokens[i : i + k])] += 1
    return counts


def bleu(hyps: Sequence[Tokens], refs: Sequence[Sequence[Tokens]], n: int = 4) -> list[float]:
    """Corpus BLEU-1..n with the "closest" reference length (shorter on ties), as pycocoevalcap's Bleu."""
    tiny, small = 1e-15, 1e-9  # pycocoevalcap's guards against zero counts
    test_len = ref_len = 0
    guess = [0] * n
    correct = [0] * n
    for hyp, rs in zip(hyps, refs, strict=True):
        max_ref: dict[tuple, int] = {}
        for r in rs:
            for gram, c in ngram_counts(r, n).items():
                max_ref[gram] = max(max_ref.get(gram, 0), c)
        test_len += len(hyp)
        ref_len += min((abs(len(r) - len(hyp)), len(r)) for r in rs)[1]
        for k in range(n):
            guess[k] += max(0, len(hyp) - k)
        for gram, c in ngram_counts(hyp, n).items():
            correct[len(gram) - 1] += min(max_ref.get(gram, 0), c)
    scores = []
    product = 1.0
    for k in range(n):
        product *= float(correct[k] + tiny) / (guess[k] + small)
        scores.append(product ** (1.0 / (k + 1)))
    ratio = (test_len + tiny) / (ref_len + small)
    if ratio < 1:
        scores = [s * math.exp(1 - 1 / ratio) for s in scores]
    return scores


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(hyps: Sequence[Tokens], refs: Sequence[Sequence[Tokens]], beta: float = 1.2) -> float:
    """Mean over images of ROUGE-L F (beta 1.2) from the best LCS precision and recall over references."""
    scores = []
    for hyp, rs in zip(hyps, refs, strict=True):
        lcs = [_lcs(r, hyp) for r in rs]
        prec = max((c / len(hyp) if hyp else 0.0) for c in lcs)
        rec = max((c / len(r) if r else 0.0) for c, r in zip(lcs, rs))
        if prec != 0 and rec != 0:
            scores.append(((1 + beta**2) * prec * rec) / float(rec + beta**2 * prec))
        else:
            scores.append(0.0)
    return sum(scores) / len(scores)


def cider_d(hyps: Sequence[Tokens], refs: Sequence[Sequence[Tokens]], n: int = 4, sigma: float = 6.0) -> float:
    """CIDEr-D as pycocoevalcap's Cider: tf-idf n-gram cosine, clipped, length-penalised, x10, mean over images.

    Document frequencies come from the references of the images scored, so the
    value depends on the evaluated set; it is not bounded by 1.
    """
    scorer = CiderD(refs, n, sigma)
    return sum(scorer.score(h, scorer.references(r)) for h, r in zip(hyps, refs, strict=True)) / len(hyps)


class CiderD:
    """CIDEr-D of one hypothesis against its references, the document frequencies taken from ``corpus`` (one list
    of tokenised references per image): :func:`cider_d`'s terms, kept fixed so that a training loop can score
    sampled captions against a training set's references."""

    def __init__(self, corpus: Sequence[Sequence[Tokens]], n: int = 4, sigma: float = 6.0):
        self.n, self.sigma = n, sigma
        self.doc_freq: Counter = Counter()
        for refs in corpus:
            self.doc_freq.update(set().union(*(ngram_counts(r, n) for r in refs)))
        self.log_docs = math.log(float(len(corpus)))

    def vector(self, counts: Counter) -> tuple[list[dict], list[float], int]:
        """Per n-gram order: tf-idf weights and their norm; and the length (in bigrams, as pycocoevalcap)."""
        vec: list[dict] = [{} for _ in range(self.n)]
        norm = [0.0] * self.n
        length = 0
        for gram, tf in counts.items():
            k = len(gram) - 1
            w = float(tf) * (self.log_docs - math.log(max(1.0, self.doc_freq[gram])))
            vec[k][gram] = w
            norm[k] += w * w
            if k == 1:  # pycocoevalcap measures length in bigrams; kept for equal numbers
                length += tf
        return vec, [math.sqrt(x) for x in norm], length

    def references(self, refs: Sequence[Tokens]) -> list[tuple[list[dict], list[float], int]]:
        """The vectors of one image's references, to score several hypotheses against."""
        return [self.vector(ngram_counts(r, self.n)) for r in refs]

    def score(self, hyp: Tokens, references: Sequence[tuple[list[dict], list[float], int]]) -> float:
        vec_h, norm_h, len_h = self.vector(ngram_counts(hyp, self.n))
        acc = [0.0] * self.n
        for vec_r, norm_r, len_r in references:
            penalty = math.exp(-(float(len_h - len_r) ** 2) / (2 * self.sigma**2))
            for k in range(self.n):
                val = sum(min(w, vec_r[k].get(g, 0.0)) * vec_r[k].get(g, 0.0) for g, w in vec_h[k].items())
                if norm_h[k] != 0 and norm_r[k] != 0:
                    val /= norm_h[k] * norm_r[k]
                acc[k] += val * penalty
        return sum(acc) / self.n / len(references) * 10.0


def _tokens(text: Any, tokenize: bool, where: str) -> Tokens:
    if not isinstance(text, str):
        raise MetricInputError(f"{where} must be a string, got {type(text).__name__}")
    return tokenize_caption(text) if tokenize else text.split()


class CaptionMetric:
    """Accumulates references and predicted captions, then scores them all at once.

    ``update(references, predictions)`` takes ``{image: [reference, ...]}`` and
    ``{image: caption}`` with the same images. With ``tokenize=False`` captions
    are taken as already tokenised (split on whitespace).
    """

    def __init__(self, tokenize: bool = True) -> None:
        self.tokenize = tokenize
        self._refs: dict[Hashable, list[Tokens]] = {}
        self._hyps: dict[Hashable, Tokens] = {}

    def update(self, references: Mapping[Hashable, Sequence[str]], predictions: Mapping[Hashable, str]) -> None:
        missing = [k for k in references if k not in predictions]
        extra = [k for k in predictions if k not in references]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"{len(missing)} image(s) without a prediction (e.g. {missing[0]!r})")
            if extra:
                parts.append(f"{len(extra)} prediction(s) for images without references (e.g. {extra[0]!r})")
            raise MetricInputError("caption predictions do not match references: " + "; ".join(parts))
        for key, rs in references.items():
            if key in self._hyps:
                raise MetricInputError(f"image {key!r} was already added to this CaptionMetric")
            if isinstance(rs, str) or len(rs) == 0:
                raise MetricInputError(f"image {key!r} needs a non-empty list of reference captions")
            self._refs[key] = [_tokens(r, self.tokenize, f"reference of {key!r}") for r in rs]
            self._hyps[key] = _tokens(predictions[key], self.tokenize, f"prediction of {key!r}")

    def compute(self) -> dict[str, float]:
        if not self._hyps:
            raise MetricInputError("CaptionMetric.compute() called before any caption was added")
        keys = list(self._hyps)
        hyps = [self._hyps[k] for k in keys]
        refs = [self._refs[k] for k in keys]
        b = bleu(hyps, refs)
        return {
            "bleu1": b[0],
            "bleu2": b[1],
            "bleu3": b[2],
            "bleu4": b[3],
            "meteor": meteor(hyps, refs),
            "rouge_l": rouge_l(hyps, refs),
            "cider": cider_d(hyps, refs),
        }


def caption_scores(
    references: Mapping[Hashable, Sequence[str]], predictions: Mapping[Hashable, str], tokenize: bool = True
) -> dict[str, float]:
    """BLEU-1..4, METEOR, ROUGE-L and CIDEr-D of predicted captions against reference captions."""
    metric = CaptionMetric(tokenize=tokenize)
    metric.update(references, predictions)
    return metric.compute()
