"""Cloud and cloud-shadow masks of Sentinel-2 L1C scenes, as a dense predictor for the engine.

Clouds: Sentinel Hub's ``s2cloudless`` (a LightGBM pixel classifier on ten top-of-atmosphere bands; the model file
ships inside the package, so nothing downloads), with its recommended 10 m settings: probability averaged over a
disk of radius 4, threshold 0.4, the mask dilated by a disk of radius 2.

Shadows (s2cloudless has none): dark pixels (NIR reflectance under 0.15) that are not water (NDWI under 0) and lie
within ``shadow_distance`` pixels of a cloud, the rule of the Earth Engine s2cloudless tutorial without its
projection along the sun azimuth (a scene file carries no sun angle, so the search goes every way); because of
that, a shadow must also be darker in NIR than 0.7 of its surroundings' mean, which keeps dark roofs and streets
near bright false-positive "clouds" of a city out (Fmask's shadow test is a relative darkness test too). The search
distance stays within the engine's tile overlap, so tiles agree where they meet.

Bands are found by name (``B01`` ... ``B12``, ``B8A``) wherever they sit in the file; integer scenes are
digital numbers scaled by 1e-4 to reflectance (L1C before processing baseline 04.00; later products add 1,000
first, which ``offset`` takes).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rsvision.errors import BandCountError
from rsvision.tasks.base import DensePredictor, TileBatch

S2CLOUDLESS = "s2cloudless"
CLASSES = ("clear", "cloud", "shadow")
COLOURS = {0: (0, 0, 0, 255), 1: (255, 255, 255, 255), 2: (90, 60, 160, 255)}
MODEL_BANDS = ("B01", "B02", "B04", "B05", "B08", "B8A", "B09", "B10", "B11", "B12")  # s2cloudless's order
GREEN, NIR = "B03", "B08"
RELATIVE_DARK = 0.7  # a shadow is also this much darker in NIR than its surroundings (mean over the search window)
ALIASES = {"B1": "B01", "B2": "B02", "B3": "B03", "B4": "B04", "B5": "B05", "B8": "B08", "B9": "B09"}


def sentinel2_positions(names: Sequence[str], needed: Sequence[str], path: str = "the scene") -> list[int]:
    """0-based positions of the Sentinel-2 bands ``needed`` among a scene's band ``names`` (any order; ``B8`` is
    ``B08``, case ignored). A missing band is an error naming what is needed and what the scene has."""
    canonical = [ALIASES.get(n.upper(), n.upper()) for n in names]
    missing = [b for b in needed if b not in canonical]
    if missing:
        lacks = f", not {','.join(missing)}" if len(missing) < len(needed) else ""
        raise BandCountError(
            f"-m {S2CLOUDLESS} needs the Sentinel-2 bands {','.join(needed)}; {path} has "
            f"{','.join(names)}{lacks} (if they are there under other names, give them with --bands)"
        )
    return [canonical.index(b) for b in needed]


class CloudMasker(DensePredictor):
    """Per-pixel clear / cloud / shadow of Sentinel-2 tiles (one-hot scores, so blending across tiles keeps the
    masks). ``names`` are the scene's band names in file order."""

    num_outputs = len(CLASSES)
    class_names = CLASSES
    colormap = COLOURS

    def __init__(
        self,
        names: Sequence[str],
        *,
        integer: bool = True,
        offset: float = 0.0,
        threshold: float = 0.4,
        average_over: int = 4,
        dilation: int = 2,
        shadow_distance: int = 50,
        dark: float = 0.15,
        tile_size: int = 512,
        output: str = "classes",
        path: str = "the scene",
    ):
        self.bands = sentinel2_positions(names, (*MODEL_BANDS, GREEN), path)
        self.scale = 1e-4 if integer else 1.0
        self.offset, self.threshold, self.dark = float(offset), float(threshold), float(dark)
        self.average_over, self.dilation, self.shadow_distance = int(average_over), int(dilation), int(shadow_distance)
        self.tile_size, self.output = int(tile_size), output
        self.check()

    @property
    def margin(self) -> int:
        """Pixels of context a pixel's masks depend on. Tiles overlapping by twice this give the untiled masks:
        blending one-hot scores keeps the class of the tile whose edge is farther, at least this far."""
        return self.shadow_distance + self.average_over + self.dilation

    def predict(self, batch: TileBatch) -> np.ndarray:
        import cv2
        from s2cloudless import S2PixelCloudDetector

        reflectance = (batch.images - self.offset) * self.scale  # (B, 11, H, W): MODEL_BANDS then green
        detector = S2PixelCloudDetector(
            threshold=self.threshold, average_over=self.average_over, dilation_size=self.dilation
        )
        data = np.ascontiguousarray(reflectance[:, : len(MODEL_BANDS)].transpose(0, 2, 3, 1))
        clouds = detector.get_mask_from_prob(detector.get_cloud_probability_maps(data)).astype(bool)
        green, nir = reflectance[:, len(MODEL_BANDS)], reflectance[:, MODEL_BANDS.index(NIR)]
        with np.errstate(divide="ignore", invalid="ignore"):
            water = (green - nir) / (green + nir) > 0
        disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * self.shadow_distance + 1,) * 2)
        near = np.stack([cv2.dilate(c.astype(np.uint8), disk) for c in clouds]).astype(bool)
        side = 2 * self.shadow_distance + 1
        surroundings = np.stack([cv2.blur(n, (side, side), borderType=cv2.BORDER_REFLECT) for n in nir])
        dark = (nir < self.dark) & (nir < RELATIVE_DARK * surroundings)
        shadows = near & dark & ~water & ~clouds
        scores = np.zeros((len(batch), len(CLASSES), *clouds.shape[1:]), np.float32)
        scores[:, 1], scores[:, 2] = clouds, shadows
        scores[:, 0] = ~(clouds | shadows)
        return scores
