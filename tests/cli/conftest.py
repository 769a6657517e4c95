"""The command line, run in-process: exit code, stdout and stderr of one `rsvision` call; a tiny dual encoder
trained on generated images of two kinds (green forest, sandy desert) for the language commands."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rsvision.cli import main
from rsvision.core.settings import torch_threads
from rsvision.models.captioner import MEMORY_ARCH, CaptionMemory
from rsvision.models.embedder import load_embedder
from rsvision.models.language import build_vocabulary
from rsvision.models.preprocess import Preprocessing
from rsvision.models.registry import build_model
from rsvision.models.weights import Task, save_weights
from rsvision.train.loop import as_shipped
from rsvision.train.retrieval import PairFeatures, RetrievalConfig, extract_text_features, fit_retrieval


@pytest.fixture
def run_cli():
    def run(capsys, *argv):
        with pytest.raises(SystemExit) as done:
            main([str(a) for a in argv])
        out = capsys.readouterr()
        return done.value.code, out.out, out.err

    return run


PREP = Preprocessing(
    bands=["red", "green", "blue"], scale=255, value_range=(0, 255), mean=[0.4] * 3, std=[0.25] * 3, input_size=32
)
COLOURS = {"aForest": (40, 110, 40), "SandyDesert": (210, 180, 120)}  # folder name -> mean RGB
CAPTIONS = {
    "aForest": ("a forest with {} green trees", "{} dense trees in a forest"),
    "SandyDesert": ("a sandy desert with {} dunes", "{} yellow dunes in a sandy desert"),
}
NUMBERS = ("one", "two", "three", "four", "five", "six", "seven", "eight")


def texture(rng, kind: str, size: int = 32) -> np.ndarray:
    """(size, size, 3) uint8: the kind's colour with pixel noise and a darker blob."""
    image = np.asarray(COLOURS[kind], float) + rng.normal(0, 18, (size, size, 3))
    y, x = rng.integers(0, size, 2)
    image[max(0, y - 4) : y + 4, max(0, x - 4) : x + 4] *= 0.7
    return np.clip(image, 0, 255).astype(np.uint8)


def write_folder(root: Path, seed: int, per_class: int) -> Path:
    rng = np.random.default_rng(seed)
    for kind in COLOURS:
        (root / kind).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(texture(rng, kind)).save(root / kind / f"{kind}_{i}.png")
    return root


def train_tiny_dual_encoder(images, caps, folder, *, epochs: int, batch_size: int, context: int):
    """A scratch dual encoder (32-d) over-fitted to ``images`` ((N, 3, 32, 32) uint8) and ``caps`` (the same
    number of captions per image, in image order), saved with its card as ``folder/tiny_dual.safetensors``."""
    kwargs = {"embed_dim": 32, "text_tower": "scratch", "vocab": build_vocabulary(caps, 1), "width": 32}
    kwargs.update(layers=1, heads=2, context=context)
    with torch_threads(1):
        torch.manual_seed(0)
        model = build_model("dual_encoder", 0, **kwargs)
        with torch.no_grad():
            feats = model.eval().image_features(PREP(np.stack(images)))
        owner = np.repeat(np.arange(len(images)), len(caps) // len(images))
        data = PairFeatures(feats, torch.from_numpy(extract_text_features(model, caps)), owner)
        config = RetrievalConfig(epochs=epochs, batch_size=batch_size, lr=3e-3, warmup_epochs=0, weight_decay=0.0)
        fit_retrieval(model, data, None, config, folder / "work", log=None, progress=False)
    as_shipped(model)
    card = dict(architecture="dual_encoder", architecture_kwargs=kwargs, preprocessing=PREP, classes=[])
    save_weights(model, folder, "tiny_dual", task=Task.EMBEDDING, licence="-", command="-", **card)
    return folder / "tiny_dual.safetensors"


@pytest.fixture(scope="session")
def tiny_dual_encoder_trainer():
    return train_tiny_dual_encoder


@pytest.fixture(scope="session")
def dual_encoder(tmp_path_factory):
    """A scratch dual encoder trained on 16 captioned images (8 per kind), saved with its card."""
    rng = np.random.default_rng(0)
    images, caps = [], []
    for kind in COLOURS:
        for n in NUMBERS:
            images.append(texture(rng, kind).transpose(2, 0, 1))
            caps.extend(t.format(n) for t in CAPTIONS[kind])
    folder = tmp_path_factory.mktemp("zero_shot")
    return train_tiny_dual_encoder(images, caps, folder, epochs=60, batch_size=16, context=16)


@pytest.fixture(scope="session")
def test_folder(tmp_path_factory):
    return write_folder(tmp_path_factory.mktemp("zs_test") / "scenes", seed=1, per_class=10)


@pytest.fixture
def kind_texture():
    return texture


@pytest.fixture(scope="session")
def tiny_captioner(dual_encoder, tmp_path_factory):
    """A caption memory of 16 textures (8 forest, 8 desert) and their captions, embedded by the tiny dual encoder."""
    rng = np.random.default_rng(3)
    images, caps = [], []
    for kind in COLOURS:
        for n in NUMBERS:
            images.append(texture(rng, kind).transpose(2, 0, 1))
            caps.append([t.format(n) for t in CAPTIONS[kind]])
    embeddings = load_embedder(str(dual_encoder)).embed_images(np.stack(images))
    memory = CaptionMemory.from_captions(torch.from_numpy(embeddings), caps, str(dual_encoder), k=3)
    folder = tmp_path_factory.mktemp("captioner")
    card = dict(architecture=MEMORY_ARCH, architecture_kwargs=memory.card_kwargs(), preprocessing=PREP, classes=[])
    save_weights(memory, folder, "tiny_captioner", task=Task.CAPTIONING, licence="-", command="-", **card)
    return folder / "tiny_captioner.safetensors"


@pytest.fixture(scope="session")
def caption_templates():
    """Each kind's caption templates (``{}`` a number word)."""
    return CAPTIONS
