"""Segmentation training crops: scale augmentation resamples what a crop covers, labels stay labels, and runs
without it keep their random stream (and old checkpoints)."""

import numpy as np
import pytest
import torch

from rsvision.errors import RsvisionError
from rsvision.train.segmentation import MaskPairs, SegTrainConfig, sample_batch


def _pairs():
    """One 256 x 256 image whose labels are the column index // 8 (32 classes of 8-pixel stripes)."""
    labels = np.repeat((np.arange(256) // 8)[None], 256, 0).astype(np.int64)
    image = np.stack([labels * 8.0] * 3).astype(np.float32)
    return MaskPairs([image], [labels])


def _stripes(y: torch.Tensor) -> list[int]:
    """Distinct labels along each crop's middle row (a D4 element may have turned stripes into rows)."""
    mid = y.shape[-1] // 2
    return [max(len(set(c[mid].tolist())), len(set(c[:, mid].tolist()))) for c in y]


def test_without_scales_a_crop_is_the_image_at_its_own_size():
    config = SegTrainConfig(batch_size=6, crop=64)
    x, y = sample_batch(_pairs(), config, torch.Generator().manual_seed(0))
    assert x.shape == (6, 3, 64, 64) and y.shape == (6, 64, 64)
    assert all(n in (8, 9) for n in _stripes(y))  # 64 columns hold 8 stripes (9 when a crop starts mid-stripe)
    again = sample_batch(_pairs(), config, torch.Generator().manual_seed(0))
    assert torch.equal(again[1], y)


def test_scales_resample_what_a_crop_covers():
    pairs = _pairs()
    zoom_in = SegTrainConfig(batch_size=6, crop=64, scales=(2.0, 2.0))  # 32 pixels seen at 64
    _, y = sample_batch(pairs, zoom_in, torch.Generator().manual_seed(0))
    assert all(n in (4, 5) for n in _stripes(y))
    zoom_out = SegTrainConfig(batch_size=6, crop=64, scales=(0.5, 0.5))  # 128 pixels seen at 64
    x, y = sample_batch(pairs, zoom_out, torch.Generator().manual_seed(0))
    assert all(n in (16, 17) for n in _stripes(y))
    assert set(torch.unique(y).tolist()) <= set(range(32))  # labels stay labels (nearest), never blends
    assert x.shape == (6, 3, 64, 64)


def test_scales_are_drawn_within_the_range():
    config = SegTrainConfig(batch_size=64, crop=64, scales=(0.5, 2.0))
    _, y = sample_batch(_pairs(), config, torch.Generator().manual_seed(1))
    counts = _stripes(y)
    assert min(counts) >= 4 and max(counts) <= 17 and len(set(counts)) > 4  # spread over the range


@pytest.mark.parametrize("scales", [(2.0, 1.0), (0.1, 1.0), (1.0, 5.0)])
def test_bad_scale_ranges_are_refused(scales):
    with pytest.raises(RsvisionError, match="scales"):
        SegTrainConfig(scales=scales)
