"""Ensembles: the mean of the members' class probabilities (classifiers, segmenters), RetinaNet heads averaged per
anchor, ``-m A+B`` joined on the fly and written as one file that loads back to the same network; members that
cannot form one model refused in one line."""

import pytest
import torch
from torch import nn

from rsvision.errors import WeightsError
from rsvision.models.ensemble import BoxEnsemble, ProbabilityEnsemble, combine
from rsvision.models.preprocess import Preprocessing
from rsvision.models.registry import build_model
from rsvision.models.resolve import resolve_model
from rsvision.models.weights import Task, save_weights

torch.set_num_threads(1)

PREP = Preprocessing(
    bands=["red", "green", "blue"], scale=255.0, value_range=(0, 255), mean=[0.5] * 3, std=[0.25] * 3, input_size=64
)
UNET = {"encoder": "resnet18", "encoder_depth": 3, "decoder_channels": [16, 8, 8]}
RETINANET = {"backbone": "resnet18", "channels": 32}


def _save(folder, name, arch, kwargs, seed, task=Task.SEGMENTATION, classes=("water", "land"), prep=PREP):
    torch.manual_seed(seed)
    net = build_model(arch, len(classes), **kwargs)
    with torch.no_grad():  # untrained members barely differ: give them opinions of their own
        if arch == "retinanet":  # its class head starts at a prior of 0.01 everywhere, under the score threshold
            net.head.classification_head.cls_logits.bias.normal_(0.0, 2.0)
        else:
            for p in net.parameters():
                p.add_(0.05 * torch.randn_like(p))
    save_weights(
        net,
        folder,
        name,
        task=task,
        architecture=arch,
        architecture_kwargs=kwargs,
        preprocessing=prep,
        classes=list(classes),
        licence="test",
        command="test",
    )
    return str(folder / f"{name}.safetensors")


def test_segmenters_average_their_probabilities(tmp_path):
    a, b = (_save(tmp_path, n, "unet", UNET, seed) for n, seed in (("a", 0), ("b", 1)))
    joined = resolve_model(f"{a}+{b}", Task.SEGMENTATION)
    members = [resolve_model(p).module for p in (a, b)]
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        mean = torch.stack([torch.softmax(m(x), 1) for m in members]).mean(0)
        got = torch.softmax(joined.module(x), 1)
    assert isinstance(joined.module, ProbabilityEnsemble)
    assert torch.allclose(got, mean, atol=1e-5)
    assert not torch.allclose(got, torch.softmax(members[0](x), 1), atol=1e-3)  # the members disagree
    assert joined.weights.architecture == "ensemble" and joined.weights.classes == ["water", "land"]
    assert [m["name"] for m in joined.weights.notes["members"]] == ["a", "b"]


def _detections(module, images):
    with torch.no_grad():
        return module([im.clone() for im in images])


def _same(x: dict, y: dict, atol: float) -> bool:
    """The same boxes with the same scores, in whatever order (near-equal scores may swap places)."""
    if len(x["scores"]) != len(y["scores"]):
        return False
    keyed = [torch.cat([d["boxes"], 1e3 * d["labels"][:, None].float()], 1) for d in (x, y)]  # a box per class
    nearest = torch.cdist(*keyed, p=float("inf")).argmin(1)
    return torch.allclose(x["boxes"], y["boxes"][nearest], atol=atol) and torch.allclose(
        x["scores"], y["scores"][nearest], atol=atol
    )


def test_detectors_fuse_their_boxes_and_one_member_twice_is_itself(tmp_path):
    a, b = (_save(tmp_path, n, "retinanet", RETINANET, s, Task.DETECTION) for n, s in (("a", 0), ("b", 1)))
    single = resolve_model(a).module
    twice = resolve_model(f"{a}+{a}").module
    assert isinstance(twice, BoxEnsemble)
    images = [torch.randn(3, 96, 96), torch.randn(3, 64, 80)]
    for own, joined in zip(_detections(single, images), _detections(twice, images)):
        area = (own["boxes"][:, 2] - own["boxes"][:, 0]) * (own["boxes"][:, 3] - own["boxes"][:, 1])
        own = {k: v[area > 0] for k, v in own.items()}  # boxes clipped to nothing are left out of a fusion
        assert len(own["boxes"]) > 0
        assert _same(own, joined, 1e-3)
    # fusion is symmetric: A+B and B+A find the same boxes with the same scores, and not A's own
    ab, ba = (_detections(resolve_model(s).module, images) for s in (f"{a}+{b}", f"{b}+{a}"))
    for x, y, own in zip(ab, ba, _detections(single, images)):
        assert _same(x, y, 1e-3)
        assert not _same(x, own, 1e-3)


