import random

import pytest

from rsvision.errors import MetricInputError
from rsvision.metrics.captioning import CaptionMetric, caption_scores, tokenize_caption

pycoco_bleu = pytest.importorskip("pycocoevalcap.bleu.bleu")
pycoco_rouge = pytest.importorskip("pycocoevalcap.rouge.rouge")
pycoco_cider = pytest.importorskip("pycocoevalcap.cider.cider")

VOCAB = [f"w{i}" for i in range(20)] + ["a", "the", "of", "with", "many", "green", "trees", "building"]


def _caption_set(seed, n_images=50):
    """Pre-tokenised captions: 1-5 references per image; predictions random or edited copies of a reference."""
    rng = random.Random(seed)

    def sentence():
        return [rng.choice(VOCAB) for _ in range(rng.randint(1, 14))]

    refs, preds = {}, {}
    for i in range(n_images):
        rs = [sentence() for _ in range(rng.randint(1, 5))]
        if rng.random() < 0.5:
            pred = list(rng.choice(rs))
            for _ in range(rng.randint(0, 3)):
                op = rng.random()
                if op < 0.4 and pred:
                    pred[rng.randrange(len(pred))] = rng.choice(VOCAB)
                elif op < 0.7 and len(pred) > 1:
                    del pred[rng.randrange(len(pred))]
                else:
                    pred.insert(rng.randint(0, len(pred)), rng.choice(VOCAB))
        else:
            pred = sentence()
        refs[f"img{i}"] = [" ".join(r) for r in rs]
        preds[f"img{i}"] = " ".join(pred)
    return refs, preds


@pytest.mark.parametrize("seed", range(4))
def test_equals_pycocoevalcap(seed):
    refs, preds = _caption_set(seed)
    res = {k: [v] for k, v in preds.items()}
    bleu, _ = pycoco_bleu.Bleu(4).compute_score(refs, res, verbose=0)
    rouge, _ = pycoco_rouge.Rouge().compute_score(refs, res)
    cider, _ = pycoco_cider.Cider().compute_score(refs, res)
    ours = caption_scores(refs, preds, tokenize=False)
    expected = {
        "bleu1": bleu[0],
        "bleu2": bleu[1],
        "bleu3": bleu[2],
        "bleu4": bleu[3],
        "rouge_l": rouge,
        "cider": cider,
    }
    for key, value in expected.items():
        assert ours[key] == pytest.approx(value, abs=1e-6), key
    assert ours["bleu4"] > 0.05 and ours["cider"] > 0.5  # the edited copies give real higher-order overlap


def test_streamed_updates_equal_one_shot():
    refs, preds = _caption_set(7, 20)
    keys = list(refs)
    m = CaptionMetric(tokenize=False)
    m.update({k: refs[k] for k in keys[:8]}, {k: preds[k] for k in keys[:8]})
    m.update({k: refs[k] for k in keys[8:]}, {k: preds[k] for k in keys[8:]})
    assert m.compute() == caption_scores(refs, preds, tokenize=False)


def test_perfect_captions():
    refs = {i: [f"there are {n} planes on the apron", "many planes are parked"] for i, n in enumerate(VOCAB[:10])}
    preds = {i: r[0] for i, r in refs.items()}
    out = caption_scores(refs, preds)
    assert out["bleu4"] == pytest.approx(1.0) and out["rouge_l"] == pytest.approx(1.0)
    assert out["cider"] > 1.0  # CIDEr-D is not bounded by 1


def test_tokenizer():
    assert tokenize_caption("A plane's wing, near two well-known buildings.") == [
        "a",
        "plane",
        "'s",
        "wing",
        "near",
        "two",
        "well-known",
        "buildings",
    ]
    assert tokenize_caption('It is 3.5 km long (roughly) -- "really"!') == [
        "it",
        "is",
        "3.5",
        "km",
        "long",
        "roughly",
        "really",
    ]
    assert tokenize_caption("Don't  go") == ["do", "n't", "go"]


def test_mismatched_images():
    with pytest.raises(MetricInputError, match="1 image\\(s\\) without a prediction"):
        caption_scores({"a": ["x"], "b": ["y"]}, {"a": "x"})
    with pytest.raises(MetricInputError, match="non-empty list"):
        caption_scores({"a": []}, {"a": "x"})
    with pytest.raises(MetricInputError, match="must be a string"):
        caption_scores({"a": ["x"]}, {"a": ["x"]})
