import numpy as np
import torch

from rsvision.models.captioner import (
    BOS,
    EOS,
    PAD,
    SPECIALS,
    CaptionDecoder,
    CaptionMemory,
    build_caption_vocabulary,
)
from rsvision.models.registry import build_model


def test_memory_keeps_captions_and_owners_through_its_state():
    caps = [["a forest", "green trees"], ["a desert é"], ["three ships", "a harbour", "boats"]]
    memory = CaptionMemory.from_captions(torch.randn(3, 8), caps, "some_encoder", k=2)
    assert memory.captions == [c for cs in caps for c in cs]
    assert memory.captions_of_image == [[0, 1], [2], [3, 4, 5]]
    rebuilt = build_model("caption_memory", 0, **memory.card_kwargs())
    rebuilt.load_state_dict(memory.state_dict())
    assert rebuilt.captions == memory.captions and rebuilt.k == 2 and rebuilt.embedder == "some_encoder"
    assert rebuilt.image_embeddings.dtype == torch.float16


def test_vocabulary_and_ids():
    vocab = build_caption_vocabulary(["a forest", "a forest", "a desert"], min_count=2)
    assert vocab == [*SPECIALS, "a", "forest"]
    model = CaptionDecoder(vocab, width=16, layers=1, heads=2, context=6)
    ids = model.encode_ids(["a forest", "a desert far away"])
    assert ids[0].tolist() == [BOS, vocab.index("a"), vocab.index("forest"), EOS, PAD, PAD]
    assert ids[1].tolist()[:3] == [BOS, vocab.index("a"), 3] and len(ids[1]) == 6  # unknown word, cut to context


def test_decoder_shapes_and_generation_from_image_tokens():
    vocab = [*SPECIALS, "a", "forest", "desert"]
    model = CaptionDecoder(vocab, width=16, layers=1, heads=2, context=8).eval()
    tokens = model.image_tokens(torch.randn(2, 3, 64, 64))
    assert tokens.shape == (2, 4, model.encoder.num_features)
    logits = model.logits(tokens, model.encode_ids(["a forest", "a desert"])[:, :4])
    assert logits.shape == (2, 4, len(vocab))
    captions = model.generate(tokens, beam=2, max_len=5)
    assert len(captions) == 2 and all(set(c.split()) <= {"a", "forest", "desert"} for c in captions)
    assert np.isfinite(logits.detach().numpy()).all()
