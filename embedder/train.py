"""One training loop for every embedder recipe: AdamW or SGD, cosine learning rate with linear
warm-up, AMP on CUDA, gradient accumulation and clipping, optional EMA, DDP under torchrun,
checkpoints each epoch (``last``, and ``best``: by validation top-1 or mAP@10, or the last epoch;
``optim.select``), resume after a kill,
fine-tuning from a checkpoint, tqdm progress and a CSV log.

Resuming restarts the interrupted epoch from its first batch (the sampler's order is a function
of the seed and the epoch, so the run is the one it would have been).
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ground.progress import bar_disabled
from embedder.augment import build_augment
from embedder.checkpoint import check_architecture
from ground.checkpoint import (CheckpointError, load_weights, read_meta, read_train_state,
                                  save_checkpoint)
from embedder.config import EmbedderConfig
from embedder.data import Crop, CropDataset
from embedder.evaluate import retrieval_metrics
from embedder.extract import embed_images
from embedder.losses import EmbeddingLoss, load_memory_state, memory_state
from embedder.model import Embedder, build_embedder
from embedder.samplers import AspectRatioBatchSampler
from ground.distributed import setup_distributed
from ground.errors import TrainingError
from ground.io import append_csv

log = logging.getLogger(__name__)
SELECT = ("top1", "map10", "last")  # how OUT/best is chosen (optim.select)
LOG_FIELDS = ["epoch", "step", "lr", "loss", "margin", "xbm", "seconds", "top1", "recall5", "map10"]


class _TrainModule(torch.nn.Module):
    """Model and loss in one module, so that DDP synchronises the head's class weights too."""

    def __init__(self, model: Embedder, loss: EmbeddingLoss):
        super().__init__()
        self.model, self.loss = model, loss

    def forward(self, images, labels, step: int):
        return self.loss(self.model(self.model.normalize_input(images)), labels, step)


@dataclass
class TrainResult:
    checkpoint: Path
    history: list[dict] = field(default_factory=list)
    model: object = None  # the model in memory at the end of training (what OUT/last holds)


def _optimizer(module: _TrainModule, cfg) -> torch.optim.Optimizer:
    o = cfg.optim
    if o.freeze_backbone:
        module.model.backbone.requires_grad_(False)
    backbone = [p for p in module.model.backbone.parameters() if p.requires_grad]
    neck = [p for n, p in module.model.named_parameters() if not n.startswith("backbone.") and p.requires_grad]
    groups = [{"params": backbone, "lr": o.lr}, {"params": neck, "lr": o.lr},
              {"params": list(module.loss.parameters()), "lr": o.lr * o.head_lr_mult}]
    groups = [g for g in groups if g["params"]]
    if o.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay, nesterov=True)
    if o.optimizer != "adamw":
        raise TrainingError(f"unknown optim.optimizer {o.optimizer!r}; choose adamw or sgd")
    return torch.optim.AdamW(groups, lr=o.lr, weight_decay=o.weight_decay)


def cosine_with_warmup(total: int, warmup: int):
    """Multiplier of the base learning rate at step ``s``: linear from 0 to 1 over ``warmup``
    steps, then half a cosine down to 0 at ``total``."""
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return factor


def evaluate_crops(model: Embedder, crops: list[Crop], cfg: EmbedderConfig) -> dict:
    """Shop -> video retrieval metrics of ``model`` on (held-out) crops."""
    import cv2
    model.eval()
    images = [cv2.imread(c.path)[..., ::-1] for c in crops]
    feats = embed_images(model, images, cfg.extract, buckets=cfg.data.aspect_buckets).astype(np.float32)
    shop = np.array([c.is_shop for c in crops])
    ids = np.array([c.instance_id for c in crops])
    return retrieval_metrics(feats[shop], ids[shop], feats[~shop], ids[~shop])


def _init_from(model: Embedder, folder, cfg: EmbedderConfig) -> None:
    """Fine-tuning: load backbone and neck from a checkpoint of the same architecture; the
    margin head starts fresh (new data, new classes)."""
    check_architecture(folder, cfg)
    load_weights(model, Path(folder) / "model.safetensors", f"embedder ({cfg.model.backbone})")
    log.info("initialised from %s", folder)


