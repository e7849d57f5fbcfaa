"""Embedder checkpoints: ``model.safetensors`` (the embedder), ``head.safetensors`` (margin-head
class weights) and the shared folder layout of :mod:`ground.checkpoint`."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import torch

from embedder.config import EmbedderConfig
from embedder.model import Embedder, build_embedder
from ground.checkpoint import CheckpointError, check_kind, load_weights, read_config

log = logging.getLogger(__name__)


def read_embedder_config(folder) -> EmbedderConfig:
    return read_config(folder, EmbedderConfig)


def load_embedder(folder, device: str | torch.device = "cpu") -> tuple[Embedder, EmbedderConfig]:
    """Rebuild the model from the checkpoint's own config and load its weights (eval mode)."""
    check_kind(folder, "embedder")
    cfg = read_embedder_config(folder)
    model = build_embedder(replace(cfg.model, weights=""))  # its weights are the checkpoint's
    load_weights(model, Path(folder) / "model.safetensors", f"embedder ({cfg.model.backbone})")
    return model.to(device).eval(), cfg


def load_ensemble(folders, scale: int, device: str | torch.device = "cpu"):
    """Checkpoints ``folders`` as one ensemble: ``(models, their configs, scales)``, the short
    side each embeds at being ``scale`` (the run's ``embedder.extract.scale``) for the first and
    its own recipe's for the others; ``livematch run``, ``embed eval`` and ``embed extract``
    agree."""
    loaded = [load_embedder(f, device) for f in folders]
    models, cfgs = [m for m, _ in loaded], [c for _, c in loaded]
    return models, cfgs, [int(scale)] + [int(c.extract.scale) for c in cfgs[1:]]


def check_architecture(folder, cfg: EmbedderConfig) -> None:
    """Fail with a message naming both backbones when a checkpoint is of another architecture."""
    saved = read_embedder_config(folder).model
    if (saved.backbone, saved.embedding_dim) != (cfg.model.backbone, cfg.model.embedding_dim):
        raise CheckpointError(
            f"{folder}: checkpoint is {saved.backbone} -> {saved.embedding_dim}-d, "
            f"the config asks for {cfg.model.backbone} -> {cfg.model.embedding_dim}-d"
        )


def init_embedder(model: Embedder, folder, cfg: EmbedderConfig) -> None:
    """Fine-tuning: load backbone and neck from a checkpoint of the same architecture; the
    margin head starts fresh (new data, new classes)."""
    check_architecture(folder, cfg)
    load_weights(model, Path(folder) / "model.safetensors", f"embedder ({cfg.model.backbone})")
    log.info("initialised from %s", folder)
