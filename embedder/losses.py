"""Training losses: a margin head (pytorch-metric-learning's ArcFace, sub-center ArcFace or
CosFace; optionally with class-frequency margins) plus a cross-batch memory: a pair loss over
the memory (``xbm_loss: multisimilarity | contrastive``), or the memory's embeddings through the
margin head with the batch (``head``, as the 7th-place code does).

Called as ``loss(embeddings, labels, step)``; the head's class weights ``W`` are parameters of
the loss module: they go into the optimiser and the checkpoint with the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from pytorch_metric_learning import losses
from torch import nn

from embedder.config import LossConfig
from ground.errors import ConfigError


def class_margins(counts, low: float, high: float, power: float = 0.25) -> torch.Tensor:
    """Per-class margins (same unit as ``low`` / ``high``) from class frequencies, as in the
    Google Landmark 2021 winner: ``m_c = low + (high - low) * s_c`` with ``s_c`` the min-max
    normalised ``n_c ** -power``; the rarest class gets ``high``, the most frequent ``low``."""
    inv = torch.as_tensor(counts, dtype=torch.float64).clamp(min=1) ** -power
    span = inv.max() - inv.min()
    scaled = (inv - inv.min()) / span if span > 0 else torch.ones_like(inv)
    return (low + (high - low) * scaled).float()


class _PerClassMargin:
    """Mixin for pml's ArcFace-family losses: the additive angular margin of each sample is its
    class's margin (radians in the buffer ``class_margin``) instead of one scalar."""

    def compute_loss(self, embeddings, labels, *args):
        self._labels = labels
        return super().compute_loss(embeddings, labels, *args)

    def modify_cosine_of_target_classes(self, cosine_of_target_classes):
        m = self.class_margin.to(cosine_of_target_classes)[self._labels]
        angles = self.get_angles(cosine_of_target_classes)
        return torch.where(
            angles <= math.pi - m, torch.cos(angles + m), torch.cos(angles) - m * torch.sin(m)
        )


class DynamicArcFaceLoss(_PerClassMargin, losses.ArcFaceLoss):
    pass


class DynamicSubCenterArcFaceLoss(_PerClassMargin, losses.SubCenterArcFaceLoss):
    pass


def _angular(fixed: type, per_class: type, sub_centers: bool = False):
    """An ArcFace-family head: pml's ``fixed`` loss (additive angular margin ``loss.margin``
    degrees), or with ``loss.dynamic_margin`` its ``per_class`` version, whose margins come from
    the class frequencies (:func:`class_margins`)."""

    def build(cfg: LossConfig, num_classes: int, embedding_dim: int, class_counts=None):
        kw = dict(
            num_classes=num_classes,
            embedding_size=embedding_dim,
            margin=cfg.margin,
            scale=cfg.scale,
        )
        if sub_centers:
            kw["sub_centers"] = cfg.sub_centers
        if not cfg.dynamic_margin:
            return fixed(**kw)
        if class_counts is None or len(class_counts) != num_classes:
            raise ConfigError("loss.dynamic_margin needs the crop count of every identity")
        head = per_class(**kw)
        margins = class_margins(class_counts, cfg.margin_min, cfg.margin, cfg.margin_power)
        head.register_buffer("class_margin", torch.deg2rad(margins))
        return head

    return build


def _cosface(cfg: LossConfig, num_classes: int, embedding_dim: int, class_counts=None):
    """pml's CosFace: an additive cosine margin of ``loss.margin / 100``."""
    return losses.CosFaceLoss(
        num_classes=num_classes,
        embedding_size=embedding_dim,
        margin=cfg.margin / 100.0,
        scale=cfg.scale,
    )


@dataclass(frozen=True)
class Head:
    """A margin head (``loss.head``): ``build(cfg, num_classes, embedding_dim, class_counts)``
    and whether it takes class-frequency margins (``loss.dynamic_margin``)."""

    build: Callable[..., nn.Module]
    per_class_margin: bool = False


# loss.head -> the head (embedder.config.CHOICES lists the same names, without importing torch)
HEADS = {
    "arcface": Head(_angular(losses.ArcFaceLoss, DynamicArcFaceLoss), per_class_margin=True),
    "subcenter": Head(
        _angular(losses.SubCenterArcFaceLoss, DynamicSubCenterArcFaceLoss, sub_centers=True),
        per_class_margin=True,
    ),
    "cosface": Head(_cosface),
}


def _names(table) -> str:
    """``"a, b or c"``: a table's names for a message."""
    *first, last = table
    return f"{', '.join(first)} or {last}"


def build_head(
    cfg: LossConfig, num_classes: int, embedding_dim: int, class_counts=None
) -> nn.Module:
    """The margin loss for ``num_classes`` identities (``class_counts`` for dynamic margins)."""
    if cfg.head not in HEADS:
        raise ConfigError(f"unknown loss.head {cfg.head!r}; choose {_names(HEADS)}")
    head = HEADS[cfg.head]
    if cfg.dynamic_margin and not head.per_class_margin:
        per_class = [name for name, h in HEADS.items() if h.per_class_margin]
        raise ConfigError(f"loss.dynamic_margin supports the {' and '.join(per_class)} heads only")
    return head.build(cfg, num_classes, embedding_dim, class_counts)


