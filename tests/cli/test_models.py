"""`rsvision models`: built-in cards listed with architecture, bands, input size, classes and measured metrics."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from rsvision.models import (
    DEFAULT_CLASSIFIER,
    MeasuredMetrics,
    builtin_weights,
)
from rsvision.models.resolve import resolve_model
from rsvision.models.weights import Weights, sha256_file

torch.set_num_threads(1)


@pytest.fixture
def cards(tmp_path, monkeypatch, tiny_classifier):
    """A built-in folder holding one card, made here."""
    metrics = [
        MeasuredMetrics(
            dataset="AID",
            split="rsicd-test",
            values={"overall_accuracy": 0.9123, "average_accuracy": 0.9, "kappa": 0.9044},
        )
    ]
    tiny_classifier(
        tmp_path,
        "demo_net",
        classes=["a", "b"],
        input_size=48,
        gsd_m=1.5,
        metrics=metrics,
        licence="CC0",
        command="x",
        notes={"images_per_s_cpu": 321.0},
    )
    monkeypatch.setattr("rsvision.models.weights.BUILTIN_DIR", tmp_path)
    return tmp_path


def test_table(cards, capsys, run_cli):
    code, out, err = run_cli(capsys, "models")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "demo_net  classification  resnet18 width=0.125  bands red,green,blue  48 px at 1.5 m  2 classes"
    assert lines[1] == "    AID rsicd-test: overall_accuracy 0.9123, kappa 0.9044"
    assert "architectures for `rsvision train --arch`: see docs/models.md" in out


def test_json(cards, capsys, run_cli):
    code, out, _ = run_cli(capsys, "models", "--json")
    assert code == 0
    (record,) = json.loads(out)
    assert record["name"] == "demo_net" and record["classes"] == 2 and record["input_size"] == 48
    assert record["metrics"] == [
        {"dataset": "AID", "split": "rsicd-test", "overall_accuracy": 0.9123, "average_accuracy": 0.9, "kappa": 0.9044}
    ]
    assert record["images_per_s_cpu"] == 321.0 and record["file"].endswith("demo_net.safetensors")


def test_empty(tmp_path, monkeypatch, capsys, run_cli):
    monkeypatch.setattr("rsvision.models.weights.BUILTIN_DIR", tmp_path)
    code, out, _ = run_cli(capsys, "models")
    assert code == 0 and "no built-in weights are installed" in out


def test_shipped_aid_classifier_lists_its_metrics(capsys, run_cli):
    if DEFAULT_CLASSIFIER not in builtin_weights():
        pytest.skip(f"built-in weights {DEFAULT_CLASSIFIER} not trained yet")
    _, out, _ = run_cli(capsys, "models", "--json")
    record = next(r for r in json.loads(out) if r["name"] == DEFAULT_CLASSIFIER)
    test = next(m for m in record["metrics"] if m["split"] == "rsicd-test")
    assert 0.88 <= test["overall_accuracy"] <= 1 and record["classes"] == 30


def test_ensemble_writes_one_file_that_classifies_as_the_mean_of_its_members(
    tmp_path, capsys, run_cli, tiny_classifier, monkeypatch
):
    a = tiny_classifier(tmp_path, "a")
    b = tiny_classifier(tmp_path, "b")
    with torch.no_grad():  # the fixture seeds its network: make b another one
        state = {k: v + 0.1 * torch.randn_like(v) if v.is_floating_point() else v for k, v in load_file(b).items()}
    save_file(state, b)
    card = Weights.load(b)
    card.sha256 = sha256_file(b)
    card.save_card()
    out = tmp_path / "ab.safetensors"
    code, _, err = run_cli(capsys, "models", "--ensemble", f"{a}+{b}", "-o", out)
    assert code == 0, err
    assert "wrote" in err and "2 members" in err
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        mean = torch.stack([torch.softmax(resolve_model(p).module(x), 1) for p in (a, b)]).mean(0)
        assert torch.allclose(torch.softmax(resolve_model(out).module(x), 1), mean, atol=1e-5)
    assert Weights.load(out).architecture == "ensemble"
    monkeypatch.setattr("rsvision.models.weights.BUILTIN_DIR", tmp_path)
    code, listing, _ = run_cli(capsys, "models")
    assert "ab  classification  ensemble members=resnet18+resnet18  bands red,green,blue" in listing


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--ensemble", "A"], "give --ensemble A+B and -o OUT.safetensors together"),
        (["--ensemble", "{tmp}/a.safetensors", "-o", "{tmp}/x.safetensors"], "name two or more models joined by '+'"),
        (["--ensemble", "{tmp}/a.safetensors+{tmp}/b.safetensors", "-o", "{tmp}/no/x.safetensors"], "no such folder"),
        (
            ["--ensemble", "{tmp}/a.safetensors+{tmp}/missing.safetensors", "-o", "{tmp}/x.safetensors"],
            "no such weights file",
        ),
    ],
)
def test_ensemble_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, run_cli, tiny_classifier, argv, message):
    tiny_classifier(tmp_path, "a")
    tiny_classifier(tmp_path, "b")
    code, _, err = run_cli(capsys, "models", *(v.format(tmp=tmp_path) for v in argv))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.safetensors").exists()
