"""``Weights`` records: a weights file with the card that says how to use it (docs/models.md).

On disk: ``NAME.safetensors`` with its card ``NAME.json`` beside it. The card names the file and its
sha256, the architecture, the bands by name, the preprocessing (scale, value range, mean/std, input
size), the GSD, the classes, the metrics measured on which split, the licence and the command that
retrains it. Loading checks the sha256; inference applies the card's preprocessing.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, Field, PrivateAttr, ValidationError

from rsvision.core.files import atomic_output, check_writable
from rsvision.errors import InputNotFoundError, WeightsError
from rsvision.models.preprocess import Preprocessing

if TYPE_CHECKING:
    import torch
    from torch import nn

# torch is imported inside the methods that load or save tensors: cards are read at the command line's startup
# (`rsvision models`, `-m` checks) without paying seconds for torch.

BUILTIN_DIR = Path(__file__).parent / "weights"


class Task(StrEnum):
    """What a model's output is. A card stores the string value (``"classification"``), so a card reads as JSON
    without this class, and ``-m`` refuses a model of another task with one line naming both."""

    CLASSIFICATION = "classification"
    SEGMENTATION = "segmentation"
    CHANGE = "change"
    DETECTION = "detection"
    EMBEDDING = "embedding"
    CAPTIONING = "captioning"
    VQA = "vqa"
    GROUNDING = "grounding"


class MeasuredMetrics(BaseModel):
    """Metric values (fractions, the keys of docs/metrics.md) measured on one split of one dataset."""

    dataset: str
    split: str
    values: dict[str, float]


class Weights(BaseModel):
    """The card of one weights file."""

    name: str
    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    task: Task = Task.CLASSIFICATION
    architecture: str
    architecture_kwargs: dict[str, Any] = Field(default_factory=dict)
    preprocessing: Preprocessing
    gsd_m: float | None = None
    classes: list[str]
    metrics: list[MeasuredMetrics] = Field(default_factory=list)
    licence: str
    command: str
    notes: dict[str, Any] = Field(default_factory=dict)
    _card_path: Path | None = PrivateAttr(default=None)

    # ------------------------------------------------------------------ record
    @property
    def bands(self) -> list[str]:
        return self.preprocessing.bands

    @property
    def input_size(self) -> int:
        return self.preprocessing.input_size

    @property
    def weights_path(self) -> Path:
        base = self._card_path.parent if self._card_path else Path.cwd()
        return base / self.file

    @classmethod
    def load(cls, path: str | os.PathLike) -> Weights:
        """The card of ``NAME.json`` or of ``NAME.safetensors`` (its card beside it)."""
        path = Path(path)
        card = path if path.suffix == ".json" else path.with_suffix(".json")
        if not card.is_file():
            if not path.exists():
                raise InputNotFoundError(f"no such weights file: {path}")
            raise WeightsError(
                f"{path}: no card {card.name} beside it (a Weights record is NAME.safetensors + NAME.json)"
            )
        try:
            record = cls.model_validate_json(card.read_text())
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(map(str, first["loc"]))
            raise WeightsError(f"{card}: invalid card ({where}: {first['msg']})") from None
        record._card_path = card
        return record

    def save_card(self, path: str | os.PathLike | None = None) -> Path:
        card = Path(path) if path else self._card_path
        if card is None:
            raise WeightsError(f"weights {self.name}: no path to write the card to")
        with atomic_output(card) as tmp:
            tmp.write_text(self.model_dump_json(indent=2) + "\n")
        self._card_path = card
        return card

    def verify(self) -> Path:
        """The weights file's path, after checking it exists and matches the card's sha256."""
        path = self.weights_path
        if not path.is_file():
            raise InputNotFoundError(f"{self._card_path}: its weights file {path} does not exist")
        digest = sha256_file(path)
        if digest != self.sha256:
            raise WeightsError(
                f"{path}: sha256 {digest[:12]}... does not match the card's {self.sha256[:12]}... "
                "(file corrupt or replaced)"
            )
        return path

    # ------------------------------------------------------------------ use
    def state_dict(self) -> dict[str, torch.Tensor]:
        """The verified tensors of the weights file (the network is built by
        :func:`rsvision.models.registry.build_from_weights`)."""
        from safetensors.torch import load_file  # deferred: it imports torch (see the note at the top)

        return load_file(str(self.verify()))

    def preprocess(
        self,
        image: np.ndarray,
        bands: Sequence[str] | None = None,
        *,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        scale: float | None = None,
        where: str = "input",
    ) -> torch.Tensor:
        """Raw (C, H, W) or (N, C, H, W) pixels -> the model's input tensor, by the card's preprocessing.

        ``bands`` names the image's bands (reordered to the card's by name). ``mean`` / ``std`` /
        ``scale`` may be passed only to assert they equal the card's: a different normalisation is refused.
        """
        self.preprocessing.check_normalisation(mean, std, scale)
        return self.preprocessing(image, bands, where)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def save_weights(model: nn.Module, out_dir: str | os.PathLike, name: str, half: bool = True, **card: Any) -> Weights:
    """Write ``model``'s state as ``out_dir/NAME.safetensors`` and its card ``NAME.json``.

    ``half`` stores convolution and linear kernels as float16 (half the size; normalisation
    parameters and statistics stay float32); loading casts back to float32. ``card`` holds the
    remaining :class:`Weights` fields (architecture, preprocessing, classes, ...).
    """
    import torch  # deferred, with safetensors.torch: see the note at the top
    from safetensors.torch import save_file

    out = Path(out_dir)
    path = check_writable(out / f"{name}.safetensors")
    state = {}
    for key, value in model.state_dict().items():
        value = value.detach().contiguous().cpu()
        if half and value.dtype == torch.float32 and value.ndim > 1:
            value = value.half()
        state[key] = value
    with atomic_output(path) as tmp:  # one metadata key: safetensors orders several arbitrarily, changing the sha256
        save_file(state, str(tmp), metadata={"name": name})
        os.chmod(tmp, 0o644)
    record = Weights(name=name, file=path.name, sha256=sha256_file(path), **card)
    record.save_card(out / f"{name}.json")
    return record


def builtin_weights(folder: str | os.PathLike | None = None) -> dict[str, Weights]:
    """Cards of the weights shipped in ``rsvision/models/weights`` (or ``folder``), by name."""
    folder = Path(folder) if folder else BUILTIN_DIR
    return {w.name: w for w in (Weights.load(p) for p in sorted(folder.glob("*.json")))}


def resolve_weights(model: str | os.PathLike) -> Weights:
    """A built-in name (``rsvision models``) or the path of a ``.safetensors`` / ``.json`` weights file."""
    text = str(model)
    builtin = builtin_weights()
    if text in builtin:
        return builtin[text]
    path = Path(text)
    if path.suffix in (".json", ".safetensors") or path.exists():
        return Weights.load(path)
    raise InputNotFoundError(
        f"unknown model {text!r}: not a built-in ({', '.join(builtin) or 'none'}) nor a weights file"
    )
