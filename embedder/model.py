"""The embedder: timm backbone -> GeM pooling -> Linear -> BatchNorm1d, l2-normalised output."""

from __future__ import annotations

import timm
import torch
import torch.nn.functional as F
from torch import nn

from embedder.config import ModelConfig
from ground.errors import ConfigError
from ground.pretrained import timm_kwargs


def gem(x: torch.Tensor, p: torch.Tensor | float = 3.0, eps: float = 1e-6) -> torch.Tensor:
    """Generalised mean pooling ``(mean(clamp(x, eps) ** p)) ** (1 / p)`` over H, W:
    ``(B, C, H, W) -> (B, C)``; p = 1 is average pooling, p -> inf tends to max pooling."""
    return x.clamp(min=eps).pow(p).mean(dim=(2, 3)).pow(1.0 / p)


class GeM(nn.Module):
    """:func:`gem` with a learnable (or fixed) exponent ``p``."""

    def __init__(self, p: float = 3.0, eps: float = 1e-6, trainable: bool = True):
        super().__init__()
        self.p = nn.Parameter(torch.tensor(float(p)), requires_grad=trainable)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Pool in float32: x ** p overflows fp16 for p ~ 3 on large activations.
        return gem(x.float(), self.p.clamp(min=1.0), self.eps).to(x.dtype)


# model.pool -> its layer ``(cfg) -> (B, C, H, W) -> (B, C)``; embedder.config.CHOICES lists the
# same names (a config is checked without importing torch; a test keeps the two equal)
POOLS = {
    "gem": lambda cfg: GeM(cfg.gem_p, trainable=cfg.gem_trainable),
    "avg": lambda cfg: nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()),
    "max": lambda cfg: nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten()),
}
# model.neck_activation -> the layer after the neck's BatchNorm (prelu: the GLR 2020 neck)
NECKS = {"none": nn.Identity, "prelu": nn.PReLU}


class Embedder(nn.Module):
    """``(B, 3, H, W)`` normalised images -> ``(B, embedding_dim)`` neck outputs.

    ``forward`` returns the BatchNorm output (what the margin losses train on);
    :meth:`embed` returns the l2-normalised feature used for retrieval.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.backbone = timm.create_model(
            cfg.backbone,
            num_classes=0,
            global_pool="",
            drop_rate=cfg.drop_rate,
            **timm_kwargs(cfg.weights, cfg.backbone),
        )
        if cfg.pool not in POOLS:
            raise ConfigError(f"unknown model.pool {cfg.pool!r}; choose one of {sorted(POOLS)}")
        self.pool = POOLS[cfg.pool](cfg)
        self.fc = nn.Linear(self.backbone.num_features, cfg.embedding_dim)
        self.bn = nn.BatchNorm1d(cfg.embedding_dim)
        if cfg.neck_activation not in NECKS:
            raise ConfigError(
                f"unknown model.neck_activation {cfg.neck_activation!r}; choose one of "
                f"{sorted(NECKS)}"
            )
        self.act = NECKS[cfg.neck_activation]()
        data_cfg = timm.data.resolve_data_config({}, model=self.backbone)
        self.register_buffer(
            "mean", torch.tensor(data_cfg["mean"]).view(1, 3, 1, 1), persistent=False
        )
        self.register_buffer(
            "std", torch.tensor(data_cfg["std"]).view(1, 3, 1, 1), persistent=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.fc(self.pool(self.backbone.forward_features(x)))))

    def normalize_input(self, images: torch.Tensor) -> torch.Tensor:
        """``uint8`` (or 0-255 float) ``(B, 3, H, W)`` RGB -> the backbone's normalised input."""
        return (images.float() / 255.0 - self.mean) / self.std

    @torch.no_grad()
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """``uint8`` ``(B, 3, H, W)`` RGB -> ``(B, embedding_dim)`` unit-norm features."""
        return F.normalize(self(self.normalize_input(images)).float(), dim=1)


def build_embedder(cfg: ModelConfig) -> Embedder:
    """The one factory: any timm backbone name works (``num_features`` comes from timm)."""
    return Embedder(cfg)


def ensemble_features(features: list[torch.Tensor]) -> torch.Tensor:
    """Ensemble several models' features: l2-normalise each, concatenate, l2-normalise again
    (the reference: four 512-d models -> 2048-d)."""
    return F.normalize(torch.cat([F.normalize(f.float(), dim=1) for f in features], dim=1), dim=1)
