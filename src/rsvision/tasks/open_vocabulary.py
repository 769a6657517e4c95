"""Open-vocabulary detection (the LAE-DINO task) with what the toolkit has: class-agnostic proposals, here square
windows at two sizes sliding at half their side over each tile, labelled by the dual encoder against the classes
the user names. A window is kept when its most likely label (softmax of the model's scaled similarities over the
named classes and BACKGROUND) is a named class at ``score`` or more; the engine's class-aware NMS merges windows.

Windows are the proposals because the shipped detector finds tree crowns only; its boxes (and segment regions) would
propose only what it was trained to see. The price is coarse boxes: a window is rarely a tight box, so IoU 0.5
against DOTA's boxes is hard to reach (docs/language.md, "Open-vocabulary detection").
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from rsvision.core.sensors import reflectance_to_8bit
from rsvision.geometry import Detections
from rsvision.models.embedder import Embedder
from rsvision.tasks.base import BoxPredictor, TileBatch

PROMPT = "an aerial image of {}"
BACKGROUND = ("bare land", "a road", "buildings", "trees", "water", "grass", "a parking lot", "a field")
WINDOWS = (96, 192)  # with 48 px windows too, one 1024 px DOTA image took 389 s on two shared cores


class OpenVocabularyDetector(BoxPredictor):
    """Windows labelled by ``embedder`` as one of ``classes`` (or background); ``bands``: the scene's red, green and
    blue positions."""

    iou_threshold = 0.3

    def __init__(
        self,
        embedder: Embedder,
        classes: Sequence[str],
        bands: Sequence[int] | None = None,
        *,
        windows: Sequence[int] = WINDOWS,
        score: float = 0.5,
        tile_size: int = 1024,
        batch_size: int = 128,
        to_8bit: bool = False,
    ):
        self.embedder, self.class_names, self.bands = embedder, list(classes), list(bands) if bands else None
        self.windows, self.score, self.tile_size, self.batch_size = tuple(windows), float(score), tile_size, batch_size
        self.to_8bit = to_8bit  # integer reflectance (Sentinel-2 DN) made true colour, as the RGB model saw
        prompts = [PROMPT.format(c) for c in [*self.class_names, *BACKGROUND]]
        self.text = embedder.embed_texts(prompts)

    def predict(self, batch: TileBatch) -> list[Detections]:
        return [self._tile(image) for image in batch.images]

    def _tile(self, image: np.ndarray) -> Detections:
        boxes = window_boxes(image.shape[1], image.shape[2], self.windows)
        if len(boxes) == 0:
            return Detections(np.zeros(0, np.int64), np.zeros(0, np.float32), boxes=np.zeros((0, 4), np.float32))
        pixels = reflectance_to_8bit(image[:3]) if self.to_8bit else np.clip(image[:3], 0, 255).astype(np.uint8)
        probs = []
        for start in range(0, len(boxes), self.batch_size):
            crops = [pixels[:, y0:y1, x0:x1] for x0, y0, x1, y1 in boxes[start : start + self.batch_size].astype(int)]
            logits = self.embedder.scale * (self.embedder.embed_images(crops) @ self.text.T)
            logits -= logits.max(1, keepdims=True)
            e = np.exp(logits)
            probs.append(e / e.sum(1, keepdims=True))
        p = np.concatenate(probs)
        labels, scores = p.argmax(1), p.max(1)
        keep = (labels < len(self.class_names)) & (scores >= self.score)
        return Detections(labels[keep].astype(np.int64), scores[keep].astype(np.float32), boxes=boxes[keep])

    def fingerprint(self) -> str:
        weights = getattr(self.embedder, "weights", None)
        settings = (getattr(weights, "sha256", self.embedder.name), self.class_names, self.windows, self.score)
        return hashlib.sha256(repr((*settings, self.bands, self.tile_size, self.to_8bit)).encode()).hexdigest()[:32]


def window_boxes(height: int, width: int, sizes: Sequence[int]) -> np.ndarray:
    """(N, 4) xyxy windows of each size (no larger than the tile) at a stride of half the size, the last one of each
    row and column flush with the edge."""
    out = []
    for size in sizes:
        if size > min(height, width):
            continue
        step = size // 2
        ys = sorted({*range(0, height - size + 1, step), height - size})
        xs = sorted({*range(0, width - size + 1, step), width - size})
        out += [(x, y, x + size, y + size) for y in ys for x in xs]
    return np.array(out, np.float32).reshape(-1, 4)