def train(cfg: EmbedderConfig, crops: list[Crop], out_dir, val_crops: list[Crop] | None = None,
          init_from=None, progress: bool = True, max_steps: int | None = None) -> TrainResult:
    """Train on labelled crops (``assign_labels``); checkpoints go to ``out_dir/last`` and
    ``out_dir/best``. A run whose ``out_dir/last`` exists resumes from it."""
    out_dir = Path(out_dir)
    rank, world, device = setup_distributed(cfg.optim.dist_timeout_min)
    torch.manual_seed(cfg.optim.seed)
    if not crops:
        raise TrainingError("no training crops: check data.roots and that boxes have instance_id > 0")
    if cfg.optim.select not in SELECT:
        raise TrainingError(f"optim.select is {cfg.optim.select!r}; choose one of {', '.join(SELECT)}")
    labels = np.array([c.label for c in crops])
    num_classes = int(labels.max()) + 1
    counts = np.bincount(labels, minlength=num_classes)
    model = build_embedder(cfg.model)
    if init_from:
        _init_from(model, init_from, cfg)
    if cfg.loss.xbm and cfg.loss.xbm_memory < cfg.data.batch_size:
        raise TrainingError(f"loss.xbm_memory ({cfg.loss.xbm_memory}) must be >= data.batch_size")
    module = _TrainModule(model, EmbeddingLoss(cfg.loss, num_classes, cfg.model.embedding_dim, counts)).to(device)
    optimizer = _optimizer(module, cfg)
    sampler = AspectRatioBatchSampler([c.aspect for c in crops], labels, cfg.data.batch_size,
                                      cfg.data.aspect_buckets, cfg.data.scales, cfg.data.p_identities,
                                      cfg.data.k_per_identity, cfg.optim.seed, rank, world)
    loader = torch.utils.data.DataLoader(CropDataset(crops, build_augment(cfg.augment)), batch_sampler=sampler,
                                         num_workers=cfg.data.workers, persistent_workers=cfg.data.workers > 0)
    steps_per_epoch = max(1, len(sampler) // cfg.optim.accumulate)
    total = cfg.optim.epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_with_warmup(total, min(cfg.optim.warmup_steps, total // 2)))
    use_amp = cfg.optim.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    ema = None
    if cfg.optim.ema > 0:
        from timm.utils import ModelEmaV3
        ema = ModelEmaV3(model, decay=cfg.optim.ema)
    start_epoch, step, best = 0, 0, -1.0
    last = out_dir / "last"
    if (last / "train_state.pt").is_file():
        start_epoch, step, best = _resume(last, module, optimizer, scheduler, scaler, ema, cfg, num_classes)
    # Some timm backbones keep modules that forward_features skips (MobileNetV3's conv_head).
    ddp = (torch.nn.parallel.DistributedDataParallel(module, device_ids=[device] if device.type == "cuda" else None,
                                                     find_unused_parameters=True)
           if world > 1 else module)
    out_dir.mkdir(parents=True, exist_ok=True)
    history = []
    for epoch in range(start_epoch, cfg.optim.epochs):
        module.train()
        optimizer.zero_grad(set_to_none=True)
        sampler.set_epoch(epoch)
        torch.manual_seed(cfg.optim.seed + epoch)  # the epoch's augmentation draws, also after a resume
        sums, n, start = {"loss": 0.0, "margin": 0.0, "xbm": 0.0}, 0, time.perf_counter()
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.optim.epochs}", disable=bar_disabled(progress and not rank))
        for i, (images, targets) in enumerate(bar):
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
                loss, parts = ddp(images.to(device, non_blocking=True), targets.to(device), step)
            if not torch.isfinite(loss):
                raise TrainingError(f"loss is {loss.item()} at epoch {epoch + 1} step {step}; "
                                    f"last good checkpoint kept at {last}")
            scaler.scale(loss / cfg.optim.accumulate).backward()
            if (i + 1) % cfg.optim.accumulate == 0:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(module.parameters(), cfg.optim.clip_grad)
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
                scheduler.step()
                if ema is not None:
                    ema.update(model, step=step)
                step += 1
            sums["loss"] += float(loss.detach())
            sums["margin"] += parts["margin"]
            sums["xbm"] += parts["xbm"]
            n += 1
            bar.set_postfix(loss=f"{sums['loss'] / n:.3f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")
            if max_steps is not None and step >= max_steps:
                break
        row = {"epoch": epoch + 1, "step": step, "lr": scheduler.get_last_lr()[0],
               "seconds": round(time.perf_counter() - start, 2), **{k: v / max(1, n) for k, v in sums.items()}}
        eval_model = ema.module if ema is not None else model
        if val_crops and rank == 0:
            row.update(evaluate_crops(eval_model, val_crops, cfg))
            log.info("epoch %d: top-1 %.4f recall@5 %.4f mAP@10 %.4f", epoch + 1, row["top1"], row["recall5"], row["map10"])
        history.append(row)
        if rank == 0:
            append_csv(out_dir / "log.csv", row, LOG_FIELDS)
        if rank == 0:
            meta = {"epoch": epoch + 1, "step": step, "num_classes": num_classes, "select": cfg.optim.select,
                    "best": best}
            score = row.get(cfg.optim.select)  # None for "last": every epoch replaces OUT/best
            if val_crops and (score is None or score > best):
                best = meta["best"] = best if score is None else score
                save_checkpoint(out_dir / "best", {"model": eval_model, "head": module.loss.head}, cfg, meta)
            state = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                     "scaler": scaler.state_dict(), **({"ema": ema.module.state_dict()} if ema else {}),
                     **memory_state(module.loss)}
            save_checkpoint(last, {"model": model, "head": module.loss.head}, cfg, meta, state)
        if max_steps is not None and step >= max_steps:
            break
    final = out_dir / "best" if val_crops and (out_dir / "best").exists() else last
    return TrainResult(final, history, model)


def _resume(last: Path, module: _TrainModule, optimizer, scheduler, scaler, ema, cfg, num_classes):
    check_architecture(last, cfg)
    meta = read_meta(last)
    if meta["num_classes"] != num_classes:
        raise CheckpointError(f"{last}: trained on {meta['num_classes']} identities, the data now has "
                              f"{num_classes}; use a new out_dir (or fine-tune with --init-from)")
    load_weights(module.model, last / "model.safetensors", f"embedder ({cfg.model.backbone})")
    load_weights(module.loss.head, last / "head.safetensors", "margin head")
    state = read_train_state(last)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    if ema is not None and "ema" in state:
        ema.module.load_state_dict(state["ema"])
    load_memory_state(module.loss, state)
    log.info("resumed from %s at epoch %d, step %d", last, meta["epoch"], meta["step"])
    return meta["epoch"], meta["step"], meta.get("best", -1.0)
