"""Third-party checkpoint formats, with small checkpoints made here the way their publishers make them:
TorchGeo saves timm models' ``state_dict()`` with ``torch.save`` (13 Sentinel-2 bands); timm
checkpoints are ``state_dict()`` files (``.pth`` or ``.safetensors``)."""

import pytest
import torch

from rsvision.core.sensors import SENTINEL2_ORDER
from rsvision.errors import WeightsError
from rsvision.models.checkpoints import download_from_hub, load_timm, load_torchgeo
from rsvision.models.state import read_state_dict
from rsvision.models.stem import band_mapping, first_conv

timm = pytest.importorskip("timm")
torch.set_num_threads(1)


def test_torchgeo_resnet18_sentinel2(tmp_path):
    torch.manual_seed(0)
    source = timm.create_model("resnet18", in_chans=13, num_classes=0).eval()
    path = tmp_path / "resnet18_sentinel2_all_moco.pth"
    torch.save(source.state_dict(), path)
    model = load_torchgeo(path, "resnet18").eval()
    assert model.band_names == tuple(SENTINEL2_ORDER)
    x = torch.randn(2, 13, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), source(x))
    # wrapped and prefixed keys, as training frameworks save them, load the same
    torch.save({"state_dict": {f"backbone.{k}": v for k, v in source.state_dict().items()}}, tmp_path / "wrapped.pth")
    with torch.no_grad():
        torch.testing.assert_close(load_torchgeo(tmp_path / "wrapped.pth").eval()(x), source(x))


def test_torchgeo_resnet_adapted_to_10_bands(tmp_path):
    torch.manual_seed(0)
    source = timm.create_model("resnet18", in_chans=13, num_classes=0)
    torch.save(source.state_dict(), tmp_path / "rn18.pth")
    ten = [b for b in SENTINEL2_ORDER if b not in ("B01", "B09", "B10")]
    with pytest.warns(UserWarning, match="no classifier head"):
        model = load_torchgeo(tmp_path / "rn18.pth", "resnet18", bands=ten, num_classes=4)
    assert model.band_names == tuple(ten) and model.fc.out_features == 4
    w = source.conv1.weight.detach()
    for j, i in enumerate(band_mapping(SENTINEL2_ORDER, ten)):  # same names: each keeps its own filter
        assert SENTINEL2_ORDER[i] == ten[j]
        torch.testing.assert_close(first_conv(model).weight[:, j], w[:, i] * 13 / 10)


def test_torchgeo_vit_through_timm(tmp_path):
    torch.manual_seed(0)
    kwargs = dict(img_size=32, depth=2)
    source = timm.create_model("vit_tiny_patch16_224", in_chans=13, num_classes=0, **kwargs).eval()
    torch.save(source.state_dict(), tmp_path / "vit.pth")
    model = load_torchgeo(tmp_path / "vit.pth", "vit_tiny_patch16_224", **kwargs).eval()
    x = torch.randn(1, 13, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), source(x))


def test_timm_checkpoint_safetensors_and_head(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    source = timm.create_model("resnet10t", num_classes=7).eval()
    save_file(source.state_dict(), str(tmp_path / "model.safetensors"))
    model = load_timm(tmp_path / "model.safetensors", "resnet10t").eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), source(x))
    with pytest.warns(UserWarning, match="head fc.bias, fc.weight left out"):
        four = load_timm(tmp_path / "model.safetensors", "resnet10t", num_classes=4, bands=["B02", "B03", "B04", "B08"])
    assert four.band_names == ("B02", "B03", "B04", "B08") and first_conv(four).in_channels == 4


def test_bad_checkpoints(tmp_path):
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="junk.pth: not a readable checkpoint"):
        read_state_dict(tmp_path / "junk.pth")
    torch.save(timm.create_model("resnet10t", num_classes=0).state_dict(), tmp_path / "other.pth")
    with pytest.raises(WeightsError, match="does not fit"):
        load_timm(tmp_path / "other.pth", "resnet18")


def test_hub_errors_are_one_line(monkeypatch):
    hub = pytest.importorskip("huggingface_hub")

    def offline(**kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co'\nmore")

    monkeypatch.setattr(hub, "hf_hub_download", offline)
    with pytest.raises(WeightsError, match="cannot get m.pth from Hugging Face org/repo: We couldn't connect"):
        download_from_hub("org/repo", "m.pth")
