"""Siamese change networks: two dates stacked along the channels in, change logits out; difference fusion is
symmetric in the dates; the encoder takes a classifier's tensors and its first convolution adapts to other bands;
Daudt et al.'s FC-Siam-diff has its published size and learns a planted change from scratch."""

import numpy as np
import pytest
import torch

from rsvision.errors import RsvisionError
from rsvision.models.registry import build_model
from rsvision.models.segmentation import encoder_state_from_classifier
from rsvision.models.stem import adapt_stem, first_conv

S2 = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]
SMALL = {"encoder": "resnet18", "encoder_depth": 3, "decoder_channels": [32, 16, 8]}


@pytest.mark.parametrize("fusion", ["diff", "concat"])
def test_two_dates_in_change_logits_out(fusion):
    model = build_model("siamese_unet", 2, ["B02", "B03", "B04", "B08"], fusion=fusion, **SMALL).eval()
    assert first_conv(model).in_channels == 4  # one date's bands: the encoder is shared
    with torch.no_grad():
        out = model(torch.randn(2, 8, 64, 64))
    assert out.shape == (2, 2, 64, 64)


def test_difference_fusion_is_symmetric_and_blind_to_no_change():
    torch.manual_seed(0)
    model = build_model("siamese_unet", 2, ["red", "green", "blue"], **SMALL).eval()
    a, b = torch.randn(1, 3, 64, 64), torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        forward, backward = model(torch.cat([a, b], 1)), model(torch.cat([b, a], 1))
        same = model(torch.cat([a, a], 1)), model(torch.cat([b, b], 1))
    assert torch.allclose(forward, backward, atol=1e-5)
    assert torch.allclose(*same, atol=1e-5)  # identical dates: the fused features are all zero, whatever the image


def test_an_odd_channel_count_is_refused():
    model = build_model("siamese_unet", 2, ["red", "green", "blue"], **SMALL)
    with pytest.raises(RsvisionError, match="two dates of equal band count"):
        model(torch.randn(1, 5, 64, 64))


def test_an_upsampled_network_reads_the_pair_at_twice_its_size_and_answers_on_its_pixels():
    torch.manual_seed(0)
    model = build_model("siamese_unet", 2, ["red", "green", "blue"], upsample=2, **SMALL).eval()
    x = torch.randn(1, 6, 64, 64)
    with torch.no_grad():
        out = model(x)
        model.upsample = 1
        by_hand = torch.nn.functional.avg_pool2d(
            model(torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear")), 2
        )
        plain = model(x)
    assert out.shape == (1, 2, 64, 64)
    assert torch.allclose(out, by_hand, atol=1e-5)
    assert not torch.allclose(out, plain, atol=1e-3)


@pytest.mark.parametrize("factor", [0, 1.5])
def test_an_upsampling_factor_that_is_not_whole_is_refused(factor):
    with pytest.raises(RsvisionError, match="whole factor"):
        build_model("siamese_unet", 2, ["red"], upsample=factor, **SMALL)


def test_unknown_fusion_is_refused():
    with pytest.raises(RsvisionError, match="unknown fusion"):
        build_model("siamese_unet", 2, ["red"], fusion="sum", **SMALL)


def test_encoder_from_a_classifier_then_adapted_to_thirteen_bands():
    classifier = build_model("timm:efficientnet_lite0", 30, ["red", "green", "blue"])
    model = build_model("siamese_unet", 2, ["red", "green", "blue"], encoder="tu-efficientnet_lite0")
    assert encoder_state_from_classifier(model, classifier.state_dict()) > 200
    stem = classifier.conv_stem.weight.detach().clone()
    adapt_stem(model, ["red", "green", "blue"], S2)
    weight = first_conv(model).weight.detach()
    assert weight.shape[1] == 13
    # B04 (red) inherits the red filter, scaled by 3/13 so normalised inputs keep their activation scale
    assert torch.allclose(weight[:, 3], stem[:, 0] * 3 / 13, atol=1e-6)
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 26, 64, 64)).shape == (1, 2, 64, 64)


def test_fc_siam_diff_is_daudts_size_and_takes_one_dates_bands():
    model = build_model("fc_siam_diff", 2, S2).eval()
    assert first_conv(model).in_channels == 13  # the encoder is shared by both dates
    assert sum(p.numel() for p in model.parameters()) == 1_351_586  # Daudt et al. report 1.35 M
    with torch.no_grad():
        assert model(torch.randn(2, 26, 48, 80)).shape == (2, 2, 48, 80)
    with pytest.raises(RsvisionError, match="two dates of equal band count"):
        model(torch.randn(1, 25, 48, 48))


def _planted_pairs(n: int, side: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` noisy scenes whose second date gains a bright square somewhere; the square is the change."""
    before = rng.normal(0, 0.3, size=(n, 3, side, side)).astype(np.float32)
    after = before + rng.normal(0, 0.3, size=before.shape).astype(np.float32)
    truth = np.zeros((n, side, side), np.int64)
    for i, (y, x) in enumerate(rng.integers(0, side - 8, size=(n, 2))):
        after[i, :, y : y + 6, x : x + 6] += 2.0
        truth[i, y : y + 6, x : x + 6] = 1
    return torch.from_numpy(np.concatenate([before, after], 1)), torch.from_numpy(truth)


def test_fc_siam_diff_learns_a_planted_change_from_scratch():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = build_model("fc_siam_diff", 2, ["red", "green", "blue"])
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    weights = torch.tensor([1.0, 10.0])
    for _ in range(40):
        pairs, truth = _planted_pairs(8, 32, rng)
        loss = torch.nn.functional.cross_entropy(model(pairs), truth, weight=weights)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    pairs, truth = _planted_pairs(16, 32, rng)
    with torch.no_grad():
        called = model.eval()(pairs).argmax(1)
    hits = (called & truth).sum().item()
    f1 = 2 * hits / (called.sum().item() + truth.sum().item())
    assert f1 > 0.8, f1
