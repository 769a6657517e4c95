import numpy as np
import torch

from rsvision.models.captioner import CaptionMemory
from rsvision.tasks.captioning import NgramConsensus, RetrievalCaptioner


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
