"""`rsvision classify --zero-shot` and `eval classification --zero-shot` with the tiny dual encoder trained on
generated images of two kinds (conftest's ``dual_encoder``: green forest, sandy desert) whose captions name them."""

import csv
import json

import numpy as np
import pytest
import torch

from rsvision.core.settings import torch_threads


def test_classify_folder_zero_shot(dual_encoder, test_folder, tmp_path, capsys, run_cli):
    out = tmp_path / "zs.csv"
    with torch_threads(1):
        code, _, err = run_cli(
            capsys, "classify", test_folder, "-o", out, "-m", dual_encoder, "--zero-shot", "forest, sandy desert", "-q"
        )
    assert code in (0, None), err
    rows = list(csv.DictReader(out.open()))
    truth = {"aForest": "forest", "SandyDesert": "sandy desert"}
    right = [truth[r["path"].split("/")[0]] == r["class"] for r in rows]
    assert len(rows) == 20 and np.mean(right) >= 0.9
    assert all(r["top5"].count(":") == 2 for r in rows)


def test_classify_scene_zero_shot(dual_encoder, kind_texture, make_raster, tmp_path, capsys, run_cli):
    rng = np.random.default_rng(5)
    pixels = np.concatenate([kind_texture(rng, "aForest"), kind_texture(rng, "SandyDesert")], axis=1).transpose(2, 0, 1)
    classes = tmp_path / "classes.txt"
    classes.write_text("# two kinds\nforest\n\nsandy desert\n")
    out, vec = tmp_path / "map.tif", tmp_path / "tiles.geojson"
    with torch_threads(1):
        code, _, err = run_cli(
            capsys,
            "classify",
            make_raster("scene.tif", pixels),
            "-o",
            out,
            "--vector",
            vec,
            "-m",
            dual_encoder,
            "--zero-shot-file",
            classes,
            "--tile",
            32,
            "-q",
        )
    assert code in (0, None), err
    tiles = sorted(json.loads(vec.read_text())["features"], key=lambda f: f["properties"]["col_off"])
    assert [f["properties"]["class"] for f in tiles] == ["forest", "sandy desert"]
    assert out.is_file()


def test_eval_classification_zero_shot(dual_encoder, test_folder, tmp_path, capsys, run_cli):
    out = tmp_path / "zs.json"
    with torch_threads(1):
        code, _, err = run_cli(
            capsys, "eval", "classification", "--data", test_folder, "--zero-shot", "-m", dual_encoder, "--json", out
        )
    assert code in (0, None), err
    result = json.loads(out.read_text())
    assert result["overall_accuracy"] >= 0.9 and 0 <= result["kappa"] <= 1 and result["n_images"] == 20
    assert result["class_texts"] == {"aForest": "forest", "SandyDesert": "sandy desert"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--zero-shot", " , "], "no class names"),
        (["--zero-shot", "forest"], "needs two or more"),
        (["--zero-shot-file", "EMPTY"], "no class names"),
        (["--zero-shot", "a,b", "--zero-shot-file", "EMPTY"], "not both"),
    ],
)
def test_bad_class_lists_exit_2(test_folder, tmp_path, capsys, run_cli, args, message):
    empty = tmp_path / "empty.txt"
    empty.write_text("# none\n\n")
    args = [str(empty) if a == "EMPTY" else a for a in args]
    code, _, err = run_cli(capsys, "classify", test_folder, "-o", tmp_path / "x.csv", *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_zero_shot_only_for_classification(test_folder, tmp_path, capsys, run_cli):
    code, _, err = run_cli(capsys, "eval", "segmentation", "--data", test_folder, "--zero-shot")
    assert code == 2 and "--zero-shot applies to eval classification" in err


def test_openclip_checkpoint_in_zero_shot(test_folder, tmp_path, capsys, run_cli):
    """A published-checkpoint dual encoder (here a tiny random open_clip model) serves -m in classify --zero-shot."""
    open_clip = pytest.importorskip("open_clip", reason="the openclip loader needs open_clip_torch")
    config = {
        "embed_dim": 8,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 16, "patch_size": 16, "head_width": 8},
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1},
    }
    (tmp_path / "rsv-zs-clip.json").write_text(json.dumps(config))
    open_clip.add_model_config(tmp_path / "rsv-zs-clip.json")
    torch.manual_seed(0)
    torch.save(open_clip.create_model("rsv-zs-clip", pretrained=None).state_dict(), tmp_path / "clip.pt")
    out = tmp_path / "zs.csv"
    model = f"openclip:rsv-zs-clip:{tmp_path / 'clip.pt'}"
    with torch_threads(1):
        code, _, err = run_cli(
            capsys, "classify", test_folder, "-o", out, "-m", model, "--zero-shot", "forest,sandy desert", "-q"
        )
    assert code in (0, None), err
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 20 and {r["class"] for r in rows} <= {"forest", "sandy desert"}
