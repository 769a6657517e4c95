"""Scene classification as a task: which bands of a scene a classifier reads and how their values reach it,
the engine's per-tile predictor (:class:`TileClassifier`: one record, class and score, per tile), and the colours
of its classes. The engine writes the class map those records make during the run
(:class:`rsvision.engine.ClassMap`: each pixel takes the class of the tile whose centre is nearest). The jobs that
use them (a folder to a CSV, a scene to a class map) are in :mod:`rsvision.workflows.classify`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import colorcet
import numpy as np

from rsvision.core.sensors import Band, band_for_common_name, reflectance_to_8bit
from rsvision.errors import BandCountError, NormalisationError
from rsvision.models.classifier import Classifier
from rsvision.models.weights import Weights
from rsvision.tasks.base import TileBatch, TilePredictor

# ----------------------------------------------------------------------------- scenes


def scene_gsd(scene) -> float | None:
    """Metres per pixel of a scene on a projected grid (square pixels assumed: the x resolution); else None."""
    crs = scene.crs
    if crs is None or not crs.is_projected:
        return None
    return float(abs(scene.res[0]) * crs.linear_units_factor[1])


def tile_size_for(weights: Weights, gsd_m: float | None) -> int:
    """Scene pixels per tile: the record's input size, scaled by ``record GSD / scene GSD`` when both are known,
    so that a tile covers the ground the model saw in one image (it is then resampled to the input size)."""
    if weights.gsd_m and gsd_m:
        return max(2, round(weights.input_size * weights.gsd_m / gsd_m))
    return weights.input_size


@dataclass(frozen=True)
class BandChoice:
    """Which scene bands a classifier reads (``read``: names in the model's order; None: all, by position),
    what they were matched by, and whether integer reflectance is turned into 8-bit true colour first."""

    read: list[str] | None
    matched_by: str  # "name", "position" or "wavelength"
    to_8bit: bool = False

    def describe(self, weights: Weights) -> str:
        """One line for the user when the scene is not what the model was trained on, else empty."""
        if not self.to_8bit:
            return ""
        return (
            f"{weights.name} was trained on 8-bit RGB images: the scene's {', '.join(self.read or [])} "
            "reflectance is turned into 8-bit true colour (min(255, DN / 10000 x 2.5 x 255)); expect lower "
            "accuracy than on imagery like its training data"
        )


def select_bands(
    weights: Weights,
    scene_bands: Sequence[str | Band],
    given: Sequence[str] | None,
    where: str,
    dtype: str = "uint8",
    sensor: str | None = None,
) -> BandChoice:
    """The scene bands a classifier reads, in its order: by name when the scene (or ``given``, naming the scene's
    bands in order) has every band the model takes; by position when the scene's bands are unnamed (``band1`` ...)
    and as many as the model takes; by centre wavelength when the model takes common names (red, green, blue,
    nir) and the scene's bands carry wavelengths (Sentinel-2's B04, B03, B02). A model trained on 8-bit values
    gets a Sentinel-2 scene's reflectance as 8-bit true colour; other wider-than-8-bit integers are refused."""
    bands = [b if isinstance(b, Band) else Band(b) for b in scene_bands]
    names = list(given) if given is not None else [b.name for b in bands]
    if given is not None and len(given) != len(bands):
        raise BandCountError(f"{where}: {len(given)} band names given for {len(bands)} bands")
    lower = [n.lower() for n in names]
    if all(b.lower() in lower for b in weights.bands):
        choice = BandChoice([bands[lower.index(b.lower())].name for b in weights.bands], "name")
    elif all(n.lower() == f"band{i + 1}" for i, n in enumerate(names)) and len(names) == len(weights.bands):
        choice = BandChoice(None, "position")
    else:
        found = [band_for_common_name(b, bands) for b in weights.bands] if given is None else [None]
        if not all(found):
            raise BandCountError(
                f"{where}: the model takes bands {', '.join(weights.bands)}; the scene has "
                f"{', '.join(names)}, none of which carries those names or their wavelengths (if "
                f"they are in fact {', '.join(weights.bands)}, say so with --bands)"
            )
        choice = BandChoice([b.name for b in found], "wavelength")  # type: ignore[union-attr]
    return _radiometry(choice, weights, where, dtype, sensor)


