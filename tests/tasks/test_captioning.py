import numpy as np
import pytest
import torch

from rsvision.errors import WeightsError
from rsvision.models.captioner import (
    RANKER_FEATURES,
    CaptionDecoder,
    CaptionFusion,
    CaptionMemory,
    build_caption_vocabulary,
)
from rsvision.models.embedder import DEFAULT_EMBEDDER, load_embedder
from rsvision.models.weights import Task, save_weights
from rsvision.tasks.captioning import (
    CandidateFeatures,
    FusionCaptioner,
    NgramConsensus,
    RetrievalCaptioner,
    consensus_top,
    load_captioner,
    neighbour_candidates,
)


def test_consensus_picks_the_caption_the_others_agree_with():
    pool = [
        "many green trees are in a forest",
        "a dense forest with many green trees",
        "many green trees are in a dense forest",
        "a plane is parked at the airport",
    ]
    consensus = NgramConsensus(pool)
    assert consensus.pick([0, 1, 2, 3], np.ones(4, np.float32)) in (0, 2)
    assert consensus.pick([3], np.ones(1, np.float32)) == 3
    # a heavily weighted neighbour's caption wins over the agreement of light ones
    assert consensus.pick([0, 3], np.array([0.1, 5.0], np.float32)) in (0, 3)


def test_retrieval_captioner_answers_from_the_nearest_images():
    keys = torch.nn.functional.normalize(torch.tensor([[1.0, 0, 0], [0.9, 0.1, 0], [0, 0, 1.0]]), dim=1)
    caps = [
        ["many green trees are in a forest", "a dense forest"],
        ["many green trees are in a dense forest"],
        ["a plane is parked at the airport", "two planes near a terminal"],
    ]
    captioner = RetrievalCaptioner(None, CaptionMemory.from_captions(keys, caps, "x", k=2))
    forest, airport = captioner.caption_embeddings(np.array([[1.0, 0.05, 0.0], [0.0, 0.1, 1.0]], np.float32))
    assert "forest" in forest.text and set(forest.neighbours) == {0, 1}
    assert "plane" in airport.text and airport.neighbours[0] == 2


class _Embedder:
    """Records how it was asked to embed; every image is the first memory key."""

    def __init__(self):
        self.calls = []

    def embed_images(self, images, tta=False):
        self.calls.append(tta)
        return np.tile(np.array([[1.0, 0.0, 0.0]], np.float32), (len(images), 1))


def test_a_memory_embedded_with_tta_embeds_its_queries_so():
    keys = torch.eye(3)[:2]
    caps = [["a dense forest"], ["a plane at the airport"]]
    for tta in (False, True):
        memory = CaptionMemory.from_captions(keys, caps, "x", k=1, tta=tta)
        assert memory.card_kwargs()["tta"] is tta
        rebuilt = CaptionMemory(**memory.card_kwargs())  # the card's kwargs build the same kind of memory
        assert rebuilt.tta is tta
        embedder = _Embedder()
        (caption,) = RetrievalCaptioner(embedder, memory).caption_images([np.zeros((3, 8, 8), np.uint8)])
        assert caption.text == "a dense forest" and embedder.calls == [tta]


def test_candidate_features_say_what_each_candidate_is():
    pool = ["a dense forest", "a dense forest", "many green trees in a dense forest", "a plane at the airport"]
    keys = torch.nn.functional.normalize(torch.tensor([[1.0, 0, 0], [0.9, 0.1, 0], [0.8, 0.2, 0.1]]), dim=1)
    memory = CaptionMemory.from_captions(keys, [pool[:2], pool[2:3], pool[3:]], "x", k=3)
    text = np.eye(4, 3, dtype=np.float32)
    features = CandidateFeatures(NgramConsensus(memory.captions), text, ["forest", "plane", "trees"])
    sims = keys.numpy() @ np.array([1.0, 0.0, 0.0], np.float32)
    near, candidates, weights, rank = neighbour_candidates(memory, sims, 3)
    assert near.tolist() == [0, 1, 2] and candidates == [0, 1, 2, 3] and rank.tolist() == [0, 0, 1, 2]
    word_p = np.array([0.9, 0.05, 0.5], np.float32)  # the image shows a forest and trees, no plane
    x = features.features(candidates, weights, rank, np.array([1.0, 0, 0], np.float32), word_p)
    assert x.shape == (4, len(RANKER_FEATURES))
    column = {name: x[:, i] for i, name in enumerate(RANKER_FEATURES)}
    assert column["repeats"].tolist() == pytest.approx([np.log(2), np.log(2), 0, 0])
    assert column["length"].argmax() == 2  # the longest caption, against the candidates' median
    assert column["word_recall"].argmax() == 2 and column["word_precision"].argmin() == 3
    assert column["image_text"].argmax() == 0 and abs(column["agreement"].mean()) < 1e-5  # standardised


