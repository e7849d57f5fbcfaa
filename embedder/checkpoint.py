"""Checkpoints: a folder with ``model.safetensors`` (embedder weights), ``head.safetensors``
(margin-head class weights), ``config.yaml`` (the resolved embedder config), ``meta.json``
(identities, epoch, step) and, for resuming, ``train_state.pt`` (optimiser, scheduler, scaler;
read back with ``torch.load(weights_only=True)``). Nothing is unpickled from user files."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from omegaconf import OmegaConf
from safetensors.torch import load_file, save_file

from embedder.config import EmbedderConfig
from embedder.model import Embedder, build_embedder
from livematch.errors import LiveMatchError
from livematch.io import atomic_write_text, write_json


class CheckpointError(LiveMatchError):
    """A checkpoint is missing, incomplete, or does not fit the requested model."""


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def save_checkpoint(folder, model: Embedder, head: torch.nn.Module | None, cfg: EmbedderConfig,
                    meta: dict, train_state: dict | None = None) -> Path:
    """Write a checkpoint folder atomically: files go to ``folder.tmp`` which then replaces it."""
    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(_state(model), str(tmp / "model.safetensors"))
    if head is not None:
        save_file(_state(head), str(tmp / "head.safetensors"))
    atomic_write_text(tmp / "config.yaml", OmegaConf.to_yaml(OmegaConf.structured(cfg)))
    write_json(tmp / "meta.json", meta)
    if train_state is not None:
        torch.save(train_state, tmp / "train_state.pt")
    old = folder.with_name(folder.name + ".old")
    if folder.exists():
        shutil.rmtree(old, ignore_errors=True)
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
    return folder


def read_config(folder) -> EmbedderConfig:
    path = Path(folder) / "config.yaml"
    if not path.is_file():
        raise CheckpointError(f"{folder}: not an embedder checkpoint (no config.yaml)")
    merged = OmegaConf.merge(OmegaConf.structured(EmbedderConfig), OmegaConf.load(path))
    return OmegaConf.to_object(merged)


def read_meta(folder) -> dict:
    return json.loads((Path(folder) / "meta.json").read_text())


def load_weights(module: torch.nn.Module, path: Path, what: str) -> None:
    """Load safetensors into ``module``; any missing / unexpected key or shape mismatch is a
    ``CheckpointError`` that names it."""
    if not path.is_file():
        raise CheckpointError(f"{path}: missing")
    state = load_file(str(path))
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    shapes = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or extra or shapes:
        detail = (f"{len(missing)} missing (e.g. {missing[:2]}), {len(extra)} unexpected "
                  f"(e.g. {extra[:2]}), {len(shapes)} of another shape (e.g. {shapes[:2]})")
        raise CheckpointError(f"{path}: does not fit this {what}: {detail}")
    module.load_state_dict(state)


def load_embedder(folder, device: str | torch.device = "cpu") -> tuple[Embedder, EmbedderConfig]:
    """Rebuild the model from the checkpoint's own config and load its weights (eval mode)."""
    cfg = read_config(folder)
    model = build_embedder(cfg.model)
    load_weights(model, Path(folder) / "model.safetensors", f"embedder ({cfg.model.backbone})")
    return model.to(device).eval(), cfg


def check_architecture(folder, cfg: EmbedderConfig) -> None:
    """Fail with a message naming both backbones when a checkpoint is of another architecture."""
    saved = read_config(folder).model
    if (saved.backbone, saved.embedding_dim) != (cfg.model.backbone, cfg.model.embedding_dim):
        raise CheckpointError(f"{folder}: checkpoint is {saved.backbone} -> {saved.embedding_dim}-d, "
                              f"the config asks for {cfg.model.backbone} -> {cfg.model.embedding_dim}-d")
