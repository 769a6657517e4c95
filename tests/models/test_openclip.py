"""`-m openclip:ARCH:PATH`: a tiny randomly initialised open_clip model saved as published checkpoints are (a bare
state dict, and a dict holding `state_dict` with DataParallel's `module.` prefix) loads into the same embeddings."""

import json
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rsvision.core.settings import torch_threads
from rsvision.errors import TextTruncatedWarning, WeightsError
from rsvision.models.embedder import load_embedder
from rsvision.models.resolve import resolve_model
from rsvision.models.weights import Task

open_clip = pytest.importorskip("open_clip", reason="the openclip loader needs open_clip_torch")

ARCH = "rsv-tiny-clip"
CONFIG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
TEXTS = ["an aerial photo of an airport.", "a forest seen from above."]


@pytest.fixture(autouse=True)
def one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny model (registered with open_clip under ARCH) and its checkpoint in both published layouts."""
    root = tmp_path_factory.mktemp("openclip")
    (root / f"{ARCH}.json").write_text(json.dumps(CONFIG))
    open_clip.add_model_config(root / f"{ARCH}.json")
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = open_clip.create_model(ARCH, pretrained=None).eval()
    state = model.state_dict()
    torch.save(state, root / "bare.pt")
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}}, root / "wrapped.pt")
    return model, root


def reference(model, images: np.ndarray, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """open_clip's own embeddings: its normalisation of 0-255 RGB at the model's size, its tokenizer."""
    mean = torch.tensor(model.visual.image_mean).view(1, 3, 1, 1)
    std = torch.tensor(model.visual.image_std).view(1, 3, 1, 1)
    x = (torch.from_numpy(images).float() / 255 - mean) / std
    with torch.no_grad():
        img = F.normalize(model.encode_image(x), dim=-1)
        txt = F.normalize(model.encode_text(open_clip.get_tokenizer(ARCH)(texts)), dim=-1)
    return img.numpy(), txt.numpy()


@pytest.mark.parametrize("layout", ["bare.pt", "wrapped.pt"])
def test_checkpoint_round_trips(tiny, layout):
    model, root = tiny
    images = np.random.default_rng(0).integers(0, 256, (3, 3, 32, 32), dtype=np.uint8)
    embedder = load_embedder(f"openclip:{ARCH}:{root / layout}")
    want_img, want_txt = reference(model, images, TEXTS)
    assert np.allclose(embedder.embed_images(images), want_img, atol=1e-5)
    assert np.allclose(embedder.embed_texts(TEXTS), want_txt, atol=1e-5)
    assert embedder.dim == 16 and embedder.scale == pytest.approx(float(model.logit_scale.detach().exp()))


def test_card_records_tokenizer_and_preprocessing(tiny):
    model, root = tiny
    loaded = resolve_model(f"openclip:{ARCH}:{root / 'bare.pt'}", Task.EMBEDDING)
    card = loaded.weights
    assert card.task == Task.EMBEDDING and card.architecture == f"openclip:{ARCH}" and card.classes == []
    assert card.preprocessing.input_size == 32 and card.preprocessing.scale == 255
    assert card.preprocessing.mean == pytest.approx(list(model.visual.image_mean))
    assert card.preprocessing.std == pytest.approx(list(model.visual.image_std))
    assert "SimpleTokenizer" in card.architecture_kwargs["tokenizer"]
    assert card.architecture_kwargs["context_length"] == 16


def test_long_text_is_truncated_with_a_warning(tiny):
    _, root = tiny
    embedder = load_embedder(f"openclip:{ARCH}:{root / 'bare.pt'}")
    with pytest.warns(TextTruncatedWarning, match="16 tokens"):
        out = embedder.embed_texts([" ".join(["river"] * 40)])
    assert out.shape == (1, 16)


def test_wrong_file_is_one_line(tiny, tmp_path):
    _, root = tiny
    torch.save({"conv1.weight": torch.zeros(8, 3, 3, 3)}, tmp_path / "other.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    for path, match in ((tmp_path / "other.pt", "does not fit"), (tmp_path / "junk.pt", "not a readable")):
        with pytest.raises(WeightsError, match=match) as err:
            load_embedder(f"openclip:{ARCH}:{path}")
        assert "\n" not in str(err.value)
    with pytest.raises(WeightsError, match="no architecture"):
        load_embedder(f"openclip:no-such-arch:{root / 'bare.pt'}")


def test_hub_offline_is_one_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsError, match="HF_HUB_OFFLINE") as err:
        load_embedder("openclip:hf-hub:someone/RemoteCLIP")
    assert "\n" not in str(err.value)
