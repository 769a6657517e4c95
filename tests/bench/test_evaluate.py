"""evaluate_predictions / open_task_dataset: datasets by name, split files, task and format checks."""

import json

import numpy as np
import pytest
from PIL import Image

from rsvision.bench import TASK_FORMATS, evaluate_predictions, open_task_dataset
from rsvision.datasets import FORMATS
from rsvision.errors import EvaluationError, InputNotFoundError


def test_every_task_format_is_a_reader_format():
    assert {f for fs in TASK_FORMATS.values() for f in fs} <= set(FORMATS)


def test_registered_name(tmp_path, shared, monkeypatch):
    shared("format_samples", "rsvg")
    monkeypatch.setenv("RSVISION_DATA", str(shared()))  # named datasets are found under $RSVISION_DATA only
    (tmp_path / "b.json").write_text(json.dumps([{"id": "00001_0", "box": [133, 237, 684, 672]}]))
    assert evaluate_predictions("grounding", "rsvg", tmp_path / "b.json")["miou"] == 1.0


def test_split_file_goes_to_the_reader(tmp_path):
    data = tmp_path / "cd"
    for name in ("x", "y"):
        for d in ("A", "B", "label"):
            (data / d).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((4, 4), 255 if name == "x" else 0, np.uint8)).save(data / d / f"{name}.png")
    (tmp_path / "only_x.txt").write_text("x.png\n")
    ds = open_task_dataset("change", data, split_file=tmp_path / "only_x.txt")
    assert [s.id for s in ds] == ["x"]
    (tmp_path / "p").mkdir()
    Image.fromarray(np.full((4, 4), 255, np.uint8)).save(tmp_path / "p" / "x.png")
    result = evaluate_predictions("change", data, tmp_path / "p", split_file=tmp_path / "only_x.txt")
    assert result["f1"] == 1.0  # y is not in the split, so its missing prediction is no error


def test_checks(tmp_path):
    with pytest.raises(EvaluationError, match="unknown task 'depth'"):
        open_task_dataset("depth", tmp_path)
    with pytest.raises(EvaluationError, match="unknown format 'shp'"):
        open_task_dataset("detection", tmp_path, format="shp")
    with pytest.raises(EvaluationError, match="vqa cannot be scored on 'voc' data; formats for vqa: rsvqa"):
        open_task_dataset("vqa", tmp_path, format="voc")
    with pytest.raises(InputNotFoundError, match="no such dataset path or name: nothing-here"):
        open_task_dataset("vqa", "nothing-here")
    with pytest.raises(InputNotFoundError, match="no such predictions file or folder"):
        evaluate_predictions("vqa", tmp_path, tmp_path / "answers.json")
