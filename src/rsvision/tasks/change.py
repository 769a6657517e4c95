"""Unsupervised change detection between two dates, as the engine's pair predictor.

Each method is fitted once on a sample of both dates (global statistics: a first pass over a fixed-seed sample of
windows, which the workflow reads), then maps every tile pair to a per-pixel *change score* in [0, 1] that is 0.5
exactly at the method's own threshold, so the engine's argmax of ``(1 - score, score)`` is the method's binary
decision and the blended score is the change-score raster:

- ``cva``: change vector analysis (Malila 1980): the length of the difference vector of the bands, each scaled by
  its pooled standard deviation, thresholded by Otsu's method (Otsu 1979) on the sample's lengths.
- ``irmad``: iteratively reweighted multivariate alteration detection (Nielsen 2007, IEEE TIP 16(2)): canonical
  correlation of the two dates, reweighted by each pixel's chi-square probability of no change until the
  correlations settle; a pixel changed when its chi-square statistic passes the 99% quantile.
- ``pcakmeans``: PCA and k-means (Celik 2009, IEEE GRSL 6(4)): the difference image's ``h x h`` neighbourhoods
  projected on the principal components of its non-overlapping blocks (90% of the variance), two k-means clusters;
  the cluster of larger mean difference is change. The difference image of a multiband pair is the CVA length.

Scores are ``1 / (1 + (t / s) ** 4)`` for a statistic ``s`` and threshold ``t`` (CVA, IR-MAD), and
``d0 / (d0 + d1)`` for k-means distances ``d0`` (to the no-change centre) and ``d1``.

A learned model is :class:`rsvision.tasks.learned_change.LearnedChange`: a siamese network of
:mod:`rsvision.models.change` with its ``Weights`` card, both dates normalised as the card says, stacked, and its
change probability per pixel.

Relative radiometric normalisation of the second date (off by default): ``histogram`` (per band, its quantiles
mapped on the first date's) or ``irmad`` (orthogonal regression per band on IR-MAD's no-change pixels, Canty and
Nielsen 2008).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from rsvision.errors import PredictorError
from rsvision.tasks.base import ChangePredictor, TileBatch

CLASSES = ("no change", "change")
COLOURS = {0: (0, 0, 0, 0), 1: (230, 40, 40, 255)}
STEEPNESS = 4  # of the score around a threshold: 0.06 at half the threshold, 0.94 at twice it
EPS = 1e-9
FIT_PIXELS = 262_144  # IR-MAD iterates over at most this many sample pixels (a fixed-seed subsample)


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold (the one maximising the between-class variance) of 1-D ``values``, over a histogram of
    ``bins`` between their minimum and 99.9th percentile (a few extreme changes would squeeze the rest into one
    bin)."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0
    lo, hi = float(values.min()), float(np.percentile(values, 99.9))
    if hi <= lo:
        return hi
    counts, edges = np.histogram(np.clip(values, lo, hi), bins=bins, range=(lo, hi))
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(counts)
    w1 = w0[-1] - w0
    s0 = np.cumsum(counts * centres)
    with np.errstate(divide="ignore", invalid="ignore"):
        m0, m1 = s0 / w0, (s0[-1] - s0) / w1
        between = w0 * w1 * (m0 - m1) ** 2
    return float(edges[1:][np.nanargmax(np.nan_to_num(between[:-1], nan=-1.0))])


def threshold_score(statistic: np.ndarray, threshold: float) -> np.ndarray:
    """A change score in [0, 1], 0.5 where ``statistic`` equals ``threshold``."""
    t = max(float(threshold), EPS)
    ratio = np.maximum(statistic, 0).astype(np.float32) / np.float32(t)
    r4 = ratio**STEEPNESS
    return (r4 / (1 + r4)).astype(np.float32)


def chi2_sf(x: np.ndarray, dof: int) -> np.ndarray:
    """The chi-square survival function ``P(X > x)`` for ``dof`` degrees of freedom (the regularised upper
    incomplete gamma function ``Q(dof / 2, x / 2)``)."""
    import torch  # deferred: numpy callers of this module need no torch

    t = torch.from_numpy(np.asarray(x, np.float64) / 2)
    return torch.special.gammaincc(torch.full_like(t, dof / 2), t).numpy()


def chi2_quantile(p: float, dof: int) -> float:
    """The chi-square quantile: ``x`` with ``P(X <= x) = p``, by bisection on :func:`chi2_sf`."""
    lo, hi = 0.0, float(dof)
    while chi2_sf(np.array([hi]), dof)[0] > 1 - p:
        hi *= 2
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if chi2_sf(np.array([mid]), dof)[0] > 1 - p else (lo, mid)
    return (lo + hi) / 2


def _valid_pixels(images: np.ndarray, valid: np.ndarray, limit: int) -> np.ndarray:
    """(N, C) float64 values of the ``valid`` pixels of (B, C, H, W) ``images``; at most ``limit`` of them, a
    fixed-seed subsample (the same pixels for both dates), picked before anything is widened to float64."""
    where = np.flatnonzero(valid.ravel())
    if len(where) > limit:  # the covariances settle long before; memory and time stay bounded
        where = np.sort(np.random.default_rng(0).choice(where, limit, replace=False))
    flat = images.transpose(1, 0, 2, 3).reshape(images.shape[1], -1)
    return flat[:, where].T.astype(np.float64)


class ChangeMethod(ABC):
    """An unsupervised change method: :meth:`fit` on sample pixels of both dates, then :meth:`score` tiles."""

    name: ClassVar[str]
    margin: ClassVar[int] = 0  # pixels of context a pixel's score depends on

    @abstractmethod
    def fit(self, before: np.ndarray, after: np.ndarray, valid: np.ndarray) -> None:
        """Global statistics from sample windows ``(N, C, h, w)`` of both dates; ``valid`` ``(N, h, w)``."""

    @abstractmethod
    def score(self, before: np.ndarray, after: np.ndarray) -> np.ndarray:
        """Change scores ``(B, H, W)`` in [0, 1] of tiles ``(B, C, H, W)``, 0.5 at the method's threshold."""


