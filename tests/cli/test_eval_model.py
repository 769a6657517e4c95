"""`rsvision eval classification -m MODEL` and `rsvision eval probe`: JSON keys, TTA, and the argument rules
(--predictions and -m exclude each other; one is required)."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

torch.set_num_threads(1)


@pytest.fixture
def setup(tmp_path, tiny_classifier):
    weights = tiny_classifier(tmp_path)
    rng = np.random.default_rng(0)
    for k, c in enumerate(["blue", "green", "red"]):
        (tmp_path / "data" / c).mkdir(parents=True)
        for i in range(6):
            a = rng.integers(0, 60, (32, 32, 3)).astype(np.uint8)
            a[..., 2 - k] += 180
            Image.fromarray(a).save(tmp_path / "data" / c / f"{i}.png")
    return weights, tmp_path / "data"


def test_eval_with_a_model(setup, tmp_path, capsys, run_cli):
    weights, data = setup
    code, out, err = run_cli(
        capsys, "eval", "classification", "--data", data, "-m", weights, "--json", tmp_path / "m.json"
    )
    assert code == 0, err
    result = json.loads((tmp_path / "m.json").read_text())
    assert {
        "overall_accuracy",
        "average_accuracy",
        "kappa",
        "per_class",
        "confusion_matrix",
        "n_images",
        "n_failed",
    } <= set(result)
    assert result["n_images"] == 18 and "overall_accuracy" in out
    code, out, err = run_cli(capsys, "eval", "classification", "--data", data, "-m", weights, "--tta", "--json", "-")
    assert code == 0, err
    assert 0 <= json.loads(out)["overall_accuracy"] <= 1


def test_probe(setup, capsys, run_cli):
    weights, data = setup
    code, out, err = run_cli(capsys, "eval", "probe", "--data", data, "-m", weights, "--json", "-")
    assert code == 0, err
    result = json.loads(out)
    # colour classes are separable even in a random network's pooled features
    assert result["linear_accuracy"] == 1.0 and result["knn_accuracy"] == 1.0
    assert (result["n_train"], result["n_test"], result["feature_dim"], result["model"]) == (9, 9, 64, "tiny")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["grounding"], "grounding cannot be scored on 'folder' data"),
        (["classification", "--predictions", "p.csv", "-m", "M"], "not both"),
        (["probe", "--predictions", "p.csv"], "--predictions does not apply"),
        (["grounding", "-m", "M"], "eval grounding -m: the grounder composes the built-in models and takes no -m"),
    ],
)
def test_argument_rules(setup, capsys, args, message, run_cli):
    weights, data = setup
    argv = ["eval", args[0], "--data", data, *[weights if a == "M" else a for a in args[1:]]]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and message in err


def test_classify_csv_scores_as_the_model_run(setup, tmp_path, capsys, run_cli):
    weights, data = setup
    csv_path = tmp_path / "pred.csv"
    assert run_cli(capsys, "classify", data, "-m", weights, "-o", csv_path, "-q")[0] == 0
    _, from_csv, _ = run_cli(capsys, "eval", "classification", "--data", data, "--predictions", csv_path, "--json", "-")
    _, from_model, _ = run_cli(capsys, "eval", "classification", "--data", data, "-m", weights, "--json", "-")
    a, b = json.loads(from_csv), json.loads(from_model)
    assert {k: a[k] for k in ("overall_accuracy", "kappa", "confusion_matrix")} == {
        k: b[k] for k in ("overall_accuracy", "kappa", "confusion_matrix")
    }


# ----------------------------------------------------------------------------- robustness and preprocessing


def test_eval_robustness_and_preprocessing(run_cli, capsys, tmp_path, tiny_classifier, colour_folder):
    (tmp_path / "w").mkdir()
    weights = tiny_classifier(tmp_path / "w")
    data = colour_folder()
    out, plot = tmp_path / "robust.json", tmp_path / "robust.png"
    args = ("--data", data, "-m", weights, "--corruptions", "haze,dead_pixels", "--severities", "1,3")
    code, printed, err = run_cli(capsys, "eval", "robustness", "classification", *args, "--json", out, "--plot", plot)
    assert code == 0, err
    result = json.loads(out.read_text())
    assert set(result["table"]) == {"haze", "dead_pixels"} and set(result["table"]["haze"]) == {"1", "3"}
    assert result["metric"] == "overall_accuracy" and "mean_relative_drop" in result and plot.is_file()
    assert "haze" in printed and "mean_relative_drop" in printed
    code, printed, err = run_cli(capsys, "eval", "preprocessing", "classification", "--data", data, "-m", weights)
    assert code == 0, err
    assert "normalisation" in printed and "per_image" in printed and "card_is_best" in printed
    for bad, message in (
        (("eval", "robustness", "--data", data), "needs the task studied"),
        (("eval", "robustness", "captioning", "--data", data), "eval robustness takes"),
        (("eval", "robustness", "classification", "--data", data, "--severities", "0-9"), "severities"),
        (("eval", "classification", "segmentation", "--data", data), "takes one task"),
    ):
        code, _, err = run_cli(capsys, *bad)
        assert code == 2 and message in err, err
