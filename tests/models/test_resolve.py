"""Resolving -m MODEL for any task: the forms NAME, path and KIND:ARCH:PATH, a registry that takes new kinds
without touching the parser, the task check with its one-line refusal, and Task on cards."""

import json
import re

import pytest
import torch

from rsvision.errors import InputNotFoundError, WeightsError
from rsvision.models import resolve
from rsvision.models.preprocess import Preprocessing
from rsvision.models.registry import build_model
from rsvision.models.resolve import LoadedModel, ModelSpec, parse_model_spec, register_loader, resolve_model
from rsvision.models.weights import Task, Weights

torch.set_num_threads(1)


@pytest.fixture
def weights(tmp_path, tiny_classifier):
    (tmp_path / "w").mkdir()
    return tiny_classifier(tmp_path / "w")


def test_forms_are_parsed(weights):
    assert parse_model_spec("aid_resnet18w05") == ModelSpec("aid_resnet18w05")
    assert parse_model_spec(weights) == ModelSpec(str(weights))
    spec = parse_model_spec("timm:resnet18:/data/ck:pt.pth")  # the path may hold colons
    assert (spec.kind, spec.arch, str(spec.path)) == ("timm", "resnet18", "/data/ck:pt.pth")
    with pytest.raises(WeightsError, match=r"^-m torchgeo:resnet18: third-party checkpoints are named torchgeo:ARCH:"):
        parse_model_spec("torchgeo:resnet18")
    with pytest.raises(WeightsError, match=r"unknown checkpoint kind 'clip' \(known: .*timm, torchgeo\)"):
        parse_model_spec("clip:ViT-B-32:/x.pt")


def test_a_weights_file_resolves_to_its_card_and_network(weights):
    for path in (weights, weights.with_suffix(".json")):
        loaded = resolve_model(path, Task.CLASSIFICATION)
        assert isinstance(loaded, LoadedModel) and loaded.weights.name == "tiny"
        assert not loaded.module.training and loaded.module.fc.out_features == 3
    with pytest.raises(InputNotFoundError, match="unknown model 'nothing'"):
        resolve_model("nothing")


def test_a_new_kind_needs_no_parser_change(tmp_path, weights):
    card = Weights.load(weights)
    calls = []

    def load_fake(spec):
        calls.append(spec)
        return LoadedModel(card.model_copy(update={"task": Task.EMBEDDING}), torch.nn.Identity())

    try:
        register_loader("fakeclip")(load_fake)
        loaded = resolve_model("fakeclip:ViT-B-32:/some/file.pt", task=(Task.EMBEDDING, Task.CLASSIFICATION))
        assert loaded.weights.task == Task.EMBEDDING and calls[0].arch == "ViT-B-32"
        with pytest.raises(WeightsError, match="already registered"):
            register_loader("fakeclip")(load_fake)
        refusal = r"^-m fakeclip:a:b is an embedding model; classify needs a classification model$"
        with pytest.raises(WeightsError, match=refusal):
            resolve_model("fakeclip:a:b", Task.CLASSIFICATION, needed_by="classify")
    finally:
        resolve.LOADERS.pop("fakeclip", None)


def _segmentation_card(weights, tmp_path, with_file=True):
    card = json.loads(weights.with_suffix(".json").read_text())
    card.update(name="seg", task="segmentation")
    folder = tmp_path / ("seg" if with_file else "seg_nofile")
    folder.mkdir()
    if with_file:
        (folder / card["file"]).write_bytes(weights.read_bytes())
    (folder / "seg.json").write_text(json.dumps(card))
    return folder / "seg.json"


def test_the_task_is_checked_before_the_network_is_built(weights, tmp_path):
    seg = _segmentation_card(weights, tmp_path)
    refusal = rf"^-m {re.escape(str(seg))} is a segmentation model; classify needs a classification model$"
    with pytest.raises(WeightsError, match=refusal):
        resolve_model(seg, Task.CLASSIFICATION, needed_by="classify")
    assert resolve_model(seg, Task.SEGMENTATION).weights.task == Task.SEGMENTATION
    assert resolve_model(seg).weights.task == "segmentation"  # no task asked for: nothing checked
    # a card whose weights file is missing is refused for its task, not for the missing file: no tensors were read
    no_file = _segmentation_card(weights, tmp_path, with_file=False)
    with pytest.raises(WeightsError, match="segmentation model; eval probe needs a classification or embedding model"):
        resolve_model(no_file, (Task.CLASSIFICATION, Task.EMBEDDING), needed_by="eval probe")


def test_task_is_an_enumeration_stored_as_its_value(weights, tmp_path):
    card = Weights.load(weights)
    assert card.task is Task.CLASSIFICATION and card.task == "classification"
    assert json.loads(weights.with_suffix(".json").read_text())["task"] == "classification"
    assert {t.value for t in Task} == {
        "classification",
        "segmentation",
        "change",
        "detection",
        "embedding",
        "captioning",
        "vqa",
        "grounding",
    }
    text = json.loads(weights.with_suffix(".json").read_text())
    text["task"] = "colouring"
    (tmp_path / "bad.json").write_text(json.dumps(text))
    with pytest.raises(WeightsError, match=r"bad.json: invalid card \(task"):
        Weights.load(tmp_path / "bad.json")


def test_third_party_cards_carry_their_task(tmp_path):
    net = build_model(
        "resnet18",
        num_classes=0,
        bands=["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"],
        width=1.0,
    )
    torch.save(net.state_dict(), tmp_path / "s2.pth")
    loaded = resolve_model(f"torchgeo:resnet18:{tmp_path / 's2.pth'}")
    assert loaded.weights.task == Task.EMBEDDING and loaded.weights.classes == []
    prep = loaded.weights.preprocessing
    assert isinstance(prep, Preprocessing) and prep.scale == 10000 and prep.input_size == 224