def test_a_saved_ensemble_loads_back_as_the_same_network_and_adapts_to_other_bands(tmp_path):
    a, b = (_save(tmp_path, n, "unet", UNET, seed) for n, seed in (("a", 0), ("b", 1)))
    joined = resolve_model(f"{a}+{b}")
    from rsvision.models.ensemble import save_ensemble

    record = save_ensemble(joined.weights, joined.module, tmp_path, "ab", metrics=[])
    loaded = resolve_model(str(record.weights_path), Task.SEGMENTATION)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(loaded.module(x), joined.module(x), atol=1e-5)
    four = build_model(
        "ensemble",
        2,
        ["red", "green", "blue", "nir"],
        source_bands=record.bands,
        source_state=record.state_dict(),
        **record.architecture_kwargs,
    )
    assert [m.encoder.conv1.in_channels for m in four.members] == [4, 4]


def test_members_that_cannot_form_one_model_are_refused(tmp_path):
    a = _save(tmp_path, "a", "unet", UNET, 0)
    other_classes = _save(tmp_path, "c", "unet", UNET, 0, classes=("road", "building"))
    detector = _save(tmp_path, "d", "retinanet", RETINANET, 0, Task.DETECTION)
    with pytest.raises(WeightsError, match="their classes differ"):
        resolve_model(f"{a}+{other_classes}")
    with pytest.raises(WeightsError, match="their tasks differ"):
        resolve_model(f"{a}+{detector}")
    with pytest.raises(WeightsError, match="is a segmentation model; detect needs a detection model"):
        resolve_model(f"{a}+{a}", Task.DETECTION, "detect")
    oriented = build_model("rotated_fcos", 2, backbone="resnet18", channels=32, head_convs=1)
    with pytest.raises(WeightsError, match="horizontal boxes only"):
        combine([oriented, oriented])
    with pytest.raises(WeightsError, match="detectors with detectors only"):
        combine([build_model("retinanet", 2, **RETINANET), build_model("unet", 2, **UNET)])


def test_members_of_other_band_statistics_read_their_own_normalisation_joined_and_saved(tmp_path):
    """Members trained on other images (a cross-validation ensemble) join: fed the first member's normalisation,
    each other member sees its own, on the fly, saved and loaded back, and nested in a further ensemble."""
    other_prep = PREP.model_copy(update={"mean": [0.40, 0.50, 0.60], "std": [0.20, 0.25, 0.30]})
    third_prep = PREP.model_copy(update={"mean": [0.45] * 3, "std": [0.35] * 3})
    a = _save(tmp_path, "a", "unet", UNET, 0)
    other = _save(tmp_path, "o", "unet", UNET, 1, prep=other_prep)
    third = _save(tmp_path, "t", "unet", UNET, 2, prep=third_prep)
    x = torch.randn(2, 3, 64, 64)  # normalised by a's statistics
    raw = x * 0.25 + 0.5

    def own(path, prep):  # a member alone, fed the same pixels under its own normalisation
        mean, std = (torch.tensor(v).view(1, -1, 1, 1) for v in (prep.mean, prep.std))
        with torch.no_grad():
            return torch.softmax(resolve_model(path).module((raw - mean) / std), 1)

    expected = (own(a, PREP) + own(other, other_prep)) / 2
    joined = resolve_model(f"{a}+{other}")
    from rsvision.models.ensemble import save_ensemble

    saved = save_ensemble(joined.weights, joined.module, tmp_path, "ao", metrics=[])
    loaded = resolve_model(str(saved.weights_path))
    nested = resolve_model(f"{third}+{saved.weights_path}")  # fed the third's normalisation now
    with torch.no_grad():
        assert torch.allclose(torch.softmax(joined.module(x), 1), expected, atol=1e-5)
        assert torch.allclose(torch.softmax(loaded.module(x), 1), expected, atol=1e-5)
        got = torch.softmax(nested.module((raw - 0.45) / 0.35), 1)
    assert not torch.allclose(expected, (own(a, PREP) + own(other, PREP)) / 2, atol=1e-3)  # the mapping matters
    assert torch.allclose(got, (own(third, third_prep) + own(a, PREP) + own(other, other_prep)) / 3, atol=1e-5)
    noise = _save(tmp_path, "n", "unet", UNET, 1, prep=PREP.model_copy(update={"mean": [0.5 + 1e-10] * 3}))
    assert "renormalise" not in resolve_model(f"{a}+{noise}").weights.architecture_kwargs["members"][1]
    with pytest.raises(WeightsError, match="normalised apart cannot be adapted"):
        build_model(
            "ensemble",
            2,
            ["red", "green", "blue", "nir"],
            source_bands=saved.bands,
            source_state=saved.state_dict(),
            **saved.architecture_kwargs,
        )


