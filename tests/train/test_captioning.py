"""The decoder captioner over-fits a handful of images: trained on four images' tokens, it says their captions; and
self-critical training raises the CIDEr-D of the captions it samples."""

import numpy as np
import pytest
import torch

from rsvision.core.settings import torch_threads
from rsvision.models.captioner import CaptionDecoder, build_caption_vocabulary
from rsvision.train.captioning import (
    CaptionConfig,
    CaptionParts,
    ScstConfig,
    decode_tokens,
    fit_caption_decoder,
    fit_caption_scst,
)

CAPTIONS = [
    ["many green trees are in a forest"],
    ["a plane is parked at the airport"],
    ["some boats are in the harbour"],
    ["a river runs through the desert"],
]


def tiny_decoder() -> tuple[CaptionDecoder, np.ndarray]:
    """A one-layer decoder over the four captions' words, and four images' random tokens."""
    torch.manual_seed(0)
    vocab = build_caption_vocabulary([c for cs in CAPTIONS for c in cs], min_count=1)
    model = CaptionDecoder(vocab, width=32, layers=1, heads=2, context=12, dropout=0.0)
    return model, np.random.default_rng(0).normal(size=(4, 4, model.encoder.num_features)).astype(np.float16)


def test_decoder_overfits_four_images(tmp_path):
    with torch_threads(1):
        model, tokens = tiny_decoder()
        config = CaptionConfig(epochs=80, batch_size=4, lr=3e-3, warmup_epochs=0, label_smoothing=0.0, eval_every=20)
        result = fit_caption_decoder(
            model, CaptionParts(tokens, CAPTIONS, tokens, CAPTIONS), config, tmp_path, log=lambda _: None
        )
        assert result.best_val_cider > 5.0
        assert decode_tokens(model, tokens) == [cs[0] for cs in CAPTIONS]
        assert (tmp_path / "last.pt").is_file()


def test_self_critical_training_raises_the_sampled_captions_reward(tmp_path):
    with torch_threads(1):
        model, tokens = tiny_decoder()
        config = CaptionConfig(epochs=15, batch_size=4, lr=3e-3, warmup_epochs=0, label_smoothing=0.0, eval_every=15)
        parts = CaptionParts(tokens, CAPTIONS, tokens, CAPTIONS)
        fit_caption_decoder(model, parts, config, tmp_path / "xe", log=lambda _: None)
        scst = ScstConfig(epochs=40, batch_size=4, samples=4, lr=3e-3, max_len=10)
        result = fit_caption_scst(model, parts, scst, tmp_path / "scst", log=lambda _: None)
        rewards = [row["train_reward"] for row in result.history[1:]]
        assert np.mean(rewards[-5:]) > 1.3 * np.mean(rewards[:5]), rewards
        assert result.history[0]["epoch"] == 0 and result.best_val_cider >= result.history[0]["val_cider"]
        assert (tmp_path / "scst" / "last.pt").is_file()


def test_a_fusion_decoder_learns_to_read_the_retrieved_captions(tmp_path):
    """Four images with the same tokens, each with its own caption retrieved for it: only the retrieved captions
    tell the images apart, so saying each one's caption means they are read (and a swapped retrieval is followed)."""
    with torch_threads(1):
        torch.manual_seed(0)
        vocab = build_caption_vocabulary([c for cs in CAPTIONS for c in cs], min_count=1)
        model = CaptionDecoder(vocab, width=32, layers=1, heads=2, context=12, dropout=0.0, retrieved=1)
        tokens = np.zeros((4, 4, model.encoder.num_features), np.float16)
        retrieved = model.retrieved_ids(CAPTIONS)
        config = CaptionConfig(epochs=80, batch_size=4, lr=3e-3, warmup_epochs=0, label_smoothing=0.0, eval_every=20)
        parts = CaptionParts(tokens, CAPTIONS, tokens, CAPTIONS, retrieved, retrieved)
        result = fit_caption_decoder(model, parts, config, tmp_path, log=lambda _: None)
        assert result.best_val_cider > 5.0
        assert decode_tokens(model, tokens, retrieved=retrieved) == [cs[0] for cs in CAPTIONS]
        swapped = retrieved[[1, 0, 3, 2]]
        assert decode_tokens(model, tokens, retrieved=swapped) == [CAPTIONS[i][0] for i in (1, 0, 3, 2)]


def test_end_to_end_training_moves_the_encoder_and_overfits_four_images(tmp_path):
    """With an encoder learning rate the encoder reads cached images each step and learns with the decoder; four
    plain-coloured images (alike under every flip and turn) get their captions."""
    with torch_threads(1):
        model, _ = tiny_decoder()
        colours = np.array([[1, -1, 0], [-1, 1, 0], [0, -1, 1], [1, 1, -1]], np.float16)
        images = np.broadcast_to(colours[:, :, None, None], (4, 3, 64, 64)).copy()
        before = model.encoder.conv_stem.weight.detach().clone()
        config = CaptionConfig(
            epochs=60, batch_size=4, lr=3e-3, warmup_epochs=0, label_smoothing=0.0, eval_every=20, encoder_lr=1e-3
        )
        result = fit_caption_decoder(model, CaptionParts(images, CAPTIONS, images, CAPTIONS), config, tmp_path)
        assert not torch.equal(model.encoder.conv_stem.weight, before)
        assert result.best_val_cider > 5.0
        assert decode_tokens(model, images) == [cs[0] for cs in CAPTIONS]


def test_an_encoder_rate_without_images_is_refused(tmp_path):
    model, tokens = tiny_decoder()
    with pytest.raises(ValueError, match="cached images"):
        fit_caption_decoder(
            model, CaptionParts(tokens, CAPTIONS, tokens, CAPTIONS), CaptionConfig(encoder_lr=1e-4), tmp_path
        )
