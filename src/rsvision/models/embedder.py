"""Image and text embeddings from a dual encoder's ``Weights`` card: what a predictor, a search index or
``eval retrieval`` calls. Images get the card's preprocessing; both sides come back L2-normalised as numpy."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from rsvision.errors import WeightsError
from rsvision.models.dual_encoder import DualEncoder
from rsvision.models.language import check_texts
from rsvision.models.openclip import OpenClipEncoder
from rsvision.models.preprocess import Preprocessing, preprocess_chunk
from rsvision.models.resolve import resolve_model
from rsvision.models.tta import d4_mean
from rsvision.models.weights import Task, Weights, builtin_weights

DEFAULT_EMBEDDER = "rsicd_dual_encoder"
TRAIN_HINT = "python -m rsvision.train.recipes rsicd_dual_encoder_minilm --data ../shared/data/AID --out FOLDER"
DUAL_ENCODERS = (DualEncoder, OpenClipEncoder)  # what embeds both images and texts into one space


class Embedder:
    """A dual encoder (rsvision's own, or a published open_clip checkpoint) with the preprocessing its images need;
    ``name`` names it in messages; ``weights``, its card when it came from one (a predictor's fingerprint reads
    its sha256)."""

    def __init__(
        self,
        module: DualEncoder | OpenClipEncoder,
        preprocessing: Preprocessing,
        name: str = "model",
        device: str = "cpu",
        weights: Weights | None = None,
    ):
        if not isinstance(module, DUAL_ENCODERS):
            raise WeightsError(f"{name} is not a dual encoder: it cannot embed texts")
        self.module, self.preprocessing, self.name, self.device = module.eval().to(device), preprocessing, name, device
        self.weights = weights

    @property
    def dim(self) -> int:
        return self.module.embed_dim

    @property
    def scale(self) -> float:
        """The model's learned logit scale (exp, clamped at 100): cosine similarities times it are the logits of
        its image-text softmax, so zero-shot class probabilities come out as sharp as the model was trained."""
        return float(self.module.scale.detach())

    def embed_images(
        self, images: np.ndarray | Sequence[np.ndarray], batch_size: int = 64, tta: bool = False
    ) -> np.ndarray:
        """(B, D) of raw images: (B, C, H, W) pixels (uint8 for the RGB models) or a list of (C, H, W). ``tta``:
        the normalised mean of the 8 flips and quarter turns' embeddings (8x the time)."""
        encode = (
            (lambda x: F.normalize(d4_mean(self.module.encode_image, x), dim=-1)) if tta else self.module.encode_image
        )
        out = []
        for start in range(0, len(images), batch_size):
            x = preprocess_chunk(self.preprocessing, images[start : start + batch_size], start)
            with torch.inference_mode():
                out.append(encode(x.to(self.device)).float().cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, self.dim), np.float32)

    def embed_texts(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """(N, D) of texts; longer than the tower's context: truncated, with a TextTruncatedWarning."""
        texts = check_texts(texts)
        out = []
        for start in range(0, len(texts), batch_size):
            with torch.inference_mode():
                out.append(self.module.encode_text(texts[start : start + batch_size]).float().cpu())
        return torch.cat(out).numpy()


def load_embedder(
    model: str | os.PathLike | None = None, needed_by: str = "embedding", device: str = "cpu"
) -> Embedder:
    """The dual encoder ``-m MODEL`` names (the built-in default when None), refused in one line when its card is
    not an embedding model or it has no text tower."""
    if model is None and DEFAULT_EMBEDDER not in builtin_weights():
        raise WeightsError(
            f"the built-in dual encoder {DEFAULT_EMBEDDER} is not shipped yet: give -m PATH of one trained with "
            f"`{TRAIN_HINT}`"
        )
    loaded = resolve_model(model or DEFAULT_EMBEDDER, Task.EMBEDDING, needed_by)
    return Embedder(loaded.module, loaded.weights.preprocessing, loaded.weights.name, device, loaded.weights)