def test_consensus_top_gives_distinct_captions_best_first_and_leaves_out_what_it_is_told():
    keys = torch.nn.functional.normalize(torch.tensor([[1.0, 0, 0], [0.9, 0.1, 0], [0.8, 0.2, 0]]), dim=1)
    caps = [
        ["many green trees are in a forest", "many green trees are in a forest ."],
        ["many green trees are in a dense forest"],
        ["a plane is parked at the airport"],
    ]
    memory = CaptionMemory.from_captions(keys, caps, "x", k=3)
    consensus = NgramConsensus(memory.captions)
    sims = keys.numpy() @ np.array([1.0, 0.0, 0.0], np.float32)
    near, texts = consensus_top(memory, consensus, sims, 3, 5)
    assert near.tolist() == [0, 1, 2] and len(texts) == 3  # the repeat (after tokenising) counted once
    assert "plane" in texts[-1] and "forest" in texts[0]
    sims[0] = -np.inf
    near, texts = consensus_top(memory, consensus, sims, 2, 1)
    assert near.tolist() == [1, 2] and len(texts) == 1


def test_a_saved_fusion_captions_through_load_captioner(tmp_path):
    embedder = load_embedder(DEFAULT_EMBEDDER)
    images = np.random.default_rng(0).integers(0, 255, (3, 3, 64, 64), dtype=np.uint8)
    keys = torch.from_numpy(embedder.embed_images(list(images), tta=True))
    caps = [["a dense forest"], ["a plane at the airport"], ["boats in a harbour"]]
    memory = CaptionMemory.from_captions(keys, caps, DEFAULT_EMBEDDER, k=2, tta=True)
    memory.embedder_sha256 = embedder.weights.sha256
    vocab = build_caption_vocabulary([c for cs in caps for c in cs], min_count=1)
    kwargs = {"vocab": vocab, "width": 16, "layers": 1, "heads": 2, "context": 8, "retrieved": 2}
    fusion = CaptionFusion.of(CaptionDecoder(**kwargs), kwargs, memory)
    card = {"task": Task.CAPTIONING, "architecture": "caption_fusion", "classes": [], "licence": "-", "command": "-"}
    save_weights(
        fusion, tmp_path, "f", architecture_kwargs=fusion.card_kwargs(), preprocessing=embedder.preprocessing, **card
    )
    captioner = load_captioner(str(tmp_path / "f.safetensors"))
    assert isinstance(captioner, FusionCaptioner) and captioner.k == 2
    (found,) = captioner.retriever.retrieve(embedder.embed_images([images[1]], tta=True))
    assert found[0][0] == 1 and caps[1][0] in found[2]  # the image's own memory entry comes first
    (caption,) = captioner.caption_images([images[1]])
    assert caption.neighbours[0] == 1 and set(caption.text.split()) <= set(vocab)
    memory.embedder_sha256 = "0" * 64  # a memory embedded by another dual encoder is refused
    fusion = CaptionFusion.of(CaptionDecoder(**kwargs), kwargs, memory)
    save_weights(
        fusion, tmp_path, "g", architecture_kwargs=fusion.card_kwargs(), preprocessing=embedder.preprocessing, **card
    )
    with pytest.raises(WeightsError, match="another"):
        load_captioner(str(tmp_path / "g.safetensors"))
