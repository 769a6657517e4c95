"""`rsvision train classification`: a tiny run on a generated folder dataset writes weights + card that load
and classify; rerunning resumes from --work; other settings and bad arguments are one-line errors."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from rsvision.cli import main
from rsvision.models import Classifier, Weights

torch.set_num_threads(1)

CLASSES = ("blue", "green", "red")


def make_folder(root, per_class=8, size=40):
    """Three classes of noise images, each brighter in its own channel."""
    rng = np.random.default_rng(0)
    for k, c in enumerate(CLASSES):
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            a = rng.integers(0, 80, (size, size, 3)).astype(np.uint8)
            a[..., 2 - k] += 150
            Image.fromarray(a).save(root / c / f"{c}_{i}.png")
    return root


def train_args(data, out, *extra):
    return [
        "train",
        "classification",
        "--data",
        data,
        "-o",
        out,
        "--epochs",
        "2",
        "--size",
        "32",
        "--batch",
        "8",
        "--val",
        "0.25",
        "--threads",
        "1",
        "-q",
        *extra,
    ]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    data = make_folder(root / "data")
    out = root / "w" / "tiny.safetensors"
    out.parent.mkdir()
    with pytest.raises(SystemExit) as done:
        main([str(a) for a in train_args(data, out, "--width", "0.125")])
    assert done.value.code == 0
    return data, out


def test_writes_weights_and_card(trained):
    data, out = trained
    record = Weights.load(out)
    record.verify()
    assert record.architecture == "resnet18" and record.architecture_kwargs == {"width": 0.125}
    assert record.classes == list(CLASSES) and record.bands == ["red", "green", "blue"]
    prep = record.preprocessing
    assert prep.input_size == 32 and prep.scale == 255 and tuple(prep.value_range) == (0, 255)
    # mean / std are those of the training part, recomputed here from the cache the run kept
    cache = np.load(out.with_name("tiny.work") / "cache_all_40.npy")
    labels = np.repeat(np.arange(3), 8)
    from rsvision.datasets import stratified_split

    _, train_idx = stratified_split(labels, 0.25, seed=0)
    scaled = cache[train_idx].astype(np.float64) / 255
    assert np.allclose(prep.mean, scaled.mean(axis=(0, 2, 3)))
    assert np.allclose(prep.std, scaled.std(axis=(0, 2, 3)))
    (metrics,) = record.metrics
    assert metrics.split.startswith("all: validation part (25%") and 0 <= metrics.values["overall_accuracy"] <= 1
    assert set(metrics.values) == {"overall_accuracy", "average_accuracy", "kappa"}
    assert record.command.startswith("rsvision train classification --data ") and "--epochs 2" in record.command
    assert record.notes["epochs"] == 2 and len(record.notes["validation_curve"]) == 2
    image = np.asarray(Image.open(data / "red" / "red_0.png")).transpose(2, 0, 1)
    probs = Classifier(record).predict_proba([image])
    assert probs.shape == (1, 3) and np.isclose(probs.sum(), 1, atol=1e-5)


def test_rerun_resumes_and_other_settings_are_refused(trained, capsys, run_cli):
    from safetensors.torch import load_file

    data, out = trained
    before = load_file(out)
    code, out_text, err = run_cli(capsys, *train_args(data, out, "--width", "0.125"))
    assert code == 0, err
    assert "epoch 1/2" not in out_text  # both epochs were done: nothing is trained again
    after = load_file(out)  # the same tensors (the file's bytes may differ: safetensors orders metadata freely)
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)
    assert Weights.load(out).sha256 == json.loads(out.with_suffix(".json").read_text())["sha256"]
    code, _, err = run_cli(capsys, *train_args(data, out, "--width", "0.125", "--lr", "0.01"))
    assert code == 2 and "checkpoint was made with other settings (lr" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--width", "0.5", "--arch", "mobilenet_v3_small"], "--width applies to resnet18"),
        (["--val", "1.5"], "--val must be in [0, 1)"),
        (["--bands", "red,green"], "2 band names given for images of 3 bands"),
        (["--arch", "nonet"], "unknown model 'nonet'"),
    ],
)
def test_bad_arguments(trained, tmp_path, capsys, extra, message, run_cli):
    data, _ = trained
    code, _, err = run_cli(capsys, *train_args(data, tmp_path / "x.safetensors", *extra))
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "x.safetensors").exists()
    work = tmp_path / "x.work"  # gone, unless it holds work a rerun reuses (the image cache, made before the bands
    assert not work.exists() or any(work.iterdir())  # are checked against it)


def test_bad_task_output_and_data(trained, tmp_path, capsys, run_cli):
    data, _ = trained
    code, _, err = run_cli(capsys, "train", "captioning", "--data", data, "-o", tmp_path / "x.safetensors")
    assert code == 2 and "classification, segmentation, change and detection can be trained" in err
    code, _, err = run_cli(capsys, *train_args(data, tmp_path / "x.pt"))
    assert code == 2 and "NAME.safetensors" in err
    code, _, err = run_cli(capsys, *train_args(tmp_path / "missing", tmp_path / "x.safetensors"))
    assert code == 2 and "missing" in err


def test_outputs_are_checked_before_training(trained, tmp_path, capsys, run_cli, monkeypatch):
    """Every output (weights, card, work folder) is checked before the first epoch; no folder is made on the
    way except the work folder, inside an existing one."""
    import os

    import rsvision.io.writers as writers

    data, _ = trained
    code, _, err = run_cli(capsys, *train_args(data, tmp_path / "missing" / "x.safetensors"))
    assert code == 2 and "folder" in err and "does not exist" in err and not (tmp_path / "missing").exists()
    (tmp_path / "file").write_text("")
    code, _, err = run_cli(capsys, *train_args(data, tmp_path / "x.safetensors", "--work", tmp_path / "file"))
    assert code == 2 and "cannot use" in err and "it is a file" in err and not (tmp_path / "x.work").exists()
    code, _, err = run_cli(capsys, *train_args(data, tmp_path / "x.safetensors", "--work", tmp_path / "a" / "b"))
    assert code == 2 and "does not exist" in err and not (tmp_path / "a").exists()
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access  # root may write anywhere: pretend the folder is read-only, as it is for a user
    monkeypatch.setattr(writers.os, "access", lambda p, mode: False if str(p) == str(locked) else real_access(p, mode))
    code, out, err = run_cli(capsys, *train_args(data, locked / "x.safetensors", "--work", tmp_path / "w"))
    assert code == 2 and f"folder {locked} is not writable" in err and "Traceback" not in err
    assert "epoch" not in out + err and not (tmp_path / "w").exists()
    code, out, err = run_cli(capsys, *train_args(data, tmp_path / "y.safetensors", "--work", locked / "work"))
    assert code == 2 and "is not writable" in err and "epoch" not in out + err
