"""A dense predictor around any torch module that maps ``(B, C, H, W)`` images to ``(B, K, H, W)`` scores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

# torch is imported inside the methods that run the module: the engine imports this package and runs numpy
# predictors without paying seconds for importing torch.
from rsvision.errors import PredictorError
from rsvision.tasks.base import DensePredictor, TileBatch


class ModulePredictor(DensePredictor):
    """Normalise ``(x - mean) / std`` per band, run ``module``, then softmax (or nothing) over the K outputs.

    ``channels_last`` runs convolutions in NHWC layout, which is faster on CPUs for small channel counts.
    """

    def __init__(
        self,
        module,
        num_outputs: int,
        *,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        output: str = "classes",
        activation: str | None = "softmax",
        bands: Sequence[str | int] | None = None,
        class_names: Sequence[str] | None = None,
        colormap: Mapping[int, tuple[int, ...]] | None = None,
        device: str = "cpu",
        channels_last: bool = True,
    ):
        import torch

        if activation not in ("softmax", "sigmoid", None):
            raise PredictorError(f"activation must be 'softmax', 'sigmoid' or None, got {activation!r}")
        self.num_outputs, self.output, self.activation = num_outputs, output, activation
        self.bands, self.class_names, self.colormap = bands, class_names, colormap
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float32)
        self.std = None if std is None else np.asarray(std, dtype=np.float32)
        self.device, self.channels_last = device, channels_last
        self.module = module.eval().to(device)
        if channels_last:
            self.module = self.module.to(memory_format=torch.channels_last)
        self.check()

    def predict(self, batch: TileBatch) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(batch.images).to(self.device)  # the batch is ours: normalise in place
            if self.mean is not None:
                x.sub_(torch.from_numpy(self.mean).to(x.device)[None, :, None, None])
            if self.std is not None:
                x.div_(torch.from_numpy(self.std).to(x.device)[None, :, None, None])
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = self.module(x).float().contiguous()
            del x  # the layout copy is not needed past the forward pass
            if self.activation == "softmax":
                y = torch.softmax(y, dim=1)
            elif self.activation == "sigmoid":
                y.sigmoid_()
            return y.cpu().numpy()
