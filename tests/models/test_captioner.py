import numpy as np
import pytest
import torch

from rsvision.models.captioner import (
    BOS,
    EOS,
    PAD,
    RANKER_FEATURES,
    SPECIALS,
    CandidateRanker,
    CaptionDecoder,
    CaptionFusion,
    CaptionMemory,
    build_caption_vocabulary,
)
from rsvision.models.preprocess import Preprocessing
from rsvision.models.registry import build_model
from rsvision.models.resolve import resolve_model
from rsvision.models.weights import Task, save_weights


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


def test_a_memory_with_a_ranker_keeps_it_through_its_card_and_state(tmp_path):

    caps = [["a forest", "green trees"], ["a desert"]]
    memory = CaptionMemory.from_captions(torch.randn(2, 8), caps, "some_encoder", k=2)
    weights = np.arange(len(RANKER_FEATURES), dtype=np.float32)
    memory.ranker = CandidateRanker.from_parts(
        np.random.randn(3, 8),
        ["forest", "désert"],
        (torch.randn(8, 2), torch.randn(2)),
        (np.zeros(8), np.ones(8)),
        weights,
    )
    query = torch.randn(1, 8)
    before = memory.ranker.word_probabilities(query)
    prep = Preprocessing(
        bands=["red", "green", "blue"], scale=255, value_range=(0, 255), mean=[0.4] * 3, std=[0.25] * 3, input_size=32
    )
    card = {"task": Task.CAPTIONING, "architecture": "caption_memory", "classes": [], "licence": "-", "command": "-"}
    save_weights(memory, tmp_path, "m", architecture_kwargs=memory.card_kwargs(), preprocessing=prep, **card)
    loaded = resolve_model(str(tmp_path / "m.safetensors")).module
    assert loaded.ranker is not None and loaded.ranker.words == ["forest", "désert"]
    assert torch.equal(loaded.ranker.word_probabilities(query), before)  # nothing rounded on the way
    assert loaded.ranker.weights.tolist() == weights.tolist()
    assert CaptionMemory(**memory.card_kwargs()).ranker is not None
    plain = CaptionMemory.from_captions(torch.randn(2, 8), caps, "some_encoder")
    assert plain.ranker is None and "ranker_words" not in plain.card_kwargs()


def test_a_decoder_reads_retrieved_captions_beside_the_image():
    vocab = [*SPECIALS, "a", "forest", "desert"]
    plain = CaptionDecoder(vocab, width=16, layers=1, heads=2, context=8)
    assert not any(k.startswith("retrieved") for k in plain.state_dict())  # older cards load unchanged
    model = CaptionDecoder(vocab, width=16, layers=1, heads=2, context=8, retrieved=2, retrieved_len=4).eval()
    retrieved = model.retrieved_ids([["a forest", "a desert far away"], []])
    assert retrieved.shape == (2, 2, 4)
    assert retrieved[0, 0].tolist() == [vocab.index("a"), vocab.index("forest"), EOS, PAD]
    assert retrieved[0, 1].tolist() == [vocab.index("a"), vocab.index("desert"), 3, 3]  # unknown words, cut
    assert (retrieved[1] == PAD).all()
    tokens = model.image_tokens(torch.randn(2, 3, 64, 64))
    memory, mask = model.memory(tokens, retrieved)
    assert memory.shape == (2, 4 + 2 * 4, 16) and mask[1, 4:].all() and not mask[:, :4].any()
    logits = model.logits(tokens, model.encode_ids(["a forest", "a desert"])[:, :3], retrieved)
    assert logits.shape == (2, 3, len(vocab)) and torch.isfinite(logits).all()
    assert len(model.generate(tokens, beam=2, max_len=4, retrieved=retrieved)) == 2
    with pytest.raises(ValueError, match="retrieved captions"):
        model.logits(tokens, model.encode_ids(["a forest"] * 2)[:, :3])


def test_a_fusion_keeps_its_decoder_and_memory_through_its_card(tmp_path):
    vocab = [*SPECIALS, "a", "forest", "desert"]
    kwargs = {"vocab": vocab, "width": 16, "layers": 1, "heads": 2, "context": 8, "retrieved": 2, "retrieved_len": 4}
    decoder = CaptionDecoder(**kwargs)
    memory = CaptionMemory.from_captions(torch.randn(2, 8), [["a forest"], ["a desert"]], "some_encoder", k=2)
    memory.embedder_sha256 = "abc"
    fusion = CaptionFusion.of(decoder, kwargs, memory)
    prep = Preprocessing(
        bands=["red", "green", "blue"], scale=255, value_range=(0, 255), mean=[0.4] * 3, std=[0.25] * 3, input_size=32
    )
    card = {"task": Task.CAPTIONING, "architecture": "caption_fusion", "classes": [], "licence": "-", "command": "-"}
    save_weights(fusion, tmp_path, "f", architecture_kwargs=fusion.card_kwargs(), preprocessing=prep, **card)
    loaded = resolve_model(str(tmp_path / "f.safetensors")).module
    assert isinstance(loaded, CaptionFusion) and loaded.memory.captions == ["a forest", "a desert"]
    assert loaded.memory.embedder_sha256 == "abc" and loaded.decoder.retrieved == 2
    ids = decoder.retrieved_ids([["a forest"]])
    tokens = torch.randn(1, 4, decoder.encoder.num_features)
    x = decoder.encode_ids(["a desert"])[:, :3]
    expected = decoder.eval().logits(tokens, x, ids)
    assert torch.allclose(loaded.decoder.eval().logits(tokens, x, ids), expected, atol=1e-2)  # float16 on disk
