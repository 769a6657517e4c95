"""`rsvision caption`, `ask`, `ground`, open-vocabulary `detect --classes` and their `eval` commands, end to end:
the captioner is a memory built on the tiny dual encoder; ask, ground and VQA use the shipped models on a crop of the
bundled Dubai image."""

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image

from rsvision.datasets.questions import Question, write_rsvqa
from rsvision.datasets.referring import Expression, write_rsvg
from rsvision.models.weights import builtin_weights

DUBAI = Path(__file__).parents[2] / "src/rsvision/samples/data/dubai/image_part_001.jpg"
needs_models = pytest.mark.skipif(
    not {"dubai_landcover_fpn", "neon_trees_retinanet", "vqa_baseline"} <= set(builtin_weights()),
    reason="the shipped land-cover, tree and VQA models are needed",
)


def test_caption_an_image_and_a_scene_by_regions(run_cli, capsys, tiny_captioner, kind_texture, tmp_path):
    rng = np.random.default_rng(9)
    forest = tmp_path / "forest.png"
    Image.fromarray(kind_texture(rng, "aForest")).save(forest)
    code, out, _ = run_cli(capsys, "caption", forest, "-m", tiny_captioner, "--json", "-q")
    assert code == 0 and "forest" in json.loads(out)["caption"]
    # a 96 x 96 scene: desert in 7 of its 9 regions of 32 px
    tiles = [
        [kind_texture(rng, "aForest" if (r, c) in ((0, 0), (2, 2)) else "SandyDesert") for c in range(3)]
        for r in range(3)
    ]
    scene = tmp_path / "scene.tif"
    pixels = np.concatenate([np.concatenate(row, 1) for row in tiles], 0).transpose(2, 0, 1)
    with rasterio.open(scene, "w", driver="GTiff", width=96, height=96, count=3, dtype="uint8") as ds:
        ds.write(pixels)
    code, out, _ = run_cli(capsys, "caption", scene, "-m", tiny_captioner, "--region", 32, "--json", "-q")
    result = json.loads(out)
    assert code == 0 and len(result["regions"]) == 9
    assert sum("forest" in r["caption"] for r in result["regions"]) == 2 and "desert" in result["caption"]


def test_caption_refuses_what_it_cannot_read(run_cli, capsys, tiny_captioner, tmp_path):
    code, _, err = run_cli(capsys, "caption", tmp_path / "missing.tif", "-m", tiny_captioner)
    assert code == 2 and "no such image" in err
    code, _, err = run_cli(capsys, "caption", tmp_path, "-m", tiny_captioner)  # a folder without band files
    assert code == 2 and "band" in err


def test_eval_captioning_with_a_model(run_cli, capsys, tiny_captioner, kind_texture, caption_templates, tmp_path):
    rng = np.random.default_rng(5)
    (tmp_path / "images").mkdir()
    entries = []
    for k, kind in enumerate(caption_templates):
        Image.fromarray(kind_texture(rng, kind)).save(tmp_path / "images" / f"{k}.png")
        sentences = [{"raw": t.format("two")} for t in caption_templates[kind]]
        entries.append({"filename": f"{k}.png", "split": "test", "sentences": sentences})
    (tmp_path / "caps.json").write_text(json.dumps({"images": entries}))
    code, out, _ = run_cli(
        capsys, "eval", "captioning", "--data", tmp_path / "caps.json", "-m", tiny_captioner, "--json", "-", "-q"
    )
    result = json.loads(out)
    assert code == 0 and result["cider"] > 1.0 and result["n_images"] == 2


@pytest.fixture(scope="module")
def dubai_crop(tmp_path_factory):
    path = tmp_path_factory.mktemp("dubai") / "crop.png"
    Image.open(DUBAI).crop((1500, 1500, 1756, 1756)).save(path)
    return path


@needs_models
def test_ask_answers_with_evidence(run_cli, capsys, dubai_crop):
    code, out, _ = run_cli(capsys, "ask", dubai_crop, "is there more road than vegetation?", "--json", "-q")
    result = json.loads(out)
    assert code == 0 and set(result) == {"question", "type", "answer", "evidence"}
    assert result["type"] == "comparison" and result["answer"] in ("yes", "no")
    assert {e["model"] for e in result["evidence"]} == {"dubai_landcover_fpn"}
    code, out, _ = run_cli(capsys, "ask", dubai_crop, "what share of the image is buildings?", "-q")
    assert code == 0 and out.strip().endswith("%")


