"""The predictor protocol the engine drives: a batch of tiles in, outputs that know how they merge across tiles.

The output kind names the merge rule:

- ``dense`` (:class:`DensePredictor`, :class:`ChangePredictor`): per-pixel scores ``(B, K, H, W)``, blended across
  overlapping tiles with a smooth weight window, then kept as scores or reduced to a class map (argmax).
- ``boxes`` (:class:`BoxPredictor`): per-tile boxes (``xyxy`` or rotated ``(cx, cy, w, h, angle)``) in tile pixels;
  boxes cut by an inner tile edge give way to the whole box from a neighbouring tile, then class-aware NMS.
- ``tiles`` (:class:`TilePredictor`): one record per tile (tags, scores, embeddings) with the tile's footprint.

The engine looks each kind up in its registry of output kinds (:mod:`rsvision.engine.outputs`), which check, split,
merge and write the outputs: a new kind is a predictor class here and an ``OutputKind`` there.

Predictors own their preprocessing (band choice, normalisation); the engine hands them band values as read.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from affine import Affine
from rasterio.windows import Window

from rsvision.errors import PredictorError
from rsvision.geometry.detections import Detections


@dataclass
class TileBatch:
    """Tiles handed to a predictor. Images hold band values as read, as float32; nodata pixels keep the file's
    values and are flagged in ``masks``. Change predictors also get the second date on the same grid. The arrays
    are the predictor's to use during ``predict``: it may normalise them in place, but not keep them, as the engine
    reads the next tiles into the same buffers."""

    images: np.ndarray  # (B, C, H, W) float32
    masks: np.ndarray  # (B, H, W) bool, True where every band is nodata
    windows: list[Window]  # each tile's place in the scene, in pixels
    transform: Affine = field(default_factory=Affine.identity)  # scene pixel -> map coordinates
    images2: np.ndarray | None = None  # (B, C2, H, W) float32: the second date, aligned to the first grid
    masks2: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.images)


class Predictor(ABC):
    """Maps a :class:`TileBatch` to outputs; ``kind`` names how those outputs merge across tiles."""

    kind: ClassVar[str]
    pairs: ClassVar[bool] = False  # True: takes two dates (``TileBatch.images2``)
    bands: Sequence[str | int] | None = None  # bands to read, by name or 0-based position; all by default
    tile_size: int | None = None  # the tile size the model prefers (e.g. the size it was trained at)

    @abstractmethod
    def predict(self, batch: TileBatch) -> Any:
        """Outputs for every tile of ``batch``, in order."""

    def fingerprint(self) -> str:
        """A digest of everything that decides the outputs (class, settings, weights): a checkpoint made by a
        predictor with another fingerprint is not reused. Override when the state lives elsewhere."""
        h = hashlib.sha256(f"{type(self).__module__}.{type(self).__qualname__}".encode())
        _digest(vars(self), h)
        return h.hexdigest()[:32]


def _digest(obj: Any, h: hashlib._Hash) -> None:
    """Feed a stable description of ``obj`` into ``h``: values, arrays and torch weights by content."""
    if obj is None or isinstance(obj, (bool, int, float, str, bytes)):
        h.update(repr(obj).encode())
    elif isinstance(obj, np.ndarray):
        h.update(f"{obj.dtype}{obj.shape}".encode())
        h.update(np.ascontiguousarray(obj).tobytes())
    elif isinstance(obj, Mapping):
        for key in sorted(obj, key=str):
            h.update(str(key).encode())
            _digest(obj[key], h)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        items = sorted(obj, key=repr) if isinstance(obj, (set, frozenset)) else obj
        h.update(f"{type(obj).__name__}{len(obj)}".encode())
        for item in items:
            _digest(item, h)
    elif type(obj).__module__.startswith("torch"):
        import torch

        if isinstance(obj, torch.nn.Module):
            h.update(type(obj).__qualname__.encode() + repr(obj).encode())
            _digest(obj.state_dict(), h)
        elif isinstance(obj, torch.Tensor):
            _digest(obj.detach().cpu().contiguous().numpy(), h)
        else:
            h.update(repr(obj).encode())
    else:
        h.update(f"{type(obj).__module__}.{type(obj).__qualname__}".encode())


class DensePredictor(Predictor):
    """Per-pixel scores for every tile: ``predict`` returns ``(B, K, H, W)`` float32 (probabilities or logits).

    ``output="classes"`` writes the argmax of the blended scores as a one-band class map (uint8, or uint16 past 255
    classes); ``output="scores"`` writes the K blended scores as float32 bands.
    """

    kind: ClassVar[str] = "dense"
    num_outputs: int
    output: str = "classes"
    class_names: Sequence[str] | None = None
    colormap: Mapping[int, tuple[int, ...]] | None = None
    output_tags: Mapping[str, str] | None = None  # metadata written on the output raster (how inputs were scaled)

    @abstractmethod
    def predict(self, batch: TileBatch) -> np.ndarray: ...

    @property
    def output_dtype(self) -> str:
        if self.output == "scores":
            return "float32"
        return "uint8" if self.num_outputs <= 255 else "uint16"

    @property
    def nodata(self) -> float:
        """The output's nodata value: NaN for scores, the largest value of the class map's dtype otherwise."""
        return float("nan") if self.output == "scores" else float(np.iinfo(self.output_dtype).max)

    @property
    def output_count(self) -> int:
        return self.num_outputs if self.output == "scores" else 1

    def check(self) -> None:
        """Refuse settings the engine cannot write."""
        if self.output not in ("classes", "scores"):
            raise PredictorError(f"{type(self).__name__}.output must be 'classes' or 'scores', got {self.output!r}")
        if not isinstance(getattr(self, "num_outputs", None), int) or not 1 <= self.num_outputs < 65535:
            raise PredictorError(f"{type(self).__name__}.num_outputs must be an int in [1, 65535)")


class ChangePredictor(DensePredictor):
    """A dense predictor over two dates: ``batch.images2`` holds the second date on the first date's grid."""

    pairs: ClassVar[bool] = True


class BoxPredictor(Predictor):
    """Objects in every tile: ``predict`` returns one :class:`Detections` per tile, in tile pixels.

    ``rotated`` boxes are ``(cx, cy, w, h, angle)`` le90, otherwise ``xyxy``. A box within ``edge_margin`` pixels of
    an inner tile edge is taken as cut by it; ``iou_threshold`` is the class-aware NMS threshold across tiles.
    """

    kind: ClassVar[str] = "boxes"
    rotated: bool = False
    class_names: Sequence[str] | None = None
    iou_threshold: float = 0.5
    edge_margin: float = 2.0

    @abstractmethod
    def predict(self, batch: TileBatch) -> list[Detections]: ...


class TilePredictor(Predictor):
    """One record per tile: ``predict`` returns columns, each with one entry per tile (a 1-D array for tags and
    scores, ``(B, D)`` for embeddings)."""

    kind: ClassVar[str] = "tiles"

    @abstractmethod
    def predict(self, batch: TileBatch) -> dict[str, np.ndarray]: ...