def test_change_members_of_other_band_statistics_map_both_dates(tmp_path):
    """A change model reads both dates' bands stacked: each date's bands get the member's own normalisation."""
    small = {"encoder": "resnet18", "encoder_depth": 3, "decoder_channels": [16, 8, 8]}
    other_prep = PREP.model_copy(update={"mean": [0.40, 0.50, 0.60], "std": [0.20, 0.25, 0.30]})
    a, other = (
        _save(tmp_path, n, "siamese_unet", small, seed, Task.CHANGE, ("no change", "change"), prep)
        for n, seed, prep in (("a", 0, PREP), ("o", 1, other_prep))
    )
    raw = torch.rand(1, 6, 64, 64)
    mean, std = (torch.tensor(v * 2).view(1, -1, 1, 1) for v in (other_prep.mean, other_prep.std))
    with torch.no_grad():
        own = (
            torch.softmax(resolve_model(a).module((raw - 0.5) / 0.25), 1)
            + torch.softmax(resolve_model(other).module((raw - mean) / std), 1)
        ) / 2
        got = torch.softmax(resolve_model(f"{a}+{other}").module((raw - 0.5) / 0.25), 1)
    assert torch.allclose(got, own, atol=1e-5)


def test_detectors_of_other_band_statistics_are_refused(tmp_path):
    a = _save(tmp_path, "a", "retinanet", RETINANET, 0, Task.DETECTION)
    other = _save(
        tmp_path, "o", "retinanet", RETINANET, 1, Task.DETECTION, prep=PREP.model_copy(update={"mean": [0.4] * 3})
    )
    with pytest.raises(WeightsError, match="detectors must share band statistics"):
        resolve_model(f"{a}+{other}")


class Fixed(nn.Module):
    """Detections given in advance, whatever the image."""

    def __init__(self, boxes, scores, labels):
        super().__init__()
        self.out = {
            "boxes": torch.tensor(boxes).reshape(-1, 4),
            "scores": torch.tensor(scores),
            "labels": torch.tensor(labels),
        }

    def forward(self, images):
        return [dict(self.out) for _ in images]


def test_fusion_weights_corners_by_score_and_averages_scores_over_members():
    a = Fixed([[10.0, 10.0, 30.0, 30.0], [60.0, 60.0, 80.0, 80.0]], [0.8, 0.6], [0, 0])
    b = Fixed([[12.0, 10.0, 32.0, 30.0], [60.0, 60.0, 80.0, 80.0]], [0.4, 0.9], [0, 1])
    (out,) = BoxEnsemble([a, b], fusion_iou=0.55).eval()([torch.zeros(3, 100, 100)])
    rows = {
        (int(lab), round(float(s), 4)): box.tolist() for box, s, lab in zip(out["boxes"], out["scores"], out["labels"])
    }
    # the overlapping pair (IoU 0.82): corners weighted 0.8 : 0.4, score the mean of 0.8 and 0.4
    assert rows[(0, 0.6)] == pytest.approx([10 + 2 * 0.4 / 1.2, 10, 30 + 2 * 0.4 / 1.2, 30], abs=1e-3)
    # one box per class elsewhere, each found by one member of two: its score halved
    assert rows[(0, 0.3)] == pytest.approx([60, 60, 80, 80], abs=1e-3)
    assert rows[(1, 0.45)] == pytest.approx([60, 60, 80, 80], abs=1e-3)
    assert len(rows) == 3
    empty = Fixed([], [], [])
    (alone,) = BoxEnsemble([a, empty]).eval()([torch.zeros(3, 100, 100)])
    assert sorted(alone["scores"].tolist()) == pytest.approx([0.3, 0.4])
