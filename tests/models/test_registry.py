"""Builders by name: what build_model returns for names, bands and source weights; registering builders; the network
of a weights card."""

import pytest
import torch
from torch import nn

from rsvision.errors import RsvisionError, WeightsError
from rsvision.models import registry
from rsvision.models.preprocess import Preprocessing
from rsvision.models.registry import build_from_weights, build_model, list_models, register
from rsvision.models.stem import first_conv
from rsvision.models.weights import save_weights

torch.set_num_threads(1)


def test_names_and_outputs():
    assert {"resnet18", "resnet34", "resnet50", "mobilenet_v3_small", "convnext_tiny"} <= set(list_models())
    model = build_model("resnet18", num_classes=3, width=0.125).eval()
    assert model.band_names == ("red", "green", "blue")
    with torch.no_grad():
        assert model(torch.rand(2, 3, 32, 32)).shape == (2, 3)
        features = build_model("resnet18", num_classes=0, width=0.125).eval()(torch.rand(2, 3, 32, 32))
    assert features.shape == (2, 64)  # num_classes=0: pooled features (512 channels at width 1/8)
    with pytest.raises(RsvisionError, match=r"unknown model 'resnet19'; known: .*resnet18"):
        build_model("resnet19", num_classes=3)


def test_bands_set_the_input_convolution():
    model = build_model("mobilenet_v3_small", num_classes=2, bands=["B02", "B03", "B04", "B08"])
    assert first_conv(model).in_channels == 4 and model.band_names == ("B02", "B03", "B04", "B08")


def test_source_state_is_loaded_and_the_stem_adapted_by_name():
    torch.manual_seed(0)
    rgb = build_model("resnet18", num_classes=3, width=0.125)
    bgrn = build_model(
        "resnet18",
        num_classes=3,
        bands=["blue", "green", "red", "nir"],
        source_bands=["red", "green", "blue"],
        source_state=rgb.state_dict(),
        width=0.125,
    )
    old, new = first_conv(rgb).weight, first_conv(bgrn).weight
    scale = 3 / 4  # n_source / n_target keeps the activation scale
    torch.testing.assert_close(new[:, 0], old[:, 2] * scale)  # blue from blue
    torch.testing.assert_close(new[:, 2], old[:, 0] * scale)  # red from red
    torch.testing.assert_close(new[:, 3], old[:, 0] * scale)  # nir from the nearest wavelength: red
    torch.testing.assert_close(bgrn.fc.weight, rgb.fc.weight)  # the rest is the source's


def test_register_adds_a_builder_once():
    class Tiny(nn.Module):
        def __init__(self, num_classes, in_chans):
            super().__init__()
            self.conv = nn.Conv2d(in_chans, 4, 3)
            self.head = nn.Linear(4, num_classes)

        def forward(self, x):
            return self.head(self.conv(x).mean((2, 3)))

    try:
        register("tiny_test_net")(Tiny)
        model = build_model("tiny_test_net", num_classes=5, bands=["red", "nir"])
        assert isinstance(model, Tiny) and model.conv.in_channels == 2 and "tiny_test_net" in list_models()
        with pytest.raises(RsvisionError, match="already registered"):
            register("tiny_test_net")(Tiny)
    finally:
        registry._BUILDERS.pop("tiny_test_net", None)


def test_build_from_weights_is_the_saved_network(tmp_path):
    torch.manual_seed(0)
    model = build_model("resnet18", num_classes=3, width=0.125).eval()
    prep = Preprocessing(
        bands=["red", "green", "blue"], scale=255, value_range=(0, 255), mean=[0.5] * 3, std=[0.2] * 3, input_size=32
    )
    record = save_weights(
        model,
        tmp_path,
        "net",
        half=False,
        architecture="resnet18",
        architecture_kwargs={"width": 0.125},
        preprocessing=prep,
        classes=list("abc"),
        licence="-",
        command="-",
    )
    built = build_from_weights(record)
    x = torch.rand(2, 3, 32, 32)
    assert not built.training
    with torch.no_grad():
        torch.testing.assert_close(built(x), model(x))
    (tmp_path / "net.safetensors").write_bytes(b"replaced")
    with pytest.raises(WeightsError, match="does not match the card"):
        build_from_weights(record)