@needs_models
def test_ask_says_what_it_cannot_answer(run_cli, capsys, dubai_crop, tmp_path):
    code, out, err = run_cli(capsys, "ask", dubai_crop, "is there a dragon?", "--json")
    assert code == 0 and json.loads(out)["answer"] == "cannot answer" and "dragon" in err
    code, out, err = run_cli(capsys, "ask", dubai_crop, "has anything changed?")
    assert code == 0 and out.strip() == "cannot answer" and "--before" in err
    code, _, err = run_cli(capsys, "ask", tmp_path / "missing.png", "is there water?")
    assert code == 2 and "no such image" in err


@needs_models
def test_ground_returns_a_box_and_writes_its_polygon(run_cli, capsys, dubai_crop, tmp_path):
    out_gpkg = tmp_path / "found.gpkg"
    code, out, _ = run_cli(capsys, "ground", dubai_crop, "the largest building", "--json", "-o", out_gpkg, "-q")
    result = json.loads(out)
    assert code == 0 and len(result["box"]) == 4 and result["polygon"].startswith("POLYGON")
    assert out_gpkg.is_file()
    code, _, err = run_cli(capsys, "ground", dubai_crop, "  ")
    assert code == 2 and "empty" in err


@needs_models
def test_eval_vqa_both_answerers_and_grounding(run_cli, capsys, dubai_crop, tmp_path):
    vqa = tmp_path / "vqa"
    (vqa / "Images").mkdir(parents=True)
    with (
        rasterio.open(dubai_crop) as src,
        rasterio.open(
            vqa / "Images" / "crop.tif", "w", driver="GTiff", width=256, height=256, count=3, dtype="uint8"
        ) as dst,
    ):
        dst.write(src.read())
    questions = [Question("is there water?", "no", "presence"), Question("are there buildings?", "yes", "presence")]
    write_rsvqa(vqa, "rsvision", "test", [("crop", questions)])
    for extra in ([], ["-m", "vqa_baseline"]):
        code, out, _ = run_cli(capsys, "eval", "vqa", "--data", vqa, "--split", "test", *extra, "--json", "-", "-q")
        result = json.loads(out)
        assert code == 0 and 0.0 <= result["accuracy"] <= 1.0 and "accuracy_presence" in result
    rsvg = tmp_path / "rsvg"
    pixels = np.asarray(Image.open(dubai_crop)).transpose(2, 0, 1)
    write_rsvg(rsvg, [("crop", pixels, 256, 256, [Expression("the largest building", (0, 0, 100, 100), "b", "size")])])
    code, out, _ = run_cli(capsys, "eval", "grounding", "--data", rsvg, "--json", "-", "-q")
    result = json.loads(out)
    assert code == 0 and {"acc_at_0.5", "miou", "no_box"} <= set(result)


@needs_models
def test_detect_open_vocabulary(run_cli, capsys, dubai_crop, tmp_path):
    out = tmp_path / "tanks.gpkg"
    code, _, err = run_cli(capsys, "detect", dubai_crop, "--classes", "storage tank, swimming pool", "-o", out)
    assert code == 0 and out.is_file() and "open vocabulary" in err


@pytest.mark.skipif("rsicd_captioner" not in builtin_weights(), reason="the shipped captioner is needed")
def test_caption_and_ground_a_sentinel2_band_folder(run_cli, capsys, tmp_path):
    """13 bands of integer reflectance: the RGB models read B04, B03, B02 made true colour, not the first three."""
    bercy = DUBAI.parents[1] / "oscd_bercy" / "imgs_2"
    code, out, err = run_cli(capsys, "caption", bercy, "-q")
    assert code == 0 and len(out.split()) >= 4, err
    code, out, err = run_cli(capsys, "ground", bercy, "a bridge over a river", "--json", "-q")
    assert code == 0 and len(json.loads(out)["box"]) == 4, err
