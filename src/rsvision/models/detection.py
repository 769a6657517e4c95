"""Object detectors: torchvision's Faster R-CNN, RetinaNet and FCOS, and an oriented FCOS of our own.

``build_model("fcos", num_classes=2, backbone="resnet18")``. Every detector sits on a feature pyramid
(torchvision's ``FeaturePyramidNetwork``) over a backbone named by ``backbone=``: torchvision's ``resnet18``,
``resnet34``, ``resnet50`` or ``mobilenet_v3_large`` (through its ``resnet_fpn_backbone`` / ``mobilenet_backbone``
helpers), or any timm model as ``timm:<name>`` (its ``features_only`` stages). Weights start random (nothing
downloads); the backbone's first convolution takes ``in_chans`` bands and comes first in the module order, so the
band-adaptive stem (:mod:`rsvision.models.stem`) adapts a detector as it adapts a classifier. Batch norms are plain
(not frozen): these networks are trained from scratch or from our own weights.

torchvision's resizing and normalisation are switched off (:class:`PassThroughTransform`): tiles reach the network at
their own size, normalised by the card's :class:`~rsvision.models.preprocess.Preprocessing`. Class ids are 0-based
outside this module; Faster R-CNN's background class 0 is hidden by :class:`FasterRCNN0`.

Rotated boxes: torchvision has no oriented detector, so :class:`RotatedFCOS` is written here, as small as the method
allows: FCOS's head (class logits with sigmoid focal loss, centerness) whose box branch predicts ``(dx, dy, log w,
log h, angle)`` per location, trained with the ProbIoU loss (Llerena et al. 2021: boxes as Gaussians, compared by
their Hellinger distance, which is periodic in the angle and so has no le90 boundary problem), decoded to le90
``(cx, cy, w, h, angle)`` and filtered by the repository's exact rotated NMS. A square's Gaussian is isotropic, so
ProbIoU cannot see a square's angle (neither can any Gaussian loss): near-square objects are located, not turned.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence

import timm
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection import FCOS, FasterRCNN, RetinaNet
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import mobilenet_backbone, resnet_fpn_backbone
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops import sigmoid_focal_loss
from torchvision.ops.feature_pyramid_network import FeaturePyramidNetwork, LastLevelMaxPool, LastLevelP6P7

from rsvision.errors import RsvisionError, WeightsError
from rsvision.geometry.boxes import normalize_rbox
from rsvision.geometry.nms import rotated_nms
from rsvision.models.backbones import _replace_conv_in
from rsvision.models.stem import first_conv_name
from rsvision.models.weights import builtin_weights

DEFAULT_DETECTOR = "neon_trees_retinanet"  # the built-in tree-crown detector, default of detect, count, eval
DEFAULT_BACKBONE = "resnet18"  # CPU-friendly; resnet50 is torchvision's default
RESNETS = ("resnet18", "resnet34", "resnet50")
MOBILENETS = ("mobilenet_v3_large",)
SIZE_DIVISIBLE = 32  # inputs are padded (bottom, right) to a multiple of the deepest backbone stride


# ----------------------------------------------------------------------------- backbones


class TimmFPN(nn.Module):
    """A timm model's ``features_only`` stages (``out_indices``) under torchvision's feature pyramid."""

    def __init__(self, name: str, in_chans: int, out_indices: Sequence[int], channels: int, extra_blocks: nn.Module):
        super().__init__()
        try:
            self.body = timm.create_model(
                name, pretrained=False, features_only=True, in_chans=in_chans, out_indices=tuple(out_indices)
            )
        except (RuntimeError, ValueError) as err:
            raise RsvisionError(f"cannot build timm backbone {name!r}: {str(err).splitlines()[0]}") from None
        self.fpn = FeaturePyramidNetwork(self.body.feature_info.channels(), channels, extra_blocks=extra_blocks)
        self.out_channels = channels

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        return self.fpn(OrderedDict((str(i), f) for i, f in enumerate(self.body(x))))


def fpn_backbone(name: str, in_chans: int = 3, *, from_c2: bool = False, channels: int = 256) -> nn.Module:
    """Backbone + feature pyramid with ``out_channels``. ``from_c2``: levels from stride 4 with a max-pooled extra
    level (Faster R-CNN's layout); else from stride 8 with P6 and P7 (RetinaNet's and FCOS's)."""
    extra = LastLevelMaxPool() if from_c2 else LastLevelP6P7(channels, channels)
    if name.startswith("timm:"):
        return TimmFPN(name[5:], in_chans, (1, 2, 3, 4) if from_c2 else (2, 3, 4), channels, extra)
    if name in RESNETS:
        net = resnet_fpn_backbone(
            backbone_name=name,
            weights=None,
            norm_layer=nn.BatchNorm2d,
            trainable_layers=5,
            returned_layers=[1, 2, 3, 4] if from_c2 else [2, 3, 4],
            extra_blocks=extra,
        )
    elif name in MOBILENETS:
        net = mobilenet_backbone(
            backbone_name=name,
            weights=None,
            fpn=True,
            norm_layer=nn.BatchNorm2d,
            trainable_layers=6,
            extra_blocks=extra,
        )
    else:
        known = ", ".join(RESNETS + MOBILENETS)
        raise RsvisionError(f"unknown detection backbone {name!r}; known: {known}, or timm:<name>")
    if channels != net.out_channels:  # torchvision's helpers fix 256 channels; rebuild the pyramid for others
        net.fpn = FeaturePyramidNetwork(
            [m.in_channels for m in net.fpn.inner_blocks.modules() if isinstance(m, nn.Conv2d)], channels, extra
        )
        net.out_channels = channels
    if in_chans != 3:
        _set_in_chans(net, in_chans)
    return net


def _set_in_chans(module: nn.Module, in_chans: int) -> None:
    name = first_conv_name(module)
    parent_name, _, attr = name.rpartition(".")
    parent = module.get_submodule(parent_name) if parent_name else module
    setattr(parent, attr, _replace_conv_in(getattr(parent, attr), in_chans))


@torch.no_grad()
def level_strides(backbone: nn.Module, in_chans: int, size: int = 256) -> list[int]:
    """The stride of each pyramid level, measured: one forward pass on a blank image (any backbone, timm's too)."""
    was = backbone.training
    backbone.eval()
    features = backbone(torch.zeros(1, in_chans, size, size))
    backbone.train(was)
    return [size // f.shape[-1] for f in features.values()]


# ----------------------------------------------------------------------------- torchvision detectors


class PassThroughTransform(GeneralizedRCNNTransform):
    """torchvision's batching (padding to :data:`SIZE_DIVISIBLE`) without its resizing and normalisation: tiles keep
    their size, and the card's preprocessing has normalised them already."""

    def __init__(self):
        super().__init__(min_size=1, max_size=1 << 30, image_mean=[0.0], image_std=[1.0], size_divisible=SIZE_DIVISIBLE)

    def normalize(self, image: torch.Tensor) -> torch.Tensor:
        return image

    def resize(self, image, target=None):
        return image, target


class FasterRCNN0(FasterRCNN):
    """torchvision's Faster R-CNN with 0-based object classes: its background class 0 stays inside."""

    def forward(self, images, targets=None):
        if targets is not None:
            targets = [{**t, "labels": t["labels"] + 1} for t in targets]
        out = super().forward(images, targets)
        if self.training:
            return out
        return [{**d, "labels": d["labels"] - 1} for d in out]


def build_fasterrcnn(
    num_classes: int,
    in_chans: int = 3,
    backbone: str = DEFAULT_BACKBONE,
    channels: int = 256,
    detections_per_img: int = 300,
    **kwargs,
) -> nn.Module:
    """torchvision's Faster R-CNN; anchors of 8 strides per level, ratios 1:2, 1:1, 2:1."""
    net = fpn_backbone(backbone, in_chans, from_c2=True, channels=channels)
    strides = level_strides(net, in_chans)
    anchors = AnchorGenerator(tuple((8 * s,) for s in strides), ((0.5, 1.0, 2.0),) * len(strides))
    model = FasterRCNN0(
        net,
        num_classes=num_classes + 1,
        rpn_anchor_generator=anchors,
        box_detections_per_img=detections_per_img,
        **kwargs,
    )
    model.transform = PassThroughTransform()
    return model


def build_retinanet(
    num_classes: int,
    in_chans: int = 3,
    backbone: str = DEFAULT_BACKBONE,
    channels: int = 256,
    detections_per_img: int = 300,
    anchor_scale: float = 4.0,
    **kwargs,
) -> nn.Module:
    """torchvision's RetinaNet; anchors of ``anchor_scale`` strides per level (4, RetinaNet's, puts the smallest at
    32 px; 2 reaches objects of 16-25 px such as 0.1 m tree crowns) at three octave scales and three ratios."""
    net = fpn_backbone(backbone, in_chans, channels=channels)
    strides = level_strides(net, in_chans)
    sizes = tuple(tuple(round(anchor_scale * s * 2 ** (k / 3)) for k in range(3)) for s in strides)
    anchors = AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * len(strides))
    model = RetinaNet(net, num_classes, anchor_generator=anchors, detections_per_img=detections_per_img, **kwargs)
    model.transform = PassThroughTransform()
    return model


def build_fcos(
    num_classes: int,
    in_chans: int = 3,
    backbone: str = DEFAULT_BACKBONE,
    channels: int = 256,
    detections_per_img: int = 300,
    **kwargs,
) -> nn.Module:
    """torchvision's FCOS; its one "anchor" per location is the level's stride, as FCOS's regression ranges need."""
    net = fpn_backbone(backbone, in_chans, channels=channels)
    strides = level_strides(net, in_chans)
    anchors = AnchorGenerator(tuple((s,) for s in strides), ((1.0,),) * len(strides))
    model = FCOS(net, num_classes, anchor_generator=anchors, detections_per_img=detections_per_img, **kwargs)
    model.transform = PassThroughTransform()
    return model


# ----------------------------------------------------------------------------- oriented FCOS


def gaussian_parameters(rboxes: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Covariances of rotated boxes as uniform rectangles: ``(var_x, var_y, cov_xy)`` of ``R diag(w^2, h^2) R^T / 12``
    with the le90 rotation (w along ``(cos, sin)`` on the image)."""
    w2, h2 = rboxes[:, 2].square() / 12, rboxes[:, 3].square() / 12
    c, s = torch.cos(rboxes[:, 4]), torch.sin(rboxes[:, 4])
    return w2 * c * c + h2 * s * s, w2 * s * s + h2 * c * c, (w2 - h2) * c * s


def probiou(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """ProbIoU of paired rotated boxes ``(N, 5)``: ``1 - Hellinger distance`` of their Gaussians, in [0, 1]."""
    a1, b1, c1 = gaussian_parameters(pred)
    a2, b2, c2 = gaussian_parameters(target)
    a, b, c = a1 + a2, b1 + b2, c1 + c2  # twice the mean covariance
    det = (a * b - c * c).clamp(min=eps)
    dx, dy = pred[:, 0] - target[:, 0], pred[:, 1] - target[:, 1]
    # Bhattacharyya distance: Mahalanobis term of the centres, then the log-determinant term
    mahalanobis = (b * dx * dx + a * dy * dy - 2 * c * dx * dy) / det / 4
    det1, det2 = (a1 * b1 - c1 * c1).clamp(min=0), (a2 * b2 - c2 * c2).clamp(min=0)
    log_det = 0.5 * torch.log(det / (4 * (det1 * det2).sqrt() + eps) + eps)
    bhattacharyya = (mahalanobis + log_det).clamp(min=eps, max=100.0)
    return 1 - (1 - torch.exp(-bhattacharyya) + eps).sqrt()


def probiou_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1 - ProbIoU`` per pair: ~0 for identical boxes, growing towards 1 as they part."""
    return 1 - probiou(pred, target)


def _tower(channels: int, convs: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(convs):
        layers += [
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.GroupNorm(math.gcd(32, channels // 2, channels), channels),  # >= 2 channels a group
            nn.ReLU(),
        ]
    return nn.Sequential(*layers)


class RotatedFCOSHead(nn.Module):
    """FCOS's shared head: a class tower and a box tower of ``convs`` 3x3 convolutions; per location ``num_classes``
    logits, ``(dx, dy, log w, log h, angle)`` (offsets and sizes in units of the level's stride) and a centerness
    logit."""

    def __init__(self, channels: int, num_classes: int, levels: int, convs: int = 4, prior: float = 0.01):
        super().__init__()
        self.cls_tower, self.box_tower = _tower(channels, convs), _tower(channels, convs)
        self.cls_logits = nn.Conv2d(channels, num_classes, 3, padding=1)
        self.box = nn.Conv2d(channels, 5, 3, padding=1)
        self.centerness = nn.Conv2d(channels, 1, 3, padding=1)
        self.scales = nn.Parameter(torch.ones(levels))  # FCOS's learnable size scale per level
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)
        nn.init.constant_(self.cls_logits.bias, -math.log((1 - prior) / prior))  # few positives: start near 0.01

    def forward(self, features: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(B, L, K)`` class logits, ``(B, L, 5)`` raw boxes, ``(B, L)`` centerness logits over all levels."""
        cls, box, ctr = [], [], []
        for level, f in enumerate(features):
            t = self.box_tower(f)
            raw = self.box(t)
            raw = torch.cat([raw[:, :2], raw[:, 2:4] * self.scales[level], raw[:, 4:]], dim=1)
            cls.append(self.cls_logits(self.cls_tower(f)).flatten(2).transpose(1, 2))
            box.append(raw.flatten(2).transpose(1, 2))
            ctr.append(self.centerness(t).flatten(1))
        return torch.cat(cls, 1), torch.cat(box, 1), torch.cat(ctr, 1)


class RotatedFCOS(nn.Module):
    """Oriented one-stage detector. Train mode: ``model(images, targets)`` -> losses (``classification``,
    ``box_probiou``, ``centerness``); targets hold ``rboxes`` (N, 5) le90 and ``labels`` (N,) 0-based. Eval mode:
    ``model(images)`` -> per image ``rboxes`` (le90), ``scores``, ``labels``. ``images``: a ``(B, C, H, W)`` tensor
    or a list of equally sized ``(C, H, W)`` tensors, normalised."""

    rotated = True

    def __init__(
        self,
        backbone: nn.Module,
        num_classes: int,
        strides: Sequence[int],
        head_convs: int = 4,
        score_thresh: float = 0.05,  # torchvision's FCOS keeps 0.2; AP's tail needs the low scores eval asks for
        nms_thresh: float = 0.1,  # MMRotate's for oriented objects, which seldom overlap
        detections_per_img: int = 300,
        topk_candidates: int = 1000,
        center_radius: float = 1.5,
    ):
        super().__init__()
        self.backbone = backbone
        self.num_classes, self.strides = num_classes, [int(s) for s in strides]
        self.head = RotatedFCOSHead(backbone.out_channels, num_classes, len(self.strides), head_convs)
        self.score_thresh, self.nms_thresh = score_thresh, nms_thresh
        self.detections_per_img, self.topk_candidates, self.center_radius = (
            detections_per_img,
            topk_candidates,
            center_radius,
        )

    def forward(self, images, targets: list[dict] | None = None):
        x = images if isinstance(images, torch.Tensor) else torch.stack(list(images))
        pad_h, pad_w = -x.shape[-2] % SIZE_DIVISIBLE, -x.shape[-1] % SIZE_DIVISIBLE
        features = list(self.backbone(F.pad(x, (0, pad_w, 0, pad_h))).values())
        cls, raw, ctr = self.head(features)
        points, strides, ranges = self._locations(features)
        boxes = self._decode(raw, points, strides)
        if self.training:
            if targets is None:
                raise RsvisionError("a detector in training mode needs targets")
            return self._losses(cls, boxes, ctr, targets, points, strides, ranges)
        return [self._postprocess(c, b, t) for c, b, t in zip(cls, boxes, ctr)]

    def _locations(self, features: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Centres ``(L, 2)`` of every feature cell in image pixels, their strides ``(L,)`` and FCOS's size ranges
        ``(L, 2)``: ``[4 s, 8 s]`` per level, open at the first level's bottom and the last level's top."""
        points, strides, ranges = [], [], []
        for level, (f, s) in enumerate(zip(features, self.strides)):
            h, w = f.shape[-2:]
            ys, xs = torch.meshgrid(torch.arange(h, device=f.device), torch.arange(w, device=f.device), indexing="ij")
            points.append(torch.stack([xs.flatten(), ys.flatten()], 1).float().add(0.5).mul(s))
            strides.append(torch.full((h * w,), float(s), device=f.device))
            lo = 0.0 if level == 0 else 4.0 * s
            hi = math.inf if level == len(features) - 1 else 8.0 * s
            ranges.append(torch.tensor([[lo, hi]], device=f.device).expand(h * w, 2))
        return torch.cat(points), torch.cat(strides), torch.cat(ranges)

    @staticmethod
    def _decode(raw: torch.Tensor, points: torch.Tensor, strides: torch.Tensor) -> torch.Tensor:
        """Raw ``(B, L, 5)`` -> rotated boxes (not yet le90-normalised: ProbIoU needs none)."""
        s = strides[None, :, None]
        centre = points[None] + raw[..., :2] * s
        size = torch.exp(raw[..., 2:4].clamp(max=10.0)) * s  # clamped: an early step must not overflow
        return torch.cat([centre, size, raw[..., 4:5]], dim=-1)

    def _assign(self, gt: torch.Tensor, points, strides, ranges) -> tuple[torch.Tensor, torch.Tensor]:
        """For each location, the index of its ground truth (-1: background) and its centerness target.

        A location is positive for a box when it lies inside it (in the box's own frame, each half-side at least
        0.75 strides, so thin boxes still own their nearest cell), within ``center_radius`` strides of its centre,
        and the box's extent from it fits the level's range; of several boxes the smallest wins."""
        if len(gt) == 0:
            return torch.full((len(points),), -1, dtype=torch.long, device=points.device), points.new_zeros(len(points))
        d = points[:, None, :] - gt[None, :, :2]  # (L, G, 2)
        c, s = torch.cos(gt[:, 4]), torch.sin(gt[:, 4])
        u = (d[..., 0] * c + d[..., 1] * s).abs()  # along w
        v = (-d[..., 0] * s + d[..., 1] * c).abs()  # along h
        half_w = torch.maximum(gt[None, :, 2] / 2, 0.75 * strides[:, None])
        half_h = torch.maximum(gt[None, :, 3] / 2, 0.75 * strides[:, None])
        extent = torch.maximum(gt[None, :, 2] / 2 + u, gt[None, :, 3] / 2 + v)
        ok = (u <= half_w) & (v <= half_h)
        ok &= d.abs().amax(-1) <= self.center_radius * strides[:, None]
        ok &= (extent >= ranges[:, :1]) & (extent <= ranges[:, 1:])
        area = torch.where(ok, (gt[:, 2] * gt[:, 3])[None].expand_as(u), torch.full_like(u, math.inf))
        smallest, matched = area.min(1)
        matched = torch.where(torch.isfinite(smallest), matched, torch.full_like(matched, -1))
        idx = matched.clamp(min=0)[:, None]
        uu, vv = u.gather(1, idx)[:, 0], v.gather(1, idx)[:, 0]
        hw, hh = half_w.gather(1, idx)[:, 0], half_h.gather(1, idx)[:, 0]
        centerness = (((hw - uu) / (hw + uu)).clamp(min=0) * ((hh - vv) / (hh + vv)).clamp(min=0)).sqrt()
        return matched, torch.where(matched >= 0, centerness, torch.zeros_like(centerness))

    def _losses(self, cls, boxes, ctr, targets, points, strides, ranges) -> dict[str, torch.Tensor]:
        cls_target = torch.zeros_like(cls)
        pred, gt, ctr_logits, ctr_target = [], [], [], []
        for b, target in enumerate(targets):
            rb = target["rboxes"].to(cls.dtype).reshape(-1, 5)
            matched, centerness = self._assign(rb, points, strides, ranges)
            pos = matched >= 0
            cls_target[b, pos, target["labels"][matched[pos]]] = 1.0
            pred.append(boxes[b, pos])
            gt.append(rb[matched[pos]])
            ctr_logits.append(ctr[b, pos])
            ctr_target.append(centerness[pos])
        pred, gt, ctr_logits, ctr_target = map(torch.cat, (pred, gt, ctr_logits, ctr_target))
        num_pos = max(1, len(pred))
        weight = ctr_target.sum().clamp(min=1e-6)  # FCOS weighs each box loss by its centerness target
        return {
            "classification": sigmoid_focal_loss(cls, cls_target, reduction="sum") / num_pos,
            "box_probiou": (probiou_loss(pred, gt) * ctr_target).sum() / weight,
            "centerness": F.binary_cross_entropy_with_logits(ctr_logits, ctr_target, reduction="sum") / num_pos,
        }

    def _postprocess(self, cls: torch.Tensor, boxes: torch.Tensor, ctr: torch.Tensor) -> dict[str, torch.Tensor]:
        """One image's detections: FCOS's score ``sqrt(class x centerness)``, the best candidates above the score
        threshold, le90 boxes, class-aware rotated NMS."""
        scores = (torch.sigmoid(cls) * torch.sigmoid(ctr)[:, None]).sqrt().flatten()
        keep = torch.nonzero(scores > self.score_thresh)[:, 0]
        keep = keep[scores[keep].topk(min(self.topk_candidates, len(keep))).indices]
        where, labels = keep // self.num_classes, keep % self.num_classes
        rboxes, scores = normalize_rbox(boxes[where]), scores[keep]
        if len(keep):
            kept = rotated_nms(rboxes, scores, self.nms_thresh, classes=labels)[: self.detections_per_img]
            rboxes, scores, labels = rboxes[kept], scores[kept], labels[kept]
        return {"rboxes": rboxes, "scores": scores, "labels": labels}


def build_rotated_fcos(
    num_classes: int,
    in_chans: int = 3,
    backbone: str = DEFAULT_BACKBONE,
    channels: int = 256,
    head_convs: int = 4,
    **kwargs,
) -> nn.Module:
    """:class:`RotatedFCOS` over ``backbone`` with its feature pyramid from stride 8 (P3 .. P7) of ``channels``."""
    net = fpn_backbone(backbone, in_chans, channels=channels)
    return RotatedFCOS(net, num_classes, level_strides(net, in_chans), head_convs=head_convs, **kwargs)


DETECTION_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "fasterrcnn": build_fasterrcnn,
    "retinanet": build_retinanet,
    "fcos": build_fcos,
    "rotated_fcos": build_rotated_fcos,
}


def is_rotated(model: nn.Module) -> bool:
    """Whether a detector predicts rotated boxes (``rboxes``) rather than ``xyxy`` ``boxes``."""
    return bool(getattr(model, "rotated", False))


def detector_spec(model: str | None) -> str:
    """What ``-m`` names, or the built-in tree-crown detector; without it (not trained yet, or removed) a
    one-line error says how to get a model."""
    if model:
        return model
    if DEFAULT_DETECTOR not in builtin_weights():
        raise WeightsError(
            f"the built-in tree-crown detector ({DEFAULT_DETECTOR}) is not installed: give -m MODEL.safetensors "
            "(rsvision train detection makes one)"
        )
    return DEFAULT_DETECTOR