class CVA(ChangeMethod):
    """Change vector analysis with Otsu's threshold on the length of the scaled difference vector."""

    name = "cva"

    def fit(self, before, after, valid):
        x, y = _valid_pixels(before, valid, valid.size), _valid_pixels(after, valid, valid.size)
        self.scale = np.sqrt((x.var(0) + y.var(0)) / 2).astype(np.float32) + np.float32(EPS)
        self.threshold = otsu_threshold(self.magnitude(before, after)[valid])

    def magnitude(self, before: np.ndarray, after: np.ndarray) -> np.ndarray:
        d = (after - before) / self.scale[None, :, None, None]
        return np.sqrt(np.einsum("bchw,bchw->bhw", d, d))

    def score(self, before, after):
        return threshold_score(self.magnitude(before, after), self.threshold)


class IRMAD(ChangeMethod):
    """Iteratively reweighted MAD (Nielsen 2007): the MAD variates ``a_i'x - b_i'y`` of the canonical correlation
    of the dates, iterated with weights ``P(no change)`` from their chi-square statistic until the canonical
    correlations move less than ``tol``. Changed: the statistic beyond the chi-square ``confidence`` quantile."""

    name = "irmad"

    def __init__(self, iterations: int = 30, tol: float = 1e-4, confidence: float = 0.99):
        self.iterations, self.tol, self.confidence = iterations, tol, confidence

    def fit(self, before, after, valid):
        x, y = _valid_pixels(before, valid, FIT_PIXELS), _valid_pixels(after, valid, FIT_PIXELS)
        if len(x) < 2 * x.shape[1] + 2:
            raise PredictorError(f"irmad needs more valid pixels in both dates than {len(x)}")
        weights, rho = np.ones(len(x)), None
        for _ in range(self.iterations):
            self._solve(x, y, weights)
            chi2 = self._chi2(x, y)
            weights = chi2_sf(chi2, x.shape[1])
            if weights.sum() < x.shape[1] + 1:  # (almost) nothing left unchanged to weigh: keep the last fit
                break
            if rho is not None and np.max(np.abs(self.rho - rho)) < self.tol:
                break
            rho = self.rho
        # The weighted variances 2 (1 - rho) shrink with each reweighting (the weights trim the no-change
        # distribution's own tails), which would flag a share of no-change pixels: the final test standardises each
        # MAD variate by its robust spread over the sample (1.4826 x median absolute deviation), which change
        # pixels under half of the sample leave alone.
        mad = self._mad(x, y)
        spread = 1.4826 * np.median(np.abs(mad - np.median(mad, 0)), 0)
        self.sigma2 = np.maximum(spread**2, 1e-12)
        self.threshold = chi2_quantile(self.confidence, x.shape[1])

    def _solve(self, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> None:
        """Weighted canonical correlation: ``Sxy Syy^-1 Syx a = rho^2 Sxx a`` through Sxx's Cholesky factor."""
        w = w / w.sum()
        self.mean_x, self.mean_y = w @ x, w @ y
        xc, yc = x - self.mean_x, y - self.mean_y
        p = x.shape[1]
        sxx, syy, sxy = (xc * w[:, None]).T @ xc, (yc * w[:, None]).T @ yc, (xc * w[:, None]).T @ yc
        ridge = 1e-9 * np.eye(p)  # constant bands (an 8-bit band with one value) would make the problem singular
        sxx += ridge * max(np.trace(sxx), 1.0)
        syy += ridge * max(np.trace(syy), 1.0)
        lx_inv = np.linalg.inv(np.linalg.cholesky(sxx))
        m = lx_inv @ sxy @ np.linalg.solve(syy, sxy.T) @ lx_inv.T
        rho2, u = np.linalg.eigh((m + m.T) / 2)  # ascending: the first MAD variate is the least correlated
        a = lx_inv.T @ u
        rho = np.sqrt(np.clip(rho2, 0, 1))
        b = np.linalg.solve(syy, sxy.T @ a)
        b /= np.sqrt(np.maximum(np.einsum("ij,ij->j", b, syy @ b), EPS))
        b *= np.sign(np.einsum("ij,ij->j", a, sxy @ b) + EPS)  # positively correlated pairs
        self.a, self.b, self.rho = a, b, rho
        self.sigma2 = np.maximum(2 * (1 - rho), 1e-6)  # var(a'x - b'y) for unit-variance canonical variates

    def no_change(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """P(no change) of (N, C) pixel pairs: the chi-square tail of their statistic."""
        return chi2_sf(self._chi2(x, y), x.shape[1])

    def _mad(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (x - self.mean_x) @ self.a - (y - self.mean_y) @ self.b

    def _chi2(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (self._mad(x, y) ** 2 / self.sigma2).sum(1)

    def score(self, before, after):
        # float32 and one tile at a time: float64 copies of a batch of 13-band tiles took 0.5 GB
        a, b = self.a.astype(np.float32), self.b.astype(np.float32)
        mx, my = self.mean_x.astype(np.float32), self.mean_y.astype(np.float32)
        scale = (1 / np.sqrt(self.sigma2)).astype(np.float32)
        chi2 = np.empty((len(before), *before.shape[2:]), np.float32)
        for i, (x, y) in enumerate(zip(before, after)):
            mad = np.tensordot(a.T, x - mx[:, None, None], 1) - np.tensordot(b.T, y - my[:, None, None], 1)
            mad *= scale[:, None, None]
            chi2[i] = np.einsum("khw,khw->hw", mad, mad)
        return threshold_score(chi2, self.threshold)


class PCAKMeans(ChangeMethod):
    """PCA and k-means on the difference image's ``h x h`` neighbourhoods (Celik 2009)."""

    name = "pcakmeans"
    margin = 2

    def __init__(self, block: int = 3, variance: float = 0.9, iterations: int = 30, seed: int = 0):
        if block % 2 == 0:
            raise PredictorError(f"pcakmeans needs an odd block size, got {block}")
        self.block, self.variance, self.iterations, self.seed = block, variance, iterations, seed
        self.cva = CVA()

    def fit(self, before, after, valid):
        self.cva.fit(before, after, valid)
        diff = self.cva.magnitude(before, after)
        h = self.block
        n, rows, cols = diff.shape
        blocks = diff[:, : rows - rows % h, : cols - cols % h].reshape(n, rows // h, h, cols // h, h)
        ok = valid[:, : rows - rows % h, : cols - cols % h].reshape(n, rows // h, h, cols // h, h).all((2, 4))
        vectors = blocks.transpose(0, 1, 3, 2, 4).reshape(-1, h * h)[ok.ravel()].astype(np.float64)
        self.mean = vectors.mean(0)
        values, vecs = np.linalg.eigh(np.cov(vectors - self.mean, rowvar=False))
        order = np.argsort(values)[::-1]
        share = np.cumsum(values[order]) / max(values.sum(), EPS)
        keep = int(np.searchsorted(share, self.variance) + 1)
        self.components = vecs[:, order[:keep]].astype(np.float32)
        features = self._features(diff)[valid]
        self.centres = self._kmeans(features, diff[valid])

    def _features(self, diff: np.ndarray) -> np.ndarray:
        """(B, H, W) difference -> (B, H, W, S) projections of each pixel's neighbourhood (edges reflected)."""
        r = self.block // 2
        padded = np.pad(diff, ((0, 0), (r, r), (r, r)), mode="reflect")
        windows = np.lib.stride_tricks.sliding_window_view(padded, (self.block, self.block), axis=(1, 2))
        flat = windows.reshape(*diff.shape, -1)
        return (flat - self.mean.astype(np.float32)) @ self.components

    def _kmeans(self, features: np.ndarray, diff: np.ndarray) -> np.ndarray:
        """Two centres by Lloyd's iterations from the features of the 10% and 90% difference quantiles; the
        change centre (larger mean difference) second."""
        rng = np.random.default_rng(self.seed)
        if len(features) > 200_000:  # the centres settle on a sample; k-means over millions adds nothing
            pick = rng.choice(len(features), 200_000, replace=False)
            features, diff = features[pick], diff[pick]
        lo, hi = np.quantile(diff, [0.1, 0.9])
        centres = np.stack([features[np.argmin(np.abs(diff - v))] for v in (lo, hi)]).astype(np.float64)
        for _ in range(self.iterations):
            labels = self._nearest(features, centres)
            moved = np.stack([features[labels == k].mean(0) if np.any(labels == k) else centres[k] for k in (0, 1)])
            if np.allclose(moved, centres):
                break
            centres = moved
        labels = self._nearest(features, centres)
        means = [diff[labels == k].mean() if np.any(labels == k) else -np.inf for k in (0, 1)]
        return (centres if means[1] >= means[0] else centres[::-1]).astype(np.float32)

    @staticmethod
    def _nearest(features: np.ndarray, centres: np.ndarray) -> np.ndarray:
        return np.argmin(((features[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)

    def score(self, before, after):
        f = self._features(self.cva.magnitude(before, after))
        d0 = np.sqrt(((f - self.centres[0]) ** 2).sum(-1))
        d1 = np.sqrt(((f - self.centres[1]) ** 2).sum(-1))
        return (d0 / np.maximum(d0 + d1, EPS)).astype(np.float32)


METHODS: dict[str, type[ChangeMethod]] = {m.name: m for m in (CVA, IRMAD, PCAKMeans)}


def change_method(name: str) -> ChangeMethod:
    """A new, unfitted method by name (``cva``, ``irmad``, ``pcakmeans``)."""
    if name not in METHODS:
        raise PredictorError(f"unknown change method {name!r}; methods: {', '.join(METHODS)}")
    return METHODS[name]()


class Normaliser(ABC):
    """Relative radiometric normalisation: the second date's bands mapped onto the first date's."""

    name: ClassVar[str]

    @abstractmethod
    def fit(self, before: np.ndarray, after: np.ndarray, valid: np.ndarray) -> None: ...

    @abstractmethod
    def apply(self, after: np.ndarray) -> np.ndarray:
        """(B, C, H, W) second-date tiles (or samples) normalised."""


class HistogramMatching(Normaliser):
    """Per band, the second date's quantiles mapped linearly onto the first date's (1,001 quantiles)."""

    name = "histogram"

    def fit(self, before, after, valid):
        q = np.linspace(0, 1, 1001)
        x, y = _valid_pixels(before, valid, valid.size), _valid_pixels(after, valid, valid.size)
        self.source, self.target = np.quantile(y, q, axis=0).T, np.quantile(x, q, axis=0).T

    def apply(self, after):
        out = np.empty_like(after, dtype=np.float32)
        for c in range(after.shape[1]):
            src, dst = self.source[c], self.target[c]
            keep = np.concatenate([[True], np.diff(src) > 0])  # np.interp needs increasing abscissae
            out[:, c] = np.interp(after[:, c], src[keep], dst[keep])
        return out


class RegressionOnNoChange(Normaliser):
    """Per band, orthogonal regression of the first date on the second over IR-MAD's no-change pixels
    (``P(no change)`` above ``level``), as Canty and Nielsen (2008) do."""

    name = "irmad"

    def __init__(self, level: float = 0.95):
        self.level = level

    def fit(self, before, after, valid):
        mad = IRMAD()
        mad.fit(before, after, valid)
        x, y = _valid_pixels(before, valid, valid.size), _valid_pixels(after, valid, valid.size)
        no_change = mad.no_change(x, y)
        stable = no_change > self.level
        if stable.sum() < 10:
            stable = no_change >= np.quantile(no_change, 0.5)
        x, y = x[stable], y[stable]
        self.slope, self.offset = np.ones(x.shape[1]), np.zeros(x.shape[1])
        for c in range(x.shape[1]):
            cov = np.cov(y[:, c], x[:, c])
            values, vecs = np.linalg.eigh(cov)
            v = vecs[:, np.argmax(values)]  # the major axis of the (y, x) cloud
            slope = v[1] / v[0] if abs(v[0]) > EPS else 1.0
            self.slope[c], self.offset[c] = slope, x[:, c].mean() - slope * y[:, c].mean()

    def apply(self, after):
        return (after * self.slope[None, :, None, None] + self.offset[None, :, None, None]).astype(np.float32)


NORMALISERS: dict[str, type[Normaliser]] = {n.name: n for n in (HistogramMatching, RegressionOnNoChange)}


def normaliser(name: str | None) -> Normaliser | None:
    if name is None or name == "none":
        return None
    if name not in NORMALISERS:
        raise PredictorError(f"unknown normalisation {name!r}; use {', '.join(NORMALISERS)} (or none)")
    return NORMALISERS[name]()


class UnsupervisedChange(ChangePredictor):
    """The engine's pair predictor around a fitted :class:`ChangeMethod` (and optional :class:`Normaliser` of the
    second date): per pixel ``(1 - score, score)``, so the class map is the method's decision and the blended
    probabilities its change score. Pixels the second date does not cover come out as no change (score 0)."""

    num_outputs = 2
    class_names = CLASSES
    colormap = COLOURS

    def __init__(self, method: ChangeMethod, normalise: Normaliser | None = None, *, tile_size: int = 512):
        self.method, self.normalise, self.tile_size = method, normalise, int(tile_size)
        self.output = "classes"
        self.check()

    def predict(self, batch: TileBatch) -> np.ndarray:
        after = self.normalise.apply(batch.images2) if self.normalise is not None else batch.images2
        score = self.method.score(batch.images, after)
        if batch.masks2 is not None:
            score[batch.masks2] = 0
        return np.stack([1 - score, score], axis=1)

    def fingerprint(self) -> str:
        """The method's and normaliser's fitted statistics decide the outputs."""
        h = hashlib.sha256(f"{self.method.name}:{self.tile_size}".encode())
        for part in (self.method, getattr(self.method, "cva", None), self.normalise):
            for key, value in sorted(vars(part).items()) if part is not None else ():
                if isinstance(value, (int, float, str, np.ndarray)):
                    h.update(key.encode() + np.asarray(value).tobytes())
        return h.hexdigest()[:32]


def method_threshold_note(method: ChangeMethod) -> str:
    """How the fitted method decides, for a summary line."""
    if isinstance(method, IRMAD):
        rho = ", ".join(f"{r:.3f}" for r in method.rho)
        return f"irmad: chi-square {method.confidence:.0%} quantile {method.threshold:.3g}; correlations {rho}"
    if isinstance(method, PCAKMeans):
        return f"pcakmeans: {method.components.shape[1]} components of {method.block}x{method.block} blocks"
    if isinstance(method, CVA):
        return f"cva: Otsu threshold {method.threshold:.3g} on the scaled difference length"
    return method.name