class HeadMemory(nn.Module):
    """The 7th-place solution's cross-batch memory: the last ``size`` embeddings (detached) and
    labels go through the margin head together with the batch, one cross-entropy over both. The
    batch is written to the memory before the head runs (their order: a filled memory holds the
    batch once more, detached). Buffer names follow pml's ``CrossBatchMemory`` (same train
    state)."""

    def __init__(self, embedding_dim: int, size: int):
        super().__init__()
        self.register_buffer("embedding_memory", torch.zeros(size, embedding_dim))
        self.register_buffer("label_memory", torch.zeros(size, dtype=torch.long))
        self.queue_idx, self.has_been_filled = 0, False

    def add(self, embeddings: torch.Tensor, labels: torch.Tensor) -> None:
        size, n = len(self.label_memory), len(labels)
        slots = (self.queue_idx + torch.arange(n, device=labels.device)) % size
        self.embedding_memory[slots] = embeddings.detach().to(self.embedding_memory.dtype)
        self.label_memory[slots] = labels.detach()
        self.has_been_filled = self.has_been_filled or self.queue_idx + n >= size
        self.queue_idx = (self.queue_idx + n) % size

    def forward(
        self, head: nn.Module, embeddings: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        self.add(embeddings, labels)
        filled = len(self.label_memory) if self.has_been_filled else self.queue_idx
        return head(
            torch.cat([embeddings, self.embedding_memory[:filled]]),
            torch.cat([labels, self.label_memory[:filled]]),
        )


def _pair_memory(pair_loss):
    """pml's ``CrossBatchMemory`` around the pair loss ``pair_loss()`` makes: the batch's pairs
    with the remembered embeddings, a loss added to the margin head's."""

    def build(embedding_dim: int, size: int) -> nn.Module:
        return losses.CrossBatchMemory(pair_loss(), embedding_dim, memory_size=size)

    return build


def _contrastive() -> nn.Module:
    return losses.ContrastiveLoss(pos_margin=0.0, neg_margin=0.5)


# loss.xbm_loss -> the cross-batch memory, ``(embedding_dim, memory size) -> module``: a pair loss
# over the memory (pml's CrossBatchMemory wraps pair losses only, not a margin head), or ``head``:
# the memory's embeddings through the margin head with the batch (HeadMemory). embedder.config's
# CHOICES lists the same names, without importing torch.
XBM_LOSSES = {
    "multisimilarity": _pair_memory(losses.MultiSimilarityLoss),
    "contrastive": _pair_memory(_contrastive),
    "head": HeadMemory,
}


class EmbeddingLoss(nn.Module):
    """``head(e, y) + xbm_weight * XBM(normalize(e), y)``, the memory term from step ``xbm_start``.

    pml's ``CrossBatchMemory`` wraps pair losses only (not ArcFace), hence the sum of two losses.
    """

    def __init__(self, cfg: LossConfig, num_classes: int, embedding_dim: int, class_counts=None):
        super().__init__()
        self.cfg = cfg
        self.head = build_head(cfg, num_classes, embedding_dim, class_counts)
        self.xbm = None
        if cfg.xbm and cfg.xbm_loss not in XBM_LOSSES:
            raise ConfigError(
                f"unknown loss.xbm_loss {cfg.xbm_loss!r}; choose {_names(XBM_LOSSES)}"
            )
        if cfg.xbm:
            self.xbm = XBM_LOSSES[cfg.xbm_loss](embedding_dim, cfg.xbm_memory)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor, step: int = 0):
        """Returns the total loss and its parts ``{"margin": float, "xbm": float}``. Runs in fp32
        outside autocast: in half precision a cosine near 1 rounds to 1, where the margin's acos
        has an infinite gradient (GradScaler would skip the step)."""
        with torch.autocast(device_type=embeddings.device.type, enabled=False):
            embeddings = embeddings.float()
            if isinstance(self.xbm, HeadMemory) and step >= self.cfg.xbm_start:
                margin = self.xbm(
                    self.head, embeddings, labels
                )  # the memory rides in the head's loss
                return margin, {"margin": float(margin.detach()), "xbm": 0.0}
            margin = self.head(embeddings, labels)
            parts = {"margin": float(margin.detach()), "xbm": 0.0}
            if self.xbm is None or step < self.cfg.xbm_start:
                return margin, parts
            memory = self.xbm(F.normalize(embeddings, dim=1), labels)
            parts["xbm"] = float(memory.detach())
            return margin + self.cfg.xbm_weight * memory, parts


def memory_state(loss: EmbeddingLoss) -> dict:
    """The cross-batch memory's contents and position (train state, so that a resumed run
    continues with the memory an uninterrupted one has); empty without a memory."""
    if loss.xbm is None:
        return {}
    return {
        "xbm": {
            **loss.xbm.state_dict(),
            "queue_idx": int(loss.xbm.queue_idx),
            "has_been_filled": bool(loss.xbm.has_been_filled),
        }
    }


def load_memory_state(loss: EmbeddingLoss, state: dict) -> None:
    """Restore :func:`memory_state` (nothing when either side has no memory)."""
    saved = state.get("xbm")
    if loss.xbm is None or not saved:
        return
    loss.xbm.load_state_dict({k: saved[k] for k in ("embedding_memory", "label_memory")})
    loss.xbm.queue_idx, loss.xbm.has_been_filled = (
        int(saved["queue_idx"]),
        bool(saved["has_been_filled"]),
    )
