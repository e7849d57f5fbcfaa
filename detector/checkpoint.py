"""Detector checkpoints: ``model.safetensors`` and the shared folder layout of
:mod:`ground.checkpoint`; loading for inference, checking a resume, initialising a fine-tune."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from safetensors.torch import load_file

from detector.config import DetectorConfig
from detector.model import build_detector, class_names
from ground.checkpoint import CheckpointError, check_kind, load_state, load_weights, read_config

log = logging.getLogger(__name__)
HEAD = "roi_heads.box_predictor."  # the class-dependent layers: new classes, new shapes


def load_detector(folder, device="cpu"):
    """Rebuild a trained detector from its checkpoint folder (eval mode) and its config."""
    check_kind(folder, "detector")
    cfg = read_config(folder, DetectorConfig)
    model = build_detector(replace(cfg.model, weights=""))  # its weights are the checkpoint's
    load_weights(model, Path(folder) / "model.safetensors", f"detector ({cfg.model.backbone})")
    return model.to(device).eval(), cfg


def check_resume(last: Path, cfg: DetectorConfig) -> None:
    """A resumed run must be of the same backbone and classes as the checkpoint it continues."""
    saved = read_config(last, DetectorConfig).model
    if (saved.backbone, class_names(saved)) != (cfg.model.backbone, class_names(cfg.model)):
        raise CheckpointError(
            f"{last}: checkpoint is {saved.backbone} with classes {class_names(saved)}, "
            f"the config asks for {cfg.model.backbone} with {class_names(cfg.model)}"
        )


def init_detector(model, folder, cfg: DetectorConfig) -> list[str]:
    """Fine-tuning: start from a checkpoint's weights. The class head keeps its fresh init where
    the checkpoint has other classes (e.g. one "garment" class -> two, ``model.split_by``); any
    other key or shape that does not fit is a ``CheckpointError``. Returns the keys left fresh."""
    path = Path(folder) / "model.safetensors"
    if not path.is_file():
        raise CheckpointError(f"{path}: missing (init_from must be a checkpoint folder)")
    state = load_file(str(path))
    own = model.state_dict()
    fresh = [k for k in own if k.startswith(HEAD) and k in state and state[k].shape != own[k].shape]
    state.update({k: own[k] for k in fresh})
    load_state(model, state, folder, f"detector ({cfg.model.backbone})")
    log.info(
        "initialised from %s%s",
        folder,
        f" ({len(fresh)} class-head tensors fresh)" if fresh else "",
    )
    return fresh
