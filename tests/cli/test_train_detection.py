"""`rsvision train detection`: a tiny run on a generated VOC dataset writes weights + card that `rsvision eval
detection` reads; an oriented architecture trains on rotated boxes; bad arguments are one-line errors that write
nothing."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from rsvision.cli.train import DETECTORS
from rsvision.datasets.voc import write_voc
from rsvision.models import Weights
from rsvision.models.detection import DETECTION_BUILDERS

torch.set_num_threads(1)

SIZE = 128


def make_voc(root, n=6):
    """``n`` dark noise images of 128 px, each with one to three bright squares (class ``square``)."""
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        image = rng.integers(0, 60, (SIZE, SIZE, 3)).astype(np.uint8)
        boxes = []
        for _ in range(1 + i % 3):
            side = int(rng.integers(16, 36))
            x, y = (int(v) for v in rng.integers(0, SIZE - side, 2))
            image[y : y + side, x : x + side] = 230
            boxes.append([x, y, x + side, y + side])
        Image.fromarray(image).save(root / f"img{i}.png")
        write_voc(root / f"img{i}.xml", f"img{i}.png", (SIZE, SIZE), boxes, ["square"] * len(boxes))
    return root


def train_args(data, out, *extra):
    return [
        "train",
        "detection",
        "--data",
        data,
        "--format",
        "voc",
        "-o",
        out,
        "--epochs",
        "2",
        "--steps",
        "2",
        "--size",
        "64",
        "--batch",
        "2",
        "--val",
        "0.34",
        "--threads",
        "1",
        "-q",
        *extra,
    ]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_voc(tmp_path_factory.mktemp("det") / "voc")


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    from rsvision.cli import main

    out = tmp_path_factory.mktemp("weights") / "boxes.safetensors"
    with pytest.raises(SystemExit) as done:
        main([str(a) for a in train_args(data, out, "--init", "aid_efficientnet_lite0")])
    assert done.value.code == 0
    return out


def test_writes_weights_and_card_that_eval_reads(data, trained, capsys, run_cli):
    record = Weights.load(trained)
    record.verify()
    assert record.task == "detection" and record.architecture == "retinanet" and record.classes == ["square"]
    assert record.architecture_kwargs == {"backbone": "timm:efficientnet_lite0", "channels": 128}
    assert record.preprocessing.scale == 255 and len(record.preprocessing.mean) == 3
    (metrics,) = record.metrics
    assert metrics.split == "validation: 2 images, seed 0" and 0 <= metrics.values["map50"] <= 1
    assert record.command.startswith("rsvision train detection --data ") and "--format voc" in record.command
    assert "--init aid_efficientnet_lite0" in record.command and f"-o {trained}" in record.command
    assert record.notes["trained_from"] == "backbone of aid_efficientnet_lite0" and len(record.notes["history"]) == 2
    code, out, err = run_cli(
        capsys, "eval", "detection", "--data", data, "--format", "voc", "-m", trained, "--json", "-"
    )
    assert code == 0, err
    scores = json.loads(out)
    assert scores["n_images"] == 6 and 0 <= scores["map50"] <= 1


def test_oriented_architecture_trains_on_rotated_boxes(data, tmp_path, capsys, run_cli):
    out = tmp_path / "rot.safetensors"
    args = train_args(data, out, "--arch", "rotated_fcos", "--backbone", "resnet18", "--epochs", "1")
    code, _, err = run_cli(capsys, *(a for a in args if a != "-q"))  # not quiet: the summary line is printed
    assert code == 0, err
    assert err.strip().splitlines()[-1].startswith("validation map50 0.") and err.rstrip().endswith(str(out))
    record = Weights.load(out)
    assert record.architecture == "rotated_fcos" and record.notes["config"]["rotate"] is True


def test_detectors_are_the_models_builders():
    assert set(DETECTORS) == set(DETECTION_BUILDERS)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--arch", "yolo"], "unknown detector 'yolo'; --arch takes retinanet"),
        (["--backbone", "vgg16"], "unknown backbone 'vgg16'"),
        (["--val", "1.5"], "--val must be in (0, 1) for detection"),
        (["--val", "0"], "--val must be in (0, 1) for detection"),
        (["--size", "16"], "--size (the training crop) must be at least 32"),
        (["--format", "nonsense"], "unknown format 'nonsense'"),
    ],
)
def test_bad_arguments_write_nothing(data, tmp_path, capsys, run_cli, extra, message):
    code, _, err = run_cli(capsys, *train_args(data, tmp_path / "x.safetensors", *extra))
    assert code == 2 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_missing_data_and_format_for_other_tasks(data, tmp_path, capsys, run_cli):
    code, _, err = run_cli(capsys, *train_args(tmp_path / "missing", tmp_path / "x.safetensors"))
    assert code == 2 and "no such dataset path or name" in err and "missing" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "train", "segmentation", "--data", data, "--format", "voc", "-o", tmp_path / "x")
    assert code == 2 and "--format applies to train detection, not segmentation" in err
    assert list(tmp_path.iterdir()) == []


def test_bad_boxes_are_counted_once_per_kind_and_never_reach_the_loss(tmp_path, capsys, run_cli):
    """An image without boxes (a negative), a box partly outside its image (clipped), a box of zero area (dropped):
    one warning line each, and the run writes its weights."""
    data = make_voc(tmp_path / "voc", n=4)
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    for name, boxes in (("empty", []), ("outside", [[100, 10, 150, 40]]), ("flat", [[20, 20, 20, 50], [5, 5, 40, 40]])):
        Image.fromarray(image).save(data / f"{name}.png")
        write_voc(data / f"{name}.xml", f"{name}.png", (SIZE, SIZE), boxes, ["square"] * len(boxes))
    out = tmp_path / "boxes.safetensors"
    args = [a for a in train_args(data, out, "--init", "aid_efficientnet_lite0") if a != "-q"]
    args[args.index("--epochs") + 1] = args[args.index("--steps") + 1] = "1"
    code, _, err = run_cli(capsys, *args)
    assert code in (0, None), err
    lines = err.splitlines()
    for text in ("1 images without boxes (used as negatives)", "1 boxes reached outside the image", "1 boxes had no"):
        assert sum(text in line for line in lines) == 1, err
    assert out.is_file()
