"""Checkpoint folders shared by the detector and the embedder.

A checkpoint is a folder: one ``<name>.safetensors`` per module (weights), ``config.yaml`` (the
resolved config of the part that was trained), ``meta.json`` (epoch, step, classes...) and, for
resuming, ``train_state.pt`` (optimiser, scheduler, scaler; read back with
``torch.load(weights_only=True)``). Nothing is unpickled from user files. Imports torch: only
the model packages use this module.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException
from safetensors.torch import load_file, save_file

from ground.errors import LiveMatchError
from ground.io import atomic_write_text, write_json


class CheckpointError(LiveMatchError):
    """A checkpoint is missing, incomplete, or does not fit the requested model."""


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def save_checkpoint(
    folder, modules: dict[str, torch.nn.Module], cfg, meta: dict, train_state: dict | None = None
) -> Path:
    """Write a checkpoint folder atomically: files go to ``folder.tmp``, which then replaces it."""
    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name, module in modules.items():
        save_file(_state(module), str(tmp / f"{name}.safetensors"))
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


# Keys that checkpoints written before the pretrained-weights resolver (ground.pretrained) hold,
# and their name now: one ``weights`` source replaced each model's own flag and file path
# (``None``: dropped; a checkpoint's own weights are in its safetensors anyway).
RENAMED = {"pretrained": None, "checkpoint": "weights", "backbone_weights": "weights"}


def config_dict(folder) -> dict:
    """A checkpoint's ``config.yaml`` as a plain mapping, older key names brought up to date
    (:data:`RENAMED`)."""
    path = Path(folder) / "config.yaml"
    if not Path(folder).exists():
        raise CheckpointError(
            f"{folder}: no such checkpoint folder (train it first, or name another)"
        )
    if not path.is_file():
        raise CheckpointError(f"{folder}: not a checkpoint (no config.yaml)")
    data = OmegaConf.to_container(OmegaConf.load(path)) or {}
    model = data.get("model")
    if isinstance(model, dict):
        for old, new in RENAMED.items():
            value = model.pop(old, None)
            if new and value:
                model[new] = value
    return data


def read_config(folder, schema: type):
    """The checkpoint's ``config.yaml`` (:func:`config_dict`) merged onto ``schema``'s defaults
    (a dataclass instance)."""
    data = config_dict(folder)
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), data))
    except OmegaConfBaseException as e:
        kind = schema.__name__.removesuffix("Config").lower()
        raise CheckpointError(
            f"{folder}: not a {kind} checkpoint ({type(e).__name__}: "
            f"{str(e).splitlines()[0]}); was a detector given for an embedder, or the "
            "reverse?"
        ) from None


def read_meta(folder) -> dict:
    return json.loads((Path(folder) / "meta.json").read_text())


def checkpoint_kind(folder) -> str | None:
    """What a checkpoint folder holds (``detector``, ``embedder``, ``worn``), as its
    ``meta.json`` states it; ``None`` for a checkpoint written before meta.json named its kind."""
    path = Path(folder) / "meta.json"
    return json.loads(path.read_text()).get("kind") if path.is_file() else None


def check_kind(folder, expected: str) -> None:
    """A :class:`CheckpointError` naming ``folder`` when its meta.json says it holds another
    kind of model than ``expected`` (a checkpoint that does not say is let through)."""
    kind = checkpoint_kind(folder)
    if kind is not None and kind != expected:
        raise CheckpointError(f"{folder}: a {kind} checkpoint, not a {expected} one")


def read_train_state(folder) -> dict:
    return torch.load(Path(folder) / "train_state.pt", map_location="cpu", weights_only=True)


def read_state(path) -> dict[str, torch.Tensor]:
    """A weights file: safetensors, or a torch file read with ``weights_only`` (a state dict,
    or a dict holding one under ``state_dict`` / ``model``); never unpickles code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: missing")
    if path.suffix == ".safetensors":
        return load_file(str(path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises several kinds for a bad or unsafe file
        raise CheckpointError(
            f"{path}: not a weights file torch can read safely ({type(e).__name__}: {e})"
        ) from e
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: holds a {type(state).__name__}, not a state dict")
    return state


def load_weights(module: torch.nn.Module, path, what: str) -> None:
    """Load safetensors into ``module``; any missing / unexpected key or shape mismatch is a
    ``CheckpointError`` that names it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: missing")
    load_state(module, load_file(str(path)), path, what)


def load_state(module: torch.nn.Module, state: dict, path, what: str) -> None:
    """``module.load_state_dict(state)`` after checking that every key and shape fits; a
    mismatch is a ``CheckpointError`` naming ``path`` and the keys."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    shapes = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or extra or shapes:
        detail = (
            f"{len(missing)} missing (e.g. {missing[:2]}), {len(extra)} unexpected "
            f"(e.g. {extra[:2]}), {len(shapes)} of another shape (e.g. {shapes[:2]})"
        )
        raise CheckpointError(f"{path}: does not fit this {what}: {detail}")
    module.load_state_dict(state)
