"""Embedder training on :func:`ground.engine.train_loop`, for every recipe: AdamW or SGD (the
margin head at ``head_lr_mult`` x lr), aspect-ratio bucketed P x K batches, ArcFace / cross-batch
memory losses, optional EMA of the weights, fine-tuning from a checkpoint. OUT/best is the epoch
with the best validation top-1 or mAP@10, or the last one (``optim.select``)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from embedder.augment import build_augment
from embedder.checkpoint import check_architecture, init_embedder
from embedder.config import EmbedderConfig
from embedder.data import Crop, CropDataset
from embedder.evaluate import evaluate_crops
from embedder.losses import EmbeddingLoss, load_memory_state, memory_state
from embedder.model import Embedder, build_embedder
from embedder.samplers import AspectRatioBatchSampler
from ground.checkpoint import CheckpointError, load_weights, save_checkpoint
from ground.distributed import setup_distributed
from ground.engine import Loop, Task, TrainResult, train_loop
from ground.errors import TrainingError

SELECT = ("top1", "map10", "last")  # how OUT/best is chosen (optim.select)
LOG_FIELDS = ["epoch", "step", "lr", "loss", "margin", "xbm", "seconds", "top1", "recall5", "map10"]


class _TrainModule(torch.nn.Module):
    """Model and loss in one module, so that DDP synchronises the head's class weights too."""

    def __init__(self, model: Embedder, loss: EmbeddingLoss):
        super().__init__()
        self.model, self.loss = model, loss

    def forward(self, images, labels, step: int):
        return self.loss(self.model(self.model.normalize_input(images)), labels, step)


def _optimizer(module: _TrainModule, cfg) -> torch.optim.Optimizer:
    o = cfg.optim
    if o.freeze_backbone:
        module.model.backbone.requires_grad_(False)
    backbone = [p for p in module.model.backbone.parameters() if p.requires_grad]
    neck = [
        p
        for n, p in module.model.named_parameters()
        if not n.startswith("backbone.") and p.requires_grad
    ]
    groups = [
        {"params": backbone, "lr": o.lr},
        {"params": neck, "lr": o.lr},
        {"params": list(module.loss.parameters()), "lr": o.lr * o.head_lr_mult},
    ]
    groups = [g for g in groups if g["params"]]
    if o.optimizer == "sgd":
        return torch.optim.SGD(
            groups, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay, nesterov=True
        )
    if o.optimizer != "adamw":
        raise TrainingError(f"unknown optim.optimizer {o.optimizer!r}; choose adamw or sgd")
    return torch.optim.AdamW(groups, lr=o.lr, weight_decay=o.weight_decay)


