"""`eval robustness`: the clean score is plain eval's, the table is deterministic and covers what was asked, the
corrupted images are the corruption module's, and the mean relative drop is the table's."""

import json
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from rsvision.bench import evaluate_model
from rsvision.bench.corruptions import corrupt
from rsvision.bench.model_eval import task_evaluator
from rsvision.bench.robustness import (
    corrupted,
    every_nth,
    parse_corruptions,
    parse_severities,
    plot_robustness,
    robustness_table,
)
from rsvision.datasets import FolderDataset
from rsvision.errors import EvaluationError

torch.set_num_threads(1)


@pytest.fixture
def data(colour_folder):
    return colour_folder(4)


@pytest.fixture
def weights(tmp_path, tiny_classifier):
    (tmp_path / "w").mkdir()
    return tiny_classifier(tmp_path / "w")


def test_table_clean_row_equals_eval_and_is_deterministic(data, weights):
    dataset = FolderDataset(data)
    evaluate = task_evaluator("classification", weights, dataset)
    names, levels = ["gaussian_noise", "thick_clouds"], [1, 5]
    result = robustness_table("classification", evaluate, dataset, names, levels, seed=3)
    assert result["clean"] == evaluate_model("classification", data, weights)["overall_accuracy"]
    assert result["metric"] == "overall_accuracy" and list(result["table"]) == names
    assert all(list(row) == ["1", "5"] for row in result["table"].values())
    cells = [v for row in result["table"].values() for v in row.values()]
    assert result["mean_relative_drop"] == pytest.approx(
        np.mean([(result["clean"] - v) / result["clean"] for v in cells])
    )
    again = robustness_table("classification", evaluate, dataset, names, levels, seed=3)
    assert again["table"] == result["table"]
    json.dumps(result)  # plain values only


def test_corrupted_images_are_the_corruption_modules(data):
    dataset = FolderDataset(data)
    sample = dataset[5]
    hazy = corrupted(dataset, "haze", 3, seed=1)
    image = hazy.load_image(sample)
    clean = dataset.load_image(sample)
    assert image.shape == clean.shape and not np.array_equal(image, clean)
    assert np.array_equal(image, hazy.load_image(sample))  # each sample its own fixed seed
    own = (1 * 1_000_003 + zlib.crc32(f"{sample.id}/0".encode())) % 2**32
    assert np.array_equal(image, corrupt(clean, "haze", 3, seed=own))
    assert not np.array_equal(hazy.load_image(dataset[6]), corrupted(dataset, "haze", 3, seed=2).load_image(dataset[6]))
    assert np.array_equal(dataset.load_image(sample), clean)  # the dataset itself is untouched


def test_arguments_and_limit(data):
    assert parse_severities("1-5") == [1, 2, 3, 4, 5] and parse_severities("3") == [3]
    assert parse_severities("5,1") == [1, 5]
    for bad in ("0-3", "6", "a"):
        with pytest.raises(EvaluationError, match="severities"):
            parse_severities(bad)
    assert len(parse_corruptions("all")) == 14 and parse_corruptions("haze,jpeg") == ["haze", "jpeg"]
    with pytest.raises(EvaluationError, match="unknown corruption"):
        parse_corruptions("haze,fog")
    dataset = FolderDataset(data)
    picked = every_nth(dataset, 3)
    assert len(picked) == 3 and {dataset.classes[s.targets["label"]] for s in picked} == {"red", "green", "blue"}
    assert every_nth(dataset, None) is dataset


def test_heat_map(tmp_path):
    result = {
        "metric": "miou",
        "clean": 0.6,
        "table": {"haze": {"1": 0.58, "3": 0.4}, "jpeg": {"1": 0.6, "3": 0.55}},
        "severities": [1, 3],
        "mean_relative_drop": 0.1,
    }
    path = plot_robustness(result, tmp_path / "map.png", "robustness")
    assert Image.open(path).size[0] > 100