def _radiometry(choice: BandChoice, weights: Weights, where: str, dtype: str, sensor: str | None) -> BandChoice:
    """Sentinel-2 reflectance for a model of 8-bit values becomes 8-bit true colour; other integers wider than
    8 bits cannot reach such a model and are refused before any tile is read."""
    kind, bits = np.dtype(dtype).kind, np.dtype(dtype).itemsize * 8
    if weights.preprocessing.value_range[1] > 255 or kind not in "ui" or bits <= 8:
        return choice
    if sensor == "sentinel-2":
        return BandChoice(choice.read, choice.matched_by, to_8bit=True)
    raise NormalisationError(
        f"{where}: {dtype} pixels, but {weights.name} takes 8-bit values (0-255); "
        "Sentinel-2 scenes are converted to 8-bit true colour by themselves, others must "
        "be made 8-bit first (e.g. gdal_translate -ot Byte -scale MIN MAX 0 255)"
    )


class TileClassifier(TilePredictor):
    """One record per tile: ``class_id``, ``class`` and ``score`` (the class probability, D4-averaged with
    ``tta``). ``bands`` says which scene bands are read (:func:`select_bands`), ``dtype`` is the scene's:
    integer tiles are handed to the model as such, so the record's value checks see the file's values."""

    def __init__(
        self,
        classifier: Classifier,
        tile_size: int,
        bands: BandChoice | None = None,
        tta: bool = False,
        dtype: str | None = None,
    ):
        choice = bands or BandChoice(None, "position")
        self.classifier, self.tile_size, self.tta, self.to_8bit = classifier, int(tile_size), tta, choice.to_8bit
        self.bands = choice.read
        self.model_bands = list(classifier.weights.bands) if choice.read is not None else None
        self.dtype = dtype if dtype and np.dtype(dtype).kind in "ui" else None
        self.class_names = np.asarray(classifier.classes, dtype=str)

    def predict(self, batch: TileBatch) -> dict[str, np.ndarray]:
        images = batch.images.astype(self.dtype) if self.dtype else batch.images
        if self.to_8bit:
            images = reflectance_to_8bit(images)
        w = batch.windows[0]
        where = f"tiles from column {int(w.col_off)}, row {int(w.row_off)}"
        x = self.classifier.weights.preprocess(images, self.model_bands, where=where)
        p = self.classifier.probabilities(x, self.tta).numpy()  # in inference mode already
        ids = p.argmax(1)
        return {
            "class_id": ids.astype(np.int32),
            "class": self.class_names[ids],
            "score": p[np.arange(len(p)), ids].astype(np.float64),
        }

    def fingerprint(self) -> str:
        w = self.classifier.weights
        return card_fingerprint(self, w, self.tile_size, self.tta, self.bands, self.dtype, self.to_8bit)


def tiles_from(batch: TileBatch) -> str:
    """Where a batch's tiles start, for the one-line errors of value and band checks."""
    w = batch.windows[0]
    return f"tiles from column {int(w.col_off)}, row {int(w.row_off)}"


def card_input(predictor, images: np.ndarray, where: str):
    """Tiles ``(B, C, H, W)`` as a card's network takes them: the scene's integer type (``predictor.dtype``),
    Sentinel-2 reflectance made 8-bit true colour for an 8-bit model (``to_8bit``), the card's band order
    (``model_bands``), its value checks and normalisation; a float tensor on ``predictor.device``."""
    import torch

    images = images.astype(predictor.dtype) if predictor.dtype else images
    if predictor.to_8bit:
        images = reflectance_to_8bit(images)
    prep = predictor.weights.preprocessing
    images = prep.order_bands(images, predictor.model_bands, where)
    prep.check_values(images, where)
    return prep.normalise(torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))).to(predictor.device)


def card_fingerprint(predictor, weights: Weights, *settings) -> str:
    """A predictor's fingerprint from its card (name, file digest, preprocessing) and its own settings: the
    weights are identified by their sha256, not hashed again tensor by tensor."""
    card = [type(predictor).__qualname__, weights.name, weights.sha256, weights.preprocessing.model_dump()]
    return hashlib.sha256(json.dumps([*card, *settings]).encode()).hexdigest()[:32]


def class_colours(n: int) -> dict[int, tuple[int, int, int, int]]:
    """``n`` RGBA colours told apart at a glance: matplotlib's ten category colours, then colorcet's glasbey
    colours, each as far from those before it as possible (256 in all, then repeated)."""
    palette = colorcet.glasbey_category10
    return {i: (*(round(v * 255) for v in palette[i % len(palette)]), 255) for i in range(n)}
