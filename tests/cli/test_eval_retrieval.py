"""`rsvision eval retrieval` on a tiny generated AID-like folder with RSICD precomp captions beside it."""

import json

import numpy as np
import pytest
from PIL import Image

from rsvision.core.settings import torch_threads

THINGS = ("ships", "planes", "houses", "trees")
NUMBERS = ("one", "two", "three")


def aid_like(root):
    """AID/<Class>/<name>.png with captions/rsicd_precomp beside it: 12 test images x 2 captions (one name line
    per caption line, as RSICD's test files), 1 train image."""
    rng = np.random.default_rng(0)
    names, caps, images = [], [], []
    for thing in THINGS:
        for n in NUMBERS:
            name = f"{thing}_{n}.png"
            image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            (root / "AID" / thing.title()).mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(root / "AID" / thing.title() / name)
            images.append(image.transpose(2, 0, 1))
            for cap in (f"{n} {thing} seen from above", f"an aerial photo of {n} {thing}"):
                names.append(name)
                caps.append(cap)
    precomp = root / "captions" / "rsicd_precomp"
    precomp.mkdir(parents=True)
    (precomp / "test_filename.txt").write_text("\n".join(names) + "\n")
    (precomp / "test_caps.txt").write_text("\n".join(caps) + "\n")
    (precomp / "train_filename.txt").write_text(names[0] + "\n")
    (precomp / "train_caps.txt").write_text(caps[0] + "\n")
    return root / "AID", np.stack(images), caps


@pytest.fixture(scope="module")
def folder_and_model(tmp_path_factory, tiny_dual_encoder_trainer):
    """The folder and a scratch dual encoder over-fitted to its test pairs (so its recall must be high)."""
    root = tmp_path_factory.mktemp("rsicd")
    aid, images, caps = aid_like(root)
    return aid, tiny_dual_encoder_trainer(list(images), caps, root, epochs=200, batch_size=12, context=8)


def test_eval_retrieval_end_to_end(capsys, run_cli, folder_and_model, tmp_path):
    aid, model = folder_and_model
    out = tmp_path / "r.json"
    with torch_threads(1):
        code, _, stderr = run_cli(capsys, "eval", "retrieval", "--data", aid, "-m", model, "--json", out, "-q")
    assert code in (0, None), stderr
    result = json.loads(out.read_text())
    keys = ("i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10", "mean_recall")
    assert all(0 <= result[k] <= 1 for k in keys)
    assert result["n_images"] == 12 and result["n_captions"] == 24
    assert result["mean_recall"] >= 0.9


def test_default_model_absent(capsys, run_cli, folder_and_model, monkeypatch):
    """A copy of the package without its dual encoder (weights removed) says how to train one, in one line."""
    from rsvision.models import embedder

    monkeypatch.setattr(embedder, "builtin_weights", lambda: {})
    aid, _ = folder_and_model
    code, _, err = run_cli(capsys, "eval", "retrieval", "--data", aid, "-q")
    assert code == 2
    assert "rsicd_dual_encoder is not shipped yet" in err and len(err.strip().splitlines()) == 1


def test_empty_caption_file(capsys, run_cli, folder_and_model, tmp_path):
    _, model = folder_and_model
    root = tmp_path / "empty"
    (root / "AID" / "Ships").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "AID" / "Ships" / "a.png")
    precomp = root / "captions" / "rsicd_precomp"
    precomp.mkdir(parents=True)
    for name in ("train_filename", "train_caps", "test_filename", "test_caps"):
        (precomp / f"{name}.txt").write_text("")
    code, _, err = run_cli(capsys, "eval", "retrieval", "--data", root / "AID", "-m", model, "-q")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "empty" in err
