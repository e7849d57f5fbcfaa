"""Detector training on :func:`ground.engine.train_loop`: multi-scale short sides (the model
transform draws one per image), horizontal flip, SGD, COCO AP / AP50 on a held-out split after each
epoch (OUT/best is the epoch with the best AP50)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from detector.checkpoint import check_resume, init_detector
from detector.config import DetectorConfig
from detector.data import DetectionDataset, DetSample, collate
from detector.evaluate import evaluate_detector
from detector.model import build_detector, class_names
from ground.checkpoint import load_weights, save_checkpoint
from ground.distributed import setup_distributed
from ground.engine import Loop, Task, TrainResult, train_loop
from ground.errors import TrainingError

LOG_FIELDS = [
    "epoch",
    "step",
    "lr",
    "loss",
    "loss_classifier",
    "loss_box_reg",
    "loss_objectness",
    "loss_rpn_box_reg",
    "seconds",
    "AP",
    "AP50",
]


class DetectorTask(Task):
    kind = "detector"
    log_fields = LOG_FIELDS
    select = "AP50"

    def __init__(
        self,
        cfg: DetectorConfig,
        model,
        train: list[DetSample],
        val: list[DetSample],
        world: int,
        device,
    ):
        self.cfg, self.model, self.module, self.val, self.device = cfg, model, model, val, device
        self.has_val = bool(val)
        dataset = DetectionDataset(train, cfg.train.hflip)
        self.sampler = (
            torch.utils.data.distributed.DistributedSampler(dataset, seed=cfg.train.seed)
            if world > 1
            else None
        )
        self.order = (
            torch.Generator()
        )  # re-seeded each epoch: a resumed run shuffles as an uninterrupted one
        self.loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=cfg.train.batch_size,
            shuffle=self.sampler is None,
            sampler=self.sampler,
            num_workers=cfg.train.workers,
            collate_fn=collate,
            generator=self.order,
        )

    def __len__(self) -> int:
        return len(self.loader)

    def batches(self, epoch: int):
        if self.sampler is not None:
            self.sampler.set_epoch(epoch)
        self.order.manual_seed(self.cfg.train.seed + epoch)
        return self.loader

    def step(self, module, batch, step: int):
        images, targets = batch
        images = [im.to(self.device) for im in images]
        targets = [{k: v.to(self.device) for k, v in t.items()} for t in targets]
        losses = module(images, targets)
        return sum(losses.values()), {k: float(v.detach()) for k, v in losses.items()}

    def evaluate(self) -> dict:
        return evaluate_detector(
            self.model,
            self.val[: self.cfg.train.max_val_images],
            self.cfg.infer.frame_short_side,
            len(class_names(self.cfg.model)),
        )

    def meta(self) -> dict:
        return {"classes": class_names(self.cfg.model)}

    def save(self, folder: Path, meta: dict, state: dict | None = None) -> None:
        save_checkpoint(folder, {"model": self.model}, self.cfg, meta, state)

    def resume(self, last: Path, meta: dict, state: dict) -> None:
        check_resume(last, self.cfg)
        load_weights(
            self.model, last / "model.safetensors", f"detector ({self.cfg.model.backbone})"
        )


def train_detector(
    cfg: DetectorConfig,
    train: list[DetSample],
    val: list[DetSample],
    out_dir,
    progress: bool = True,
    max_steps: int | None = None,
    init_from=None,
) -> TrainResult:
    """Train on ``train``, score ``val`` after each epoch; resumes when ``out_dir/last`` exists.
    ``init_from``: a checkpoint folder to fine-tune from
    (:func:`detector.checkpoint.init_detector`)."""
    if not train:
        raise TrainingError("no training images: check the roots and their annotations")
    rank, world, device = setup_distributed(cfg.train.dist_timeout_min)
    torch.manual_seed(cfg.train.seed)
    model = build_detector(replace(cfg.model, weights="") if init_from else cfg.model)
    if init_from:
        init_detector(model, init_from, cfg)
    model = model.to(device)
    model.transform.min_size = tuple(cfg.train.short_sides)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(
        params, lr=cfg.train.lr, momentum=cfg.train.momentum, weight_decay=cfg.train.weight_decay
    )
    task = DetectorTask(cfg, model, train, val, world, device)
    return train_loop(
        task, optimizer, Loop.of(cfg.train), out_dir, rank, world, device, progress, max_steps
    )