class EmbedderTask(Task):
    kind = "embedder"
    log_fields = LOG_FIELDS
    # Some timm backbones keep modules that forward_features skips (MobileNetV3's conv_head).
    find_unused_parameters = True

    def __init__(
        self,
        cfg: EmbedderConfig,
        module: _TrainModule,
        crops: list[Crop],
        labels: np.ndarray,
        num_classes: int,
        val_crops: list[Crop] | None,
        rank: int,
        world: int,
        device,
    ):
        self.cfg, self.module, self.model, self.device = cfg, module, module.model, device
        self.val, self.has_val = val_crops, bool(val_crops)
        self.select = "" if cfg.optim.select == "last" else cfg.optim.select
        self.num_classes = num_classes
        self.sampler = AspectRatioBatchSampler(
            [c.aspect for c in crops],
            labels,
            cfg.data.batch_size,
            cfg.data.aspect_buckets,
            cfg.data.scales,
            cfg.data.p_identities,
            cfg.data.k_per_identity,
            cfg.optim.seed,
            rank,
            world,
        )
        self.loader = torch.utils.data.DataLoader(
            CropDataset(crops, build_augment(cfg.augment)),
            batch_sampler=self.sampler,
            num_workers=cfg.data.workers,
            persistent_workers=cfg.data.workers > 0,
        )
        self.ema = None
        if cfg.optim.ema > 0:
            from timm.utils import ModelEmaV3

            self.ema = ModelEmaV3(self.model, decay=cfg.optim.ema)

    def __len__(self) -> int:
        return len(self.sampler)

    def batches(self, epoch: int):
        self.sampler.set_epoch(epoch)
        return self.loader

    def step(self, module, batch, step: int):
        images, targets = batch
        return module(images.to(self.device, non_blocking=True), targets.to(self.device), step)

    def after_update(self, step: int) -> None:
        if self.ema is not None:
            self.ema.update(self.model, step=step - 1)

    @property
    def evaluated(self) -> Embedder:
        return self.ema.module if self.ema is not None else self.model

    def evaluate(self) -> dict:
        return evaluate_crops(self.evaluated, self.val, self.cfg)

    def meta(self) -> dict:
        return {"num_classes": self.num_classes}

    def state(self) -> dict:
        return {
            **({"ema": self.ema.module.state_dict()} if self.ema else {}),
            **memory_state(self.module.loss),
        }

    def save(self, folder: Path, meta: dict, state: dict | None = None) -> None:
        model = (
            self.model if state is not None else self.evaluated
        )  # OUT/best holds what was evaluated
        save_checkpoint(
            folder, {"model": model, "head": self.module.loss.head}, self.cfg, meta, state
        )

    def resume(self, last: Path, meta: dict, state: dict) -> None:
        check_architecture(last, self.cfg)
        if meta["num_classes"] != self.num_classes:
            raise CheckpointError(
                f"{last}: trained on {meta['num_classes']} identities, the data now has "
                f"{self.num_classes}; use a new out_dir (or fine-tune with --init-from)"
            )
        load_weights(
            self.model, last / "model.safetensors", f"embedder ({self.cfg.model.backbone})"
        )
        load_weights(self.module.loss.head, last / "head.safetensors", "margin head")
        if self.ema is not None and "ema" in state:
            self.ema.module.load_state_dict(state["ema"])
        load_memory_state(self.module.loss, state)


def train(
    cfg: EmbedderConfig,
    crops: list[Crop],
    out_dir,
    val_crops: list[Crop] | None = None,
    init_from=None,
    progress: bool = True,
    max_steps: int | None = None,
) -> TrainResult:
    """Train on labelled crops (``assign_labels``); checkpoints go to ``out_dir/last`` and
    ``out_dir/best``. A run whose ``out_dir/last`` exists resumes from it."""
    rank, world, device = setup_distributed(cfg.optim.dist_timeout_min)
    torch.manual_seed(cfg.optim.seed)
    if not crops:
        raise TrainingError(
            "no training crops: check data.roots and that boxes have instance_id > 0"
        )
    if cfg.optim.select not in SELECT:
        raise TrainingError(
            f"optim.select is {cfg.optim.select!r}; choose one of {', '.join(SELECT)}"
        )
    if cfg.loss.xbm and cfg.loss.xbm_memory < cfg.data.batch_size:
        raise TrainingError(f"loss.xbm_memory ({cfg.loss.xbm_memory}) must be >= data.batch_size")
    labels = np.array([c.label for c in crops])
    num_classes = int(labels.max()) + 1
    model = build_embedder(replace(cfg.model, weights="") if init_from else cfg.model)
    if init_from:
        init_embedder(model, init_from, cfg)
    loss = EmbeddingLoss(
        cfg.loss, num_classes, cfg.model.embedding_dim, np.bincount(labels, minlength=num_classes)
    )
    module = _TrainModule(model, loss).to(device)
    optimizer = _optimizer(module, cfg)
    task = EmbedderTask(cfg, module, crops, labels, num_classes, val_crops, rank, world, device)
    return train_loop(
        task, optimizer, Loop.of(cfg.optim), out_dir, rank, world, device, progress, max_steps
    )
