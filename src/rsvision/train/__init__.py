"""Training: an explicit loop with D4 / crop / colour augmentation, checkpoints and resume; recipes."""

from rsvision.train.augment import colour_jitter, d4_transform, random_d4, random_resized_crop
from rsvision.train.cache import band_statistics, image_cache
from rsvision.train.loop import ArrayData, TrainConfig, TrainResult, fit, lr_at, predict_logits

__all__ = [
    "ArrayData",
    "TrainConfig",
    "TrainResult",
    "band_statistics",
    "colour_jitter",
    "d4_transform",
    "fit",
    "image_cache",
    "lr_at",
    "predict_logits",
    "random_d4",
    "random_resized_crop",
]
