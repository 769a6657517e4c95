"""`rsvision eval TASK --predictions`: every task end to end on generated data (expected values derived
here by hand or with plain numpy), real data where it is cheap, and bad input (one line, exit 2)."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image


@pytest.fixture
def scores(run_cli):
    def run(capsys, tmp_path, task, data, predictions, *extra):
        """Run eval with --json; check the table printed and return the JSON written."""
        out_json = tmp_path / "metrics.json"
        code, out, err = run_cli(
            capsys, "eval", task, "--data", data, "--predictions", predictions, "--json", out_json, *extra
        )
        assert code == 0, err
        text = out_json.read_text()
        assert "NaN" not in text and "Infinity" not in text
        result = json.loads(text)
        first = next(k for k, v in result.items() if isinstance(v, float))
        assert first in out  # the table lists the keys
        return result

    return run


def _png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)
    return path


# ----------------------------------------------------------------------------- classification


def _folder_dataset(root, classes=("beach", "forest", "port"), per_class=4):
    truth = []
    for c in classes:
        for i in range(per_class):
            _png(root / c / f"{c}_{i}.png", np.zeros((4, 4)))
            truth.append((f"{c}/{c}_{i}.png", c))
    return truth


def _kappa(t, p, classes):
    n = len(t)
    p_o = np.mean(t == p)
    p_e = sum(np.sum(t == c) * np.sum(p == c) for c in classes) / n**2
    return (p_o - p_e) / (1 - p_e)


def test_classification(capsys, tmp_path, scores):
    classes = ("beach", "forest", "port")
    truth = _folder_dataset(tmp_path / "data", classes)
    wrong = {1: "port", 5: "beach", 6: "beach", 11: "forest"}  # row -> predicted class
    lines = ["path,class,score,top5"]
    for k, (rel, c) in enumerate(truth):
        pred = wrong.get(k, c)
        path = {0: tmp_path / "data" / rel, 1: rel}.get(k % 3, rel.split("/")[1])  # absolute, relative, file name
        top5 = f"{pred}:0.7;{c}:0.2" if k != 11 else f"{pred}:0.9;beach:0.1"
        lines.append(f"{path},{pred},0.7,{top5}")
    (tmp_path / "pred.csv").write_text("\n".join(lines) + "\n")
    result = scores(capsys, tmp_path, "classification", tmp_path / "data", tmp_path / "pred.csv")
    t = np.array([c for _, c in truth])
    p = np.array([wrong.get(k, c) for k, (_, c) in enumerate(truth)])
    assert result["overall_accuracy"] == pytest.approx(np.mean(t == p)) == pytest.approx(8 / 12)
    assert result["average_accuracy"] == pytest.approx(np.mean([np.mean(p[t == c] == c) for c in classes]))
    assert result["kappa"] == pytest.approx(_kappa(t, p, classes))
    assert "top5_accuracy" not in result  # 3 classes: it would be 1 by construction
    assert result["per_class"]["forest"]["recall"] == pytest.approx(2 / 4)


def test_classification_predictions_of_classes_the_dataset_lacks_count_wrong(capsys, tmp_path, scores, run_cli):
    """A model of more classes than the dataset: its other classes are scored as wrong, not refused."""
    _folder_dataset(tmp_path / "data", ("beach", "forest"), per_class=2)
    rows = "path,class\nbeach_0.png,beach\nbeach_1.png,sea\nforest_0.png,forest\nforest_1.png,forest\n"
    (tmp_path / "pred.csv").write_text(rows)
    result = scores(capsys, tmp_path, "classification", tmp_path / "data", tmp_path / "pred.csv")
    assert result["overall_accuracy"] == pytest.approx(3 / 4) and result["other_class_predictions"] == 1
    assert result["per_class"]["beach"]["recall"] == pytest.approx(1 / 2)
    assert result["confusion_matrix"] == [[1, 0, 1], [0, 2, 0], [0, 0, 0]]
    code, _, err = run_cli(
        capsys, "eval", "classification", "--data", tmp_path / "data", "--predictions", tmp_path / "pred.csv"
    )
    assert code == 0 and "1 prediction name classes the dataset does not have" in err


def test_top5_accuracy_with_more_than_five_classes():
    from rsvision.bench.evaluate import score_classes

    classes = [f"c{i}" for i in range(7)]
    truth = np.array([0, 1, 2, 3])
    top = [["c0"], ["c6", "c5", "c4", "c3", "c2", "c1"], ["c6", "c2"], ["c1"]]
    result = score_classes(classes, truth, [t[0] for t in top], top)
    assert result["top5_accuracy"] == pytest.approx(2 / 4)  # c1 is sixth: not in the top five


def test_classification_on_aid(capsys, tmp_path, shared, scores):
    """All 10,000 AID images, every tenth given the next class: overall accuracy 0.9 exactly."""
    root = shared("AID")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir())
    rows, n = ["path,class"], 0
    for i, c in enumerate(classes):
        for f in sorted((root / c).iterdir()):
            rows.append(f"{c}/{f.name},{classes[(i + 1) % len(classes)] if n % 10 == 0 else c}")
            n += 1
    (tmp_path / "aid.csv").write_text("\n".join(rows))
    result = scores(capsys, tmp_path, "classification", root, tmp_path / "aid.csv")
    assert n == 10000 and result["overall_accuracy"] == pytest.approx(0.9)


# ----------------------------------------------------------------------------- detection


VOC = """<annotation><filename>{name}.png</filename><size><width>64</width><height>64</height></size>{objects}
</annotation>"""
OBJ = (
    "<object><name>{cls}</name><difficult>0</difficult><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
    "<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
)


def test_detection_voc_task2(capsys, tmp_path, scores):
    """Two of three cars found, plus a correct boat: car AP = 2/3 (all-point), 7/11 (11-point: t <= 0.6)."""
    gt = {
        "im1": [("car", [2, 2, 20, 20]), ("car", [30, 30, 50, 50])],
        "im2": [("car", [5, 5, 25, 25]), ("boat", [1, 1, 9, 9])],
    }
    for name, objects in gt.items():
        _png(tmp_path / "voc" / "JPEGImages" / f"{name}.png", np.zeros((64, 64)))
        xml = VOC.format(name=name, objects="".join(OBJ.format(cls=c, b=b) for c, b in objects))
        (tmp_path / "voc" / "Annotations").mkdir(exist_ok=True)
        (tmp_path / "voc" / "Annotations" / f"{name}.xml").write_text(xml)
    preds = tmp_path / "preds"
    preds.mkdir()
    (preds / "Task2_car.txt").write_text("im1 0.9 2 2 20 20\nim2 0.8 5 5 25 25\n")
    (preds / "Task2_boat.txt").write_text("im2 0.7 1 1 9 9\n")
    result = scores(capsys, tmp_path, "detection", tmp_path / "voc", preds)
    assert result["per_class"]["car"]["ap50"] == pytest.approx(2 / 3)
    assert result["per_class"]["car"]["ap50_voc07"] == pytest.approx(7 / 11)
    assert result["map50"] == pytest.approx((2 / 3 + 1) / 2) and result["map"] == pytest.approx((2 / 3 + 1) / 2)
    assert result["map50_voc07"] == pytest.approx((7 / 11 + 1) / 2)


def _task1_from(dataset, folder, keep=None):
    from rsvision.datasets import Detections, write_task1

    dets = {}
    for s in dataset:
        t = s.targets
        k = np.arange(len(t["labels"])) if keep is None else keep(s)
        dets[s.id] = Detections(t["labels"][k], np.ones(len(k)), polygons=t["polygons"][k])
    write_task1(folder, dets, dataset.classes)
    return folder


def test_detection_dota_devkit_example(capsys, tmp_path, shared, scores):
    """The devkit's P1888 labels as task-1 predictions (score 1): AP 1 at every IoU; then every
    non-difficult large vehicle of odd index dropped: its AP is the share kept (precision stays 1)."""
    from rsvision.datasets import open_dataset

    root = shared("dota", "devkit_example")
    ds = open_dataset(root)
    result = scores(capsys, tmp_path, "detection", root, _task1_from(ds, tmp_path / "all"), "--format", "dota")
    assert result["map50"] == result["map"] == result["map50_voc07"] == 1.0
    assert result["per_class"]["plane"]["ap50"] is None  # NaN -> null

    t = ds[0].targets
    lv = ds.classes.index("large-vehicle")
    regular = np.flatnonzero((t["labels"] == lv) & ~t["difficult"])
    dropped = regular[1::2]
    folder = _task1_from(ds, tmp_path / "some", keep=lambda s: np.setdiff1d(np.arange(len(t["labels"])), dropped))
    result = scores(capsys, tmp_path, "detection", root, folder)
    assert result["per_class"]["large-vehicle"]["ap50"] == pytest.approx(1 - len(dropped) / len(regular))
    assert result["per_class"]["small-vehicle"]["ap"] == 1.0


def test_detection_dota8_yolo_obb(capsys, tmp_path, shared, scores):
    from rsvision.datasets import open_dataset

    root = shared("dota", "dota8")
    with pytest.warns(UserWarning):
        ds = open_dataset(root)
    result = scores(capsys, tmp_path, "detection", root, _task1_from(ds, tmp_path / "p"))
    assert result["map50"] == result["map"] == result["map50_voc07"] == 1.0
    assert sum(c["num_gt"] for c in result["per_class"].values()) == sum(len(s.targets["labels"]) for s in ds)


def test_detection_coco(capsys, tmp_path, scores):
    gt = {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 100, "height": 100},
            {"id": 2, "file_name": "b.jpg", "width": 100, "height": 100},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 40, 40], "area": 1600, "iscrowd": 0},
            {"id": 2, "image_id": 2, "category_id": 2, "bbox": [5, 5, 20, 30], "area": 600, "iscrowd": 0},
        ],
        "categories": [{"id": 1, "name": "tree"}, {"id": 2, "name": "house"}],
    }
    (tmp_path / "ann.json").write_text(json.dumps(gt))
    rows = [
        {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 0.9}
        for a in gt["annotations"]
    ]
    (tmp_path / "res.json").write_text(json.dumps(rows))
    result = scores(capsys, tmp_path, "detection", tmp_path / "ann.json", tmp_path / "res.json")
    for key in ("map", "map50", "map50_voc07"):
        assert result[key] == pytest.approx(1.0)
    assert set(result["per_class"]) == {"tree", "house"}


# ----------------------------------------------------------------------------- segmentation and change


def test_segmentation_index_masks(capsys, tmp_path, scores):
    rng = np.random.default_rng(0)
    data, preds = tmp_path / "seg", tmp_path / "preds"
    (data).mkdir()
    (data / "classes.txt").write_text("background\nroad\nbuilding\n")
    truths, predictions = [], []
    for name in ("t1", "t2"):
        truth = rng.integers(0, 3, (16, 16)).astype(np.uint8)
        truth[:2] = 255  # ignored
        pred = truth.copy()
        noise = rng.random(truth.shape) < 0.3
        pred[noise] = rng.integers(0, 3, int(noise.sum()))
        pred[:2] = 1  # under ignored pixels: not scored
        _png(data / "images" / f"{name}.png", np.zeros((16, 16, 3)))
        _png(data / "masks" / f"{name}.png", truth)
        _png(preds / f"{name}.png", pred)
        truths.append(truth)
        predictions.append(pred)
    result = scores(capsys, tmp_path, "segmentation", data, preds, "--format", "index-mask")
    t, p = np.concatenate(truths).ravel(), np.concatenate(predictions).ravel()
    keep = t != 255
    t, p = t[keep], p[keep]
    ious = [np.sum((t == c) & (p == c)) / np.sum((t == c) | (p == c)) for c in range(3)]
    assert result["miou"] == pytest.approx(np.mean(ious))
    assert result["overall_accuracy"] == pytest.approx(np.mean(t == p))
    assert result["per_class"]["road"]["iou"] == pytest.approx(ious[1])


def _change_counts(t, p):
    tp, fp, fn = np.sum(t & p), np.sum(~t & p), np.sum(t & ~p)
    return {
        "precision": tp / (tp + fp),
        "recall": tp / (tp + fn),
        "f1": 2 * tp / (2 * tp + fp + fn),
        "iou": tp / (tp + fp + fn),
    }


def test_change_triplets(capsys, tmp_path, scores):
    rng = np.random.default_rng(1)
    data, preds = tmp_path / "cd", tmp_path / "preds"
    truths, predictions = [], []
    for name in ("p1", "p2", "p3"):
        truth = rng.random((12, 12)) < 0.3
        pred = truth ^ (rng.random((12, 12)) < 0.2)
        for d in ("A", "B"):
            _png(data / d / f"{name}.png", np.zeros((12, 12, 3)))
        _png(data / "label" / f"{name}.png", truth * 255)
        _png(preds / f"{name}.png", pred * (255 if name != "p2" else 1))  # 0/255 and 0/1 both read
        truths.append(truth)
        predictions.append(pred)
    result = scores(capsys, tmp_path, "change", data, preds)
    expected = _change_counts(np.concatenate(truths), np.concatenate(predictions))
    for key, value in expected.items():
        assert result[key] == pytest.approx(value)
    assert set(result) >= {"f1", "iou", "precision", "recall", "kappa"}


def test_change_levir_labels_as_predictions(capsys, tmp_path, shared, scores):
    root = shared("change_samples", "samples_LEVIR")
    shutil.copytree(root / "label", tmp_path / "preds")
    result = scores(capsys, tmp_path, "change", root, tmp_path / "preds")
    assert result["f1"] == result["iou"] == result["precision"] == result["recall"] == 1.0


def test_change_oscd_city_names(capsys, tmp_path, shared, scores):
    """OSCD labels (1 = no change, 2 = change) -> 0/255 predictions named <city>-cm.tif, one city emptied."""
    import rasterio

    root = shared("oscd")
    truths, predictions = [], []
    for city_dir in sorted((root / "labels").iterdir()):
        with rasterio.open(city_dir / "cm" / f"{city_dir.name}-cm.tif") as src:
            truth = src.read(1) == 2
        pred = np.zeros_like(truth) if city_dir.name == "paris" else truth
        name = f"{city_dir.name}-cm.tif" if city_dir.name != "pisa" else "pisa.png"
        _png(tmp_path / "preds" / name, pred * 255)
        truths.append(truth.ravel())
        predictions.append(pred.ravel())
    result = scores(capsys, tmp_path, "change", root, tmp_path / "preds")
    expected = _change_counts(np.concatenate(truths), np.concatenate(predictions))
    assert result["recall"] == pytest.approx(expected["recall"]) and result["precision"] == 1.0


# ----------------------------------------------------------------------------- captions, retrieval, VQA, grounding


CAPTIONS = {
    "a.jpg": ["many green trees grow in a dense forest", "a forest of tall green trees"],
    "b.jpg": ["a white plane parked at the airport", "one plane stands near the terminal building"],
    "c.jpg": ["several boats are moored in the harbor", "the harbor holds many small boats"],
}


def _caption_json(root):
    images = []
    for name, caps in CAPTIONS.items():
        _png(root / "images" / name.replace(".jpg", ".png"), np.zeros((4, 4)))
        shutil.move(root / "images" / name.replace(".jpg", ".png"), root / "images" / name)
        images.append({"filename": name, "split": "test", "sentences": [{"raw": c} for c in caps]})
    (root / "dataset.json").write_text(json.dumps({"images": images}))
    return root / "dataset.json"


def test_captioning(capsys, tmp_path, scores):
    """Predicting a reference exactly: every n-gram matches and the closest reference length is its own,
    so BLEU-1..4 are 1; the longest common subsequence is the whole caption, so ROUGE-L is 1."""
    data = _caption_json(tmp_path / "cap")
    preds = [
        {"image": name.replace(".jpg", "") if name == "b.jpg" else name, "caption": caps[0]}
        for name, caps in CAPTIONS.items()
    ]
    (tmp_path / "caps.json").write_text(json.dumps(preds))
    result = scores(capsys, tmp_path, "captioning", data, tmp_path / "caps.json", "--split", "test")
    for key in ("bleu1", "bleu2", "bleu3", "bleu4", "rouge_l"):
        assert result[key] == pytest.approx(1.0, abs=1e-9)
    assert 0.9 < result["meteor"] <= 1.0 and result["cider"] > 1.0


def test_captioning_rsicd_test_caption0(capsys, tmp_path, shared, scores):
    shared("AID")
    root = shared("captions", "rsicd_precomp")
    names = (root / "test_filename.txt").read_text().split()
    caps = (root / "test_caps.txt").read_text().splitlines()
    aid = {p.name for p in shared("AID").rglob("*.jpg")}
    first = {}
    for name, cap in zip(names, caps):  # one name line per caption line in the test list
        if name in aid:
            first.setdefault(name, cap.strip())
    (tmp_path / "caps.json").write_text(json.dumps([{"image": n, "caption": c} for n, c in first.items()]))
    result = scores(capsys, tmp_path, "captioning", root, tmp_path / "caps.json")  # 66 test names are not AID's
    assert len(first) == 1027
    for key in ("bleu1", "bleu2", "bleu3", "bleu4", "rouge_l"):
        assert result[key] == pytest.approx(1.0, abs=1e-9)


def test_retrieval(capsys, tmp_path, scores):
    """3 images x 2 captions. Own captions on top: every recall is 1. Own captions at the bottom: an
    image's best own caption has the 4 other captions above it (R@1 no, R@5 yes); a caption's image
    has the 2 other images above it (R@1 no, R@5 yes): mean recall 4/6."""
    data = _caption_json(tmp_path / "cap")
    owner = np.repeat(np.arange(3), 2)
    own = owner[None, :] == np.arange(3)[:, None]
    np.save(tmp_path / "top.npy", own.astype(np.float32))
    result = scores(capsys, tmp_path, "retrieval", data, tmp_path / "top.npy")
    assert result["mean_recall"] == 1.0
    np.save(tmp_path / "bottom.npy", (~own).astype(np.float32) + np.arange(6) * 0.01)
    result = scores(capsys, tmp_path, "retrieval", data, tmp_path / "bottom.npy")
    assert (result["i2t_r1"], result["i2t_r5"], result["t2i_r1"], result["t2i_r5"]) == (0.0, 1.0, 0.0, 1.0)
    assert result["mean_recall"] == pytest.approx(4 / 6)


def _rsvqa(root):
    root.mkdir()
    questions = [
        {"id": 1, "img_id": 1, "type": "presence", "question": "Is there a road?", "answers_ids": [1], "active": True},
        {"id": 2, "img_id": 1, "type": "presence", "question": "Is there water?", "answers_ids": [2], "active": True},
        {"id": 3, "img_id": 1, "type": "count", "question": "How many buildings?", "answers_ids": [3], "active": True},
        {
            "id": 4,
            "img_id": 1,
            "type": "rural_urban",
            "question": "Rural or urban?",
            "answers_ids": [4],
            "active": True,
        },
    ]
    answers = [
        {"id": i, "question_id": i, "answer": a, "active": True}
        for i, a in zip((1, 2, 3, 4), ("yes", "no", "4", "rural"))
    ]
    for key, items in (("questions", questions), ("answers", answers), ("images", [{"id": 1, "active": True}])):
        (root / f"LR_split_test_{key}.json").write_text(json.dumps({key: items}))
    _png(root / "Images_LR" / "1.png", np.zeros((4, 4)))


def test_vqa(capsys, tmp_path, scores):
    _rsvqa(tmp_path / "vqa")
    preds = [
        {"question_id": 1, "answer": "Yes"},
        {"question_id": "2", "answer": "yes"},
        {"question_id": 3, "answer": 4},
        {"question_id": 4, "answer": "urban"},
    ]
    (tmp_path / "answers.json").write_text(json.dumps(preds))
    result = scores(capsys, tmp_path, "vqa", tmp_path / "vqa", tmp_path / "answers.json")
    assert result["accuracy"] == 2 / 4
    assert (result["accuracy_presence"], result["accuracy_count"], result["accuracy_rural_urban"]) == (0.5, 1.0, 0.0)


RSVG = """<annotation><filename>7.jpg</filename><size><width>200</width><height>200</height></size>
<object><name>golffield</name><bndbox><xmin>0</xmin><ymin>0</ymin><xmax>100</xmax><ymax>100</ymax></bndbox>
<description>the golf field on the left</description></object>
<object><name>pond</name><bndbox><xmin>120</xmin><ymin>120</ymin><xmax>180</xmax><ymax>160</ymax></bndbox>
<description>a small pond</description></object></annotation>"""


def test_grounding(capsys, tmp_path, scores):
    """One exact box, one box covering 40 % of its target (100 x 40 in 100 x 100): Acc@0.5 = 1/2, mIoU = 0.7."""
    (tmp_path / "rsvg" / "Annotations").mkdir(parents=True)
    (tmp_path / "rsvg" / "Annotations" / "7.xml").write_text(RSVG)
    _png(tmp_path / "rsvg" / "JPEGImages" / "7.png", np.zeros((200, 200)))
    preds = [{"id": "7_0", "box": [0, 0, 100, 40]}, {"id": "7_1", "box": [120, 120, 180, 160]}]
    (tmp_path / "boxes.json").write_text(json.dumps(preds))
    result = scores(capsys, tmp_path, "grounding", tmp_path / "rsvg", tmp_path / "boxes.json", "--format", "rsvg")
    assert result["acc_at_0.5"] == 0.5 and result["miou"] == pytest.approx(0.7)


def test_grounding_rsvg_sample(capsys, tmp_path, shared, scores):
    import re

    root = shared("format_samples", "rsvg")
    xml = next((root / "Annotations").glob("*.xml"))
    box = [
        float(re.search(f"<{k}>([\\d.]+)</{k}>", xml.read_text()).group(1)) for k in ("xmin", "ymin", "xmax", "ymax")
    ]
    (tmp_path / "boxes.json").write_text(json.dumps([{"id": f"{xml.stem}_0", "box": box}]))
    result = scores(capsys, tmp_path, "grounding", root, tmp_path / "boxes.json")
    assert result["acc_at_0.5"] == 1.0 and result["miou"] == 1.0


# ----------------------------------------------------------------------------- output and bad input


def test_json_to_stdout(capsys, tmp_path, run_cli):
    data = _caption_json(tmp_path / "cap")
    np.save(tmp_path / "s.npy", np.eye(3, 6))
    code, out, _ = run_cli(
        capsys, "eval", "retrieval", "--data", data, "--predictions", tmp_path / "s.npy", "--json", "-"
    )
    keys = {"i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10", "mean_recall"}
    assert code == 0 and set(json.loads(out)) == keys


def test_bad_input_one_line_exit_2(capsys, tmp_path, run_cli):
    _folder_dataset(tmp_path / "data", ("beach", "forest"), per_class=2)
    caption_data = _caption_json(tmp_path / "cap")
    (tmp_path / "empty").mkdir()
    np.save(tmp_path / "s.npy", np.eye(3, 5))
    csv = {}
    for name, text in [
        ("ok", "path,class\nbeach_0.png,beach\nbeach_1.png,beach\nforest_0.png,forest\nforest_1.png,forest\n"),
        (
            "extra",
            "path,class\nbeach_0.png,beach\nbeach_1.png,beach\nforest_0.png,forest\nforest_1.png,forest\nx.png,beach\n",
        ),
        ("missing", "path,class\nbeach_0.png,beach\n"),
    ]:
        csv[name] = tmp_path / f"{name}.csv"
        csv[name].write_text(text)
    cases = [
        (("segmentaton", tmp_path / "data", csv["ok"]), "unknown task 'segmentaton'; tasks: classification"),
        (("classification", tmp_path / "data", tmp_path / "none.csv"), "no such predictions file or folder"),
        (("classification", tmp_path / "nodata", csv["ok"]), "no such dataset path or name"),
        (("detection", tmp_path / "data", tmp_path / "empty"), "detection cannot be scored on 'folder' data (guessed"),
        (("classification", tmp_path / "data", csv["ok"], "--format", "tiff"), "unknown format 'tiff'"),
        (
            ("captioning", caption_data, csv["ok"], "--split-file", csv["ok"]),
            "(--split-file) does not apply to 'caption-json'",
        ),
        (("retrieval", caption_data, tmp_path / "s.npy"), "similarity is 3 x 5, the dataset has 3 images x 6 captions"),
        (
            ("classification", tmp_path / "data", csv["extra"]),
            "1 predictions name no sample of the dataset (first: x.png)",
        ),
        (
            ("classification", tmp_path / "data", csv["missing"]),
            "3 of 4 samples have no prediction (first: beach/beach_1.png,",
        ),
        (("classification", tmp_path / "empty", csv["ok"]), "is an empty folder: no images or annotations"),
    ]
    for (task, data, preds, *extra), message in cases:
        code, _, err = run_cli(capsys, "eval", task, "--data", data, "--predictions", preds, *extra)
        assert code == 2 and err.startswith("error: ") and message in err, (message, err)
        assert len(err.strip().splitlines()) == 1, err


def test_bad_detection_files(capsys, tmp_path, shared, run_cli):
    root = shared("dota", "devkit_example")
    for name, text, message in [
        ("plane", "P1888 0.5 1 2 3\n", "Task1_plane.txt:1: expected 'imgname score x1 y1"),
        ("plane", "P1888 high 1 2 3 4 5 6 7 8\n", "non-numeric score or coordinates"),
        ("jet", "P1888 0.5 1 2 3 4 5 6 7 8\n", "unknown class 'jet'"),
        ("plane", "P9999 0.5 1 2 3 4 5 6 7 8\n", "1 prediction images name no sample of the dataset (first: P9999)"),
    ]:
        folder = tmp_path / f"{name}-{len(text)}"
        folder.mkdir()
        (folder / f"Task1_{name}.txt").write_text(text)
        code, _, err = run_cli(capsys, "eval", "detection", "--data", root, "--predictions", folder)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_bad_masks(capsys, tmp_path, run_cli):
    data = tmp_path / "seg"
    (data).mkdir()
    (data / "classes.txt").write_text("a\nb\n")
    _png(data / "images" / "t.png", np.zeros((4, 4, 3)))
    _png(data / "masks" / "t.png", np.zeros((4, 4)))
    for pred, message in [
        (np.zeros((4, 5)), "predicted mask is 5 x 4, its label is 4 x 4"),
        (np.full((4, 4), 2), "prediction holds label 2 outside [0, 2)"),
    ]:
        _png(tmp_path / "p" / "t.png", pred)
        code, _, err = run_cli(capsys, "eval", "segmentation", "--data", data, "--predictions", tmp_path / "p")
        assert code == 2 and message in err and "t.png" in err and len(err.strip().splitlines()) == 1, err


def test_without_predictions_a_model_runs(capsys, tmp_path, run_cli):
    # no --predictions and no -m: the task's built-in model runs, once the data is there to run it on
    code, _, err = run_cli(capsys, "eval", "captioning", "--data", tmp_path)
    assert code == 2 and "empty folder" in err
