"""Segmentation training: scale augmentation resamples what a crop covers, labels stay labels, and runs without it
keep their random stream (and old checkpoints); class-balanced crops hold rare classes; a run averaging its last
epochs ends with their mean weights."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from rsvision.errors import RsvisionError
from rsvision.models.preprocess import Preprocessing
from rsvision.models.registry import RGB, build_model
from rsvision.train.segmentation import MaskPairs, SegTrainConfig, fit_segmenter, sample_batch

PREP = Preprocessing(bands=RGB, scale=255.0, value_range=(0, 255), mean=[0.5] * 3, std=[0.2] * 3, input_size=64)


def _pairs():
    """One 256 x 256 image whose labels are the column index // 8 (32 classes of 8-pixel stripes)."""
    labels = np.repeat((np.arange(256) // 8)[None], 256, 0).astype(np.int64)
    image = np.stack([labels * 8.0] * 3).astype(np.float32)
    return MaskPairs([image], [labels])


def _tiny_unet():
    return build_model("unet", 2, RGB, encoder="resnet18", encoder_depth=3, decoder_channels=[16, 8, 8])


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


def test_dice_of_every_class_is_added_to_the_cross_entropy():
    """``dice_all``: cross-entropy plus smp's multiclass Dice (unlabeled pixels skipped by both); a perfect
    prediction has a Dice loss near 0 and a wrong one near 1 in every class."""
    from rsvision.train.segmentation import segmentation_loss

    target = torch.tensor([[[0, 1], [2, 255]]])
    right = torch.nn.functional.one_hot(torch.tensor([[[0, 1], [2, 0]]]), 3).permute(0, 3, 1, 2).float() * 20
    wrong = right.roll(1, dims=1)
    ce_only, dice = SegTrainConfig(), SegTrainConfig(dice=1.0, dice_all=True)
    for logits, dice_loss in ((right, 0.0), (wrong, 1.0)):
        plain = segmentation_loss(logits, target, 255, ce_only)
        assert segmentation_loss(logits, target, 255, dice) - plain == pytest.approx(dice_loss, abs=1e-3)
    last_only = SegTrainConfig(dice=1.0)  # the change models' Dice, of the last class alone, is unchanged
    assert segmentation_loss(wrong, target, 255, last_only) != segmentation_loss(wrong, target, 255, dice)


def test_a_checkpoint_from_before_a_new_setting_resumes(tmp_path):
    """A checkpoint saved before a field existed ran at that field's default: it resumes under the default, and is
    refused under another value."""
    pairs = MaskPairs([np.zeros((3, 64, 64), np.float32)], [np.zeros((64, 64), np.int64)])
    model = _tiny_unet()
    config = SegTrainConfig(epochs=1, steps=1, batch_size=1, crop=32)

    def fit(config):
        return fit_segmenter(model, PREP, pairs, pairs, ["a", "b"], config, tmp_path, False, lambda _: None)

    first = fit(config)
    saved = torch.load(tmp_path / "last.pt", weights_only=False)
    del saved["config"]["dice_all"]  # as a checkpoint made before the field
    torch.save(saved, tmp_path / "last.pt")
    assert fit(config).history == first.history  # resumed: nothing left to train
    with pytest.raises(RsvisionError, match="other settings"):
        fit(replace(config, dice=1.0, dice_all=True))


def test_average_last_ends_with_the_mean_of_the_last_epochs_weights(tmp_path):
    """SWA: the run's weights are the mean of those after each of its last N epochs, its batch norms recomputed for
    them (not any epoch's), and a finished run resumed gives the same model."""
    labels = (np.arange(64)[None].repeat(64, 0) >= 32).astype(np.int64)
    pairs = MaskPairs([np.stack([labels * 200.0] * 3).astype(np.float32)], [labels])
    config = SegTrainConfig(epochs=3, steps=2, batch_size=2, crop=32, average_last=2)

    def fit():
        torch.manual_seed(0)
        model = _tiny_unet()
        states = []

        def log(line):
            if line.startswith("epoch"):
                states.append({k: v.clone() for k, v in model.state_dict().items()})

        result = fit_segmenter(model, PREP, pairs, pairs, ["a", "b"], config, tmp_path, False, log)
        return model, states, result

    model, states, result = fit()
    assert len(states) == 3 and result.averaged_miou is not None
    final = model.state_dict()
    for name, _ in model.named_parameters():
        assert torch.allclose(final[name], (states[1][name] + states[2][name]) / 2, atol=1e-6), name
    norms = [k for k in final if k.endswith("running_mean") and not torch.equal(states[1][k], states[2][k])]
    assert norms and not any(torch.equal(final[k], states[2][k]) for k in norms)  # those the forward pass uses
    resumed, states_again, _ = fit()
    assert not states_again  # nothing left to train
    assert all(torch.equal(v, resumed.state_dict()[k]) for k, v in final.items())


def test_average_last_beyond_the_epochs_is_refused():
    with pytest.raises(RsvisionError, match="average_last"):
        SegTrainConfig(epochs=4, average_last=5)


def test_class_balanced_crops_hold_a_rare_class_as_often_as_a_common_one():
    """A 4 x 4 patch of class 1 in a 256-pixel image of class 0: crops drawn anywhere rarely hold it; class-balanced
    crops hold it whenever class 1 is drawn (about half the time); the per-image class counts leave nothing out."""
    labels = np.zeros((256, 256), np.int64)
    labels[200:204, 30:34] = 1
    pairs = MaskPairs([np.zeros((3, 256, 256), np.float32)], [labels])
    config = SegTrainConfig(batch_size=64, crop=32)

    def share(config):
        _, y = sample_batch(pairs, config, torch.Generator().manual_seed(0))
        return float((y == 1).flatten(1).any(1).float().mean())

    assert share(config) < 0.15
    assert 0.35 < share(replace(config, class_balanced=True)) < 0.65
    assert pairs.class_pixels.tolist() == [[256 * 256 - 16, 16]]


def test_encoder_lr_moves_the_encoder_at_its_share_of_the_rate(tmp_path):
    """One AdamW step (its first moves each weight by about the rate): with ``encoder_lr=0.1`` the encoder's
    weights move a tenth as far as with one rate for all, the decoder's as far."""
    labels = (np.arange(64)[None].repeat(64, 0) >= 32).astype(np.int64)
    pairs = MaskPairs([np.stack([labels * 200.0] * 3).astype(np.float32)], [labels])

    def moved(share: float, tmp) -> tuple[float, float]:
        torch.manual_seed(0)
        model = _tiny_unet()
        before = {k: v.clone() for k, v in model.named_parameters()}
        config = SegTrainConfig(epochs=1, steps=1, batch_size=2, crop=32, warmup_epochs=0, encoder_lr=share)
        fit_segmenter(model, PREP, pairs, pairs, ["a", "b"], config, tmp, False, lambda _: None)
        after = dict(model.named_parameters())
        step = {k: float((after[k].detach() - before[k]).abs().max()) for k in before}
        return max(v for k, v in step.items() if k.startswith("encoder.")), max(
            v for k, v in step.items() if not k.startswith("encoder.")
        )

    (tmp_path / "one").mkdir()
    (tmp_path / "slow").mkdir()
    encoder_one, decoder_one = moved(1.0, tmp_path / "one")
    encoder_slow, decoder_slow = moved(0.1, tmp_path / "slow")
    assert encoder_slow == pytest.approx(0.1 * encoder_one, rel=0.05)
    assert decoder_slow == pytest.approx(decoder_one, rel=1e-4)


def test_encoder_lr_on_a_network_without_an_encoder_is_refused(tmp_path):
    pairs = MaskPairs([np.zeros((3, 32, 32), np.float32)], [np.zeros((32, 32), np.int64)])
    config = SegTrainConfig(epochs=1, steps=1, batch_size=1, crop=32, encoder_lr=0.1)
    with pytest.raises(RsvisionError, match="encoder_lr applies to a network with an encoder; Conv2d has none"):
        fit_segmenter(torch.nn.Conv2d(3, 2, 1), PREP, pairs, pairs, ["a", "b"], config, tmp_path, False, print)


@pytest.mark.parametrize("share", [0.0, 1.5])
def test_encoder_lr_outside_its_range_is_refused(share):
    with pytest.raises(RsvisionError, match="encoder_lr"):
        SegTrainConfig(encoder_lr=share)


def _change_pair() -> MaskPairs:
    """A two-date image (2 x 2 bands) of 256 x 256 with one 8 x 8 change patch: value 50 in both dates there, 0
    elsewhere, so every pasted pixel can be told from the receiver's own."""
    image = np.zeros((4, 256, 256), np.float32)
    labels = np.zeros((256, 256), np.int64)
    labels[100:108, 60:68] = 1
    image[:, 100:108, 60:68] = 50.0
    return MaskPairs([image], [labels])


def test_change_paste_puts_the_change_pixels_into_both_dates_labelled_change():
    """With ``change_paste=1`` every crop holds change (the donor crop is drawn around a change pixel), and exactly
    the pixels labelled change are 50 in all four bands: the donor's values went into both dates where its label
    went, and nothing else was touched."""
    config = SegTrainConfig(batch_size=16, crop=32, dates=2, change_paste=1.0)
    x, y = sample_batch(_change_pair(), config, torch.Generator().manual_seed(0))
    for image, labels in zip(x, y):
        assert 0 < int((labels == 1).sum()) <= 128
        assert torch.equal(image == 50.0, (labels == 1)[None].expand_as(image))


def test_without_change_paste_crops_keep_their_random_stream():
    """``change_paste=0`` draws nothing more: the crops are those of a config that never heard of it."""
    pair, config = _change_pair(), SegTrainConfig(batch_size=16, crop=32, dates=2)
    before = sample_batch(pair, config, torch.Generator().manual_seed(3))
    after = sample_batch(pair, replace(config, change_paste=0.0), torch.Generator().manual_seed(3))
    pasted = sample_batch(pair, replace(config, change_paste=1.0), torch.Generator().manual_seed(3))
    assert all(torch.equal(a, b) for a, b in zip(before, after))
    assert int((pasted[1] == 1).sum()) > int((before[1] == 1).sum())


@pytest.mark.parametrize("chance, dates", [(1.5, 2), (-0.1, 2), (0.5, 1)])
def test_change_paste_outside_a_chance_or_for_one_date_is_refused(chance, dates):
    with pytest.raises(RsvisionError, match="change_paste"):
        SegTrainConfig(change_paste=chance, dates=dates)
