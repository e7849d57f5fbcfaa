"""One factory for the Faster R-CNN variants: torchvision's ResNet-50-FPN v2, any timm
``features_only`` backbone through an FPN (``ese_vovnet99b`` is the reference VoVNet-99-FPN),
and the optional detectron2 backend behind the same interface."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

import timm
import torch
from torch import nn
from torchvision.models import resnet50
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.models.detection.faster_rcnn import (
    FastRCNNConvFCHead,
    FastRCNNPredictor,
    RPNHead,
    TwoMLPHead,
)
from torchvision.ops import FeaturePyramidNetwork
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from detector.config import SPLITS, DetModelConfig
from ground.checkpoint import load_state
from ground.errors import ConfigError
from ground.pretrained import resolve_weights, timm_kwargs
from ground.structures import LABELS


class TimmFPN(nn.Module):
    """A timm ``features_only`` backbone (strides 4-32 by default) followed by an FPN with a
    max-pool level: ``(B, 3, H, W) -> {"0".."3", "pool"}`` maps of ``out_channels`` channels."""

    def __init__(self, name: str, out_indices, out_channels: int = 256, weights: str = ""):
        super().__init__()
        self.body = timm.create_model(
            name, features_only=True, out_indices=tuple(out_indices), **timm_kwargs(weights, name)
        )
        self.fpn = FeaturePyramidNetwork(
            self.body.feature_info.channels(), out_channels, extra_blocks=LastLevelMaxPool()
        )
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> OrderedDict:
        return self.fpn(OrderedDict((str(i), f) for i, f in enumerate(self.body(x))))


def class_names(cfg: DetModelConfig) -> list[str]:
    """Foreground class names, index 1.. in the model (0 is background)."""
    if cfg.split_by and cfg.split_by not in SPLITS:
        raise ConfigError(
            f"model.split_by is {cfg.split_by!r}; choose one of {', '.join(SPLITS)} (or leave it "
            "empty)"
        )
    if cfg.split_by and not cfg.class_agnostic:
        raise ConfigError(
            "model.split_by splits garments by instance_id or display, not by label: "
            "it needs model.class_agnostic: true"
        )
    if cfg.class_agnostic:
        return list(SPLITS[cfg.split_by]) if cfg.split_by else ["garment"]
    return list(cfg.labels or LABELS)


def class_ids(names: list[str], wanted: list[str], what: str) -> list[int] | None:
    """Model labels (1..) of the class names ``wanted`` among the model's ``names``; ``None``
    when ``wanted`` is empty (every class). An unknown name is a ``ConfigError`` naming ``what``."""
    if not wanted:
        return None
    unknown = [w for w in wanted if w not in names]
    if unknown:
        raise ConfigError(f"{what}: {unknown} not among the detector's classes {names}")
    return [names.index(w) + 1 for w in wanted]


def _resnet50_fpn_v2(cfg: DetModelConfig, n_anchors: int, _name: str = ""):
    """torchvision's ResNet-50-FPN v2: four-conv RPN head, conv + fc box head with BatchNorm."""
    body = resnet50(weights=None)
    if cfg.weights:
        load_state(
            body, resolve_weights(cfg.weights, "resnet50"), cfg.weights, "torchvision resnet50"
        )
    backbone = _resnet_fpn_extractor(body, 3, norm_layer=nn.BatchNorm2d)
    box_head = FastRCNNConvFCHead(
        (backbone.out_channels, 7, 7),
        [256] * 4,
        [cfg.representation_size],
        norm_layer=nn.BatchNorm2d,
    )
    return backbone, RPNHead(backbone.out_channels, n_anchors, conv_depth=2), box_head


def _timm_fpn(cfg: DetModelConfig, n_anchors: int, name: str):
    """Any timm ``features_only`` backbone ``name`` through an FPN: one-conv RPN head, two-fc box
    head."""
    backbone = TimmFPN(name, cfg.out_indices, cfg.fpn_channels, cfg.weights)
    return (
        backbone,
        RPNHead(backbone.out_channels, n_anchors),
        TwoMLPHead(backbone.out_channels * 7 * 7, cfg.representation_size),
    )


@dataclass(frozen=True)
class Backbone:
    """A backbone family (``model.backbone``, the part before a colon): ``build(cfg, anchors per
    location, name after the colon) -> (backbone, rpn_head, box_head)``; ``named``: the family
    takes a model name after the colon (``timm:<name>``), else none."""

    build: Callable
    named: bool = False


# model.backbone -> its family; "timm:<name>" takes the "timm" entry with <name>.
BACKBONES = {
    "resnet50_fpn_v2": Backbone(_resnet50_fpn_v2),
    "timm": Backbone(_timm_fpn, named=True),
}


def _torchvision(cfg: DetModelConfig) -> FasterRCNN:
    levels = 5
    if len(cfg.anchor_sizes) != levels:
        raise ConfigError(
            f"model.anchor_sizes needs {levels} sizes (4 FPN levels + pool), got {cfg.anchor_sizes}"
        )
    anchors = AnchorGenerator(
        tuple((s,) for s in cfg.anchor_sizes), (tuple(cfg.aspect_ratios),) * levels
    )
    kind, _, name = cfg.backbone.partition(":")
    if kind not in BACKBONES or BACKBONES[kind].named != bool(name):
        raise ConfigError(
            f"unknown model.backbone {cfg.backbone!r}: "
            f"{' or '.join(f'{k}:<name>' if b.named else k for k, b in BACKBONES.items())}"
        )
    backbone, rpn_head, box_head = BACKBONES[kind].build(
        cfg, anchors.num_anchors_per_location()[0], name
    )
    return FasterRCNN(
        backbone,
        num_classes=None,
        rpn_anchor_generator=anchors,
        rpn_head=rpn_head,
        box_head=box_head,
        box_predictor=FastRCNNPredictor(cfg.representation_size, len(class_names(cfg)) + 1),
        min_size=cfg.min_size,
        max_size=cfg.max_size,
        box_detections_per_img=cfg.box_detections_per_img,
        rpn_pre_nms_top_n_train=cfg.rpn_pre_nms_top_n_train,
        rpn_post_nms_top_n_train=cfg.rpn_post_nms_top_n_train,
        rpn_pre_nms_top_n_test=cfg.rpn_pre_nms_top_n_test,
        rpn_post_nms_top_n_test=cfg.rpn_post_nms_top_n_test,
        box_batch_size_per_image=cfg.box_batch_size_per_image,
        box_score_thresh=0.05,
    )


def _detectron2(cfg: DetModelConfig) -> nn.Module:
    from detector.detectron2_backend import build_detectron2

    return build_detectron2(cfg)


# model.backend -> its builder ``(cfg) -> detector``. detector.config.CHOICES names the same keys
# so that a config is checked when it loads without importing torch (a test keeps the two equal).
BACKENDS = {"torchvision": _torchvision, "detectron2": _detectron2}


def build_detector(cfg: DetModelConfig) -> nn.Module:
    """The detector for ``cfg``: a torchvision ``FasterRCNN`` (train mode takes images and
    targets and returns losses; eval mode returns boxes in input-image pixels), or the
    detectron2 wrapper with the same calling convention."""
    if cfg.backend not in BACKENDS:
        raise ConfigError(f"unknown model.backend {cfg.backend!r}; choose {' or '.join(BACKENDS)}")
    return BACKENDS[cfg.backend](cfg)
