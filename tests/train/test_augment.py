import numpy as np
import pytest
import torch

from rsvision.models.tta import d4_transform
from rsvision.train.augment import band_gain, colour_jitter, crop_resize, random_boxes, random_d4, random_resized_crop

torch.set_num_threads(1)


def numpy_d4(a, k):
    out = np.rot90(a, k % 4, axes=(-2, -1))
    return out[..., ::-1] if k >= 4 else out


def test_d4_matches_numpy_and_is_the_dihedral_group():
    x = torch.arange(2 * 5 * 5, dtype=torch.float32).reshape(2, 5, 5)
    views = [d4_transform(x, k) for k in range(8)]
    for k in range(8):
        np.testing.assert_array_equal(views[k].numpy(), numpy_d4(x.numpy(), k))
    # 8 distinct images, each a permutation of the pixels
    assert len({tuple(v.flatten().tolist()) for v in views}) == 8
    assert all(sorted(v.flatten().tolist()) == sorted(x.flatten().tolist()) for v in views)
    # closed under composition, every element has an inverse, four rotations are the identity
    keys = {tuple(v.flatten().tolist()): k for k, v in enumerate(views)}
    for a in range(8):
        assert any(torch.equal(d4_transform(d4_transform(x, a), b), x) for b in range(8))
        for b in range(8):
            assert tuple(d4_transform(d4_transform(x, a), b).flatten().tolist()) in keys
    assert torch.equal(d4_transform(d4_transform(x, 1), 1), d4_transform(x, 2))
    # a quarter turn is counter-clockwise: the top-right pixel comes to the top-left
    assert d4_transform(x, 1)[0, 0, 0] == x[0, 0, -1]
    with pytest.raises(ValueError):
        d4_transform(x, 8)


def test_random_d4_applies_the_drawn_element_per_image():
    batch = torch.rand(16, 3, 6, 6)
    out, ks = random_d4(batch, torch.Generator().manual_seed(0))
    for image, k, result in zip(batch, ks, out):
        assert torch.equal(result, d4_transform(image, int(k)))
    assert len(set(ks.tolist())) > 3


def test_random_boxes_respect_scale_ratio_and_bounds():
    g = torch.Generator().manual_seed(0)
    boxes = random_boxes(2000, 150, 150, (0.35, 1.0), (3 / 4, 4 / 3), g).double()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= 150 + 1e-3).all() and (boxes[:, 3] <= 150 + 1e-3).all()
    area = w * h / 150**2
    assert area.min() >= 0.35 * 0.75 - 1e-6 and area.max() <= 1.0 + 1e-6  # clamping only shrinks
    ratio = (w / h)[(w < 149.9) & (h < 149.9)]
    assert ratio.min() >= 3 / 4 - 1e-4 and ratio.max() <= 4 / 3 + 1e-4


def test_crop_resize_samples_the_box():
    # a linear ramp resampled from any box is the ramp over that box (bilinear is exact on it)
    ramp = torch.arange(40, dtype=torch.float32).repeat(1, 1, 40, 1)
    out = crop_resize(ramp, torch.tensor([[10.0, 0.0, 30.0, 40.0]]), 10)
    np.testing.assert_allclose(out[0, 0, 0].numpy(), 10.5 + 2 * np.arange(10), atol=1e-4)
    const = torch.full((2, 3, 20, 20), 7.0)
    assert torch.allclose(random_resized_crop(const, 8, (0.3, 1), (0.75, 1.33), torch.Generator()), torch.tensor(7.0))


def test_colour_jitter():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, 3, 10, 10) * 255
    assert torch.equal(colour_jitter(x, 0.0, g, 255), x)
    out = colour_jitter(x.clone(), 0.4, g, 255)
    assert out.min() >= 0 and out.max() <= 255 and not torch.allclose(out, x)
    grey = torch.full((1, 3, 4, 4), 100.0)  # no contrast, no saturation: only brightness acts
    y = colour_jitter(grey.clone(), 0.4, torch.Generator().manual_seed(1), 255)
    assert torch.allclose(y, y[0, 0, 0, 0]) and 60 <= float(y[0, 0, 0, 0]) <= 140


def test_band_gain_scales_each_band_of_each_image_on_its_own():
    x = torch.full((4, 13, 6, 6), 1000.0)
    assert torch.equal(band_gain(x, 0.0, torch.Generator(), 10000), x)
    out = band_gain(x.clone(), 0.1, torch.Generator().manual_seed(0), 10000)
    gains = out[:, :, 0, 0] / 1000
    assert torch.allclose(out, gains[:, :, None, None] * 1000)  # one factor per band, the same over the pixels
    assert gains.min() >= 0.9 and gains.max() <= 1.1 and len(torch.unique(gains)) == 4 * 13
    assert band_gain(torch.full((1, 2, 3, 3), 9990.0), 0.5, torch.Generator(), 10000).max() <= 10000
