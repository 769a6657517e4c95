"""The decoder captioner over-fits a handful of images: trained on four images' tokens, it says their captions."""

import numpy as np
import torch

from rsvision.core.settings import torch_threads
from rsvision.models.captioner import CaptionDecoder, build_caption_vocabulary
from rsvision.train.captioning import CaptionConfig, decode_tokens, fit_caption_decoder

CAPTIONS = [
    ["many green trees are in a forest"],
    ["a plane is parked at the airport"],
    ["some boats are in the harbour"],
    ["a river runs through the desert"],
]


def test_decoder_overfits_four_images(tmp_path):
    with torch_threads(1):
        torch.manual_seed(0)
        vocab = build_caption_vocabulary([c for cs in CAPTIONS for c in cs], min_count=1)
        model = CaptionDecoder(vocab, width=32, layers=1, heads=2, context=12, dropout=0.0)
        tokens = np.random.default_rng(0).normal(size=(4, 4, model.encoder.num_features)).astype(np.float16)
        config = CaptionConfig(epochs=80, batch_size=4, lr=3e-3, warmup_epochs=0, label_smoothing=0.0, eval_every=20)
        result = fit_caption_decoder(model, tokens, CAPTIONS, tokens, CAPTIONS, config, tmp_path, log=lambda _: None)
        assert result.best_val_cider > 5.0
        assert decode_tokens(model, tokens) == [cs[0] for cs in CAPTIONS]
        assert (tmp_path / "last.pt").is_file()
