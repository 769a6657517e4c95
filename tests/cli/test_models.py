"""`rsvision models`: built-in cards listed with architecture, bands, input size, classes and measured metrics."""

import json

import pytest
import torch

from rsvision.models import (
    DEFAULT_CLASSIFIER,
    MeasuredMetrics,
    builtin_weights,
)

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
