import pytest
import torch
from torch import nn

from rsvision.core.sensors import SENSORS, SENTINEL2_ORDER
from rsvision.errors import BandCountError
from rsvision.models import adapt_stem, band_mapping, build_model, resolve_bands
from rsvision.models.stem import first_conv

torch.set_num_threads(1)
RGB = ["red", "green", "blue"]


def nearest_rgb(wavelength):
    rgb = SENSORS["rgb"].bands
    return min(range(3), key=lambda i: abs(rgb[i].wavelength_nm - wavelength))


def test_band_mapping_rgb_to_sentinel2_by_wavelength():
    mapping = band_mapping(RGB, SENTINEL2_ORDER)
    expected = [nearest_rgb(b.wavelength_nm) for b in SENSORS["sentinel-2"].bands]
    assert mapping == expected
    s2 = dict(zip(SENTINEL2_ORDER, mapping))
    assert (s2["B02"], s2["B03"], s2["B04"]) == (2, 1, 0)  # blue, green, red
    assert s2["B01"] == 2 and s2["B08"] == 0 and s2["B12"] == 0  # coastal -> blue, NIR / SWIR -> red


def test_band_without_wavelength_takes_mean_filter_and_unknown_name_fails():
    assert band_mapping(RGB, ["VV", "red"]) == [None, 0]
    with pytest.raises(BandCountError, match="unknown band name 'B99'"):
        resolve_bands(["B99"])


def test_adapt_stem_3_to_13_bands_rule():
    torch.manual_seed(0)
    model = build_model("resnet18", num_classes=5, width=0.25)
    w = first_conv(model).weight.detach().clone()
    adapt_stem(model, RGB, SENTINEL2_ORDER)
    new = first_conv(model).weight.detach()
    assert new.shape == (w.shape[0], 13, 7, 7)
    for j, src in enumerate(band_mapping(RGB, SENTINEL2_ORDER)):
        torch.testing.assert_close(new[:, j], w[:, src] * 3 / 13)
    assert model(torch.randn(2, 13, 32, 32)).shape == (2, 5)


def test_activation_scale_kept_for_alike_bands():
    """Bands normalised alike (here: one shared image) give the RGB model's activation when every
    source filter is used equally often; the n_old / n_new factor is what keeps that scale."""
    conv = nn.Conv2d(3, 4, 3, bias=False)
    model = nn.Sequential(conv)
    x = torch.randn(1, 1, 8, 8)
    before = model(x.expand(1, 3, 8, 8))
    six = ["B02", "B03", "B04", "B2", "B3", "B4"]  # Sentinel-2 and Landsat blue, green, red
    assert band_mapping(RGB, six) == [2, 1, 0, 2, 1, 0]
    adapt_stem(model, RGB, six)
    torch.testing.assert_close(model(x.expand(1, 6, 8, 8)), before)


def test_bands_by_name_not_position():
    torch.manual_seed(0)
    state = build_model("resnet18", num_classes=3, width=0.25).state_dict()
    model = build_model("resnet18", 3, ["blue", "green", "red"], source_bands=RGB, source_state=state, width=0.25)
    assert model.band_names == ("blue", "green", "red")
    torch.testing.assert_close(first_conv(model).weight, state["conv1.weight"].flip(1))


def test_build_models_for_named_bands():
    m = build_model("mobilenet_v3_small", num_classes=0, bands=["B02", "B03", "B04", "B08"], sensor="sentinel-2")
    assert first_conv(m).in_channels == 4 and m.band_names == ("B02", "B03", "B04", "B08")
    assert m.eval()(torch.randn(1, 4, 32, 32)).ndim == 2
    half = build_model("resnet18", 30, width=0.5)
    assert sum(p.numel() for p in half.parameters()) < 0.3 * sum(
        p.numel() for p in build_model("resnet18", 30).parameters()
    )
    pytest.importorskip("timm")
    t = build_model("timm:resnet10t", num_classes=2, bands=SENTINEL2_ORDER)
    assert first_conv(t).in_channels == 13 and t.eval()(torch.randn(1, 13, 32, 32)).shape == (1, 2)
