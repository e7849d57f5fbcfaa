"""Detector training: multi-scale short sides (the model transform draws one per image),
horizontal flip, SGD with linear warm-up and cosine decay, AMP on CUDA, gradient clipping, DDP
under torchrun, COCO AP / AP50 on a held-out split after each epoch, checkpoints (safetensors
+ resolved config) each epoch, resume after a kill, tqdm progress and a CSV log."""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file
from tqdm import tqdm

from ground.progress import bar_disabled
from detector.config import DetectorConfig
from detector.data import DetectionDataset, DetSample, collate
from detector.evaluate import coco_ap
from detector.infer import predict
from detector.model import build_detector, class_names
from ground.checkpoint import (CheckpointError, load_state, load_weights, read_config, read_meta,
                                  read_train_state, save_checkpoint)
from ground.distributed import setup_distributed
from ground.errors import TrainingError
from ground.io import append_csv
from ground.media import read_photo

log = logging.getLogger(__name__)
LOG_FIELDS = ["epoch", "step", "lr", "loss", "loss_classifier", "loss_box_reg", "loss_objectness",
              "loss_rpn_box_reg", "seconds", "AP", "AP50"]


@dataclass
class DetTrainResult:
    checkpoint: Path
    history: list[dict] = field(default_factory=list)
    model: object = None  # the model in memory at the end of training (what OUT/last holds)


def warmup_cosine(total: int, warmup: int):
    def factor(step: int) -> float:
        if step < warmup:
            return 0.001 + 0.999 * step / max(1, warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))
    return factor


def evaluate_detector(model, samples: list[DetSample], short_side: int, num_classes: int) -> dict:
    """COCO AP / AP50 of ``model`` on annotated samples (boxes of every score)."""
    images = [read_photo(s.path) for s in samples]
    dets = predict(model, images, short_side, threshold=0.0)
    return coco_ap([(d.boxes, d.scores, d.labels) for d in dets], [(s.boxes, s.labels) for s in samples], num_classes)


def load_detector(folder, device="cpu"):
    """Rebuild a trained detector from its checkpoint folder (eval mode) and its config."""
    cfg = read_config(folder, DetectorConfig)
    model = build_detector(cfg.model)
    load_weights(model, Path(folder) / "model.safetensors", f"detector ({cfg.model.backbone})")
    return model.to(device).eval(), cfg


def _check_resume(last: Path, cfg: DetectorConfig) -> None:
    saved = read_config(last, DetectorConfig).model
    if (saved.backbone, class_names(saved)) != (cfg.model.backbone, class_names(cfg.model)):
        raise CheckpointError(f"{last}: checkpoint is {saved.backbone} with classes {class_names(saved)}, "
                              f"the config asks for {cfg.model.backbone} with {class_names(cfg.model)}")


HEAD = "roi_heads.box_predictor."  # the class-dependent layers: new classes, new shapes


def init_detector(model, folder, cfg: DetectorConfig) -> list[str]:
    """Fine-tuning: start from a checkpoint's weights. The class head keeps its fresh init where
    the checkpoint has other classes (e.g. one "garment" class -> two, ``model.split_by``); any other
    key or shape that does not fit is a ``CheckpointError``. Returns the keys left fresh."""
    path = Path(folder) / "model.safetensors"
    if not path.is_file():
        raise CheckpointError(f"{path}: missing (init_from must be a checkpoint folder)")
    state = load_file(str(path))
    own = model.state_dict()
    fresh = [k for k in own if k.startswith(HEAD) and k in state and state[k].shape != own[k].shape]
    state.update({k: own[k] for k in fresh})
    load_state(model, state, folder, f"detector ({cfg.model.backbone})")
    log.info("initialised from %s%s", folder, f" ({len(fresh)} class-head tensors fresh)" if fresh else "")
    return fresh


def train_detector(cfg: DetectorConfig, train: list[DetSample], val: list[DetSample], out_dir,
                   progress: bool = True, max_steps: int | None = None, init_from=None) -> DetTrainResult:
    """Train on ``train``, score ``val`` after each epoch; resumes when ``out_dir/last`` exists.
    ``init_from``: a checkpoint folder to fine-tune from (:func:`init_detector`)."""
    if not train:
        raise TrainingError("no training images: check the roots and their annotations")
    out_dir = Path(out_dir)
    rank, world, device = setup_distributed(cfg.train.dist_timeout_min)
    torch.manual_seed(cfg.train.seed)
    model = build_detector(cfg.model)
    if init_from:
        init_detector(model, init_from, cfg)
    model = model.to(device)
    model.transform.min_size = tuple(cfg.train.short_sides)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=cfg.train.lr, momentum=cfg.train.momentum, weight_decay=cfg.train.weight_decay)
    dataset = DetectionDataset(train, cfg.train.hflip)
    sampler = torch.utils.data.distributed.DistributedSampler(dataset, seed=cfg.train.seed) if world > 1 else None
    order = torch.Generator()  # re-seeded each epoch: a resumed run shuffles as an uninterrupted one
    loader = torch.utils.data.DataLoader(dataset, batch_size=cfg.train.batch_size, shuffle=sampler is None,
                                         sampler=sampler, num_workers=cfg.train.workers, collate_fn=collate,
                                         generator=order)
    total = cfg.train.epochs * max(1, len(loader))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(total, min(cfg.train.warmup_steps, total // 3)))
    use_amp = cfg.train.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    last, start_epoch, step, best = out_dir / "last", 0, 0, -1.0
    if (last / "train_state.pt").is_file():
        _check_resume(last, cfg)
        load_weights(model, last / "model.safetensors", f"detector ({cfg.model.backbone})")
        state = read_train_state(last)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        meta = read_meta(last)
        start_epoch, step, best = meta["epoch"], meta["step"], meta.get("best_ap50", -1.0)
        log.info("resumed from %s at epoch %d", last, start_epoch)
    ddp = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    out_dir.mkdir(parents=True, exist_ok=True)
    history = []
    for epoch in range(start_epoch, cfg.train.epochs):
        model.train()
        if sampler is not None:
            sampler.set_epoch(epoch)
        torch.manual_seed(cfg.train.seed + epoch)  # the epoch's flips and scales, also after a resume
        order.manual_seed(cfg.train.seed + epoch)  # and its shuffle
        sums, n, start = {}, 0, time.perf_counter()
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.train.epochs}", disable=bar_disabled(progress and not rank))
        for images, targets in bar:
            images = [im.to(device) for im in images]
            targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
                losses = ddp(images, targets)
            loss = sum(losses.values())
            if not torch.isfinite(loss):
                raise TrainingError(f"loss is {loss.item()} at epoch {epoch + 1} step {step}; "
                                       f"last good checkpoint kept at {last}")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(params, cfg.train.clip_grad)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            step += 1
            for k, v in {"loss": loss, **losses}.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            n += 1
            bar.set_postfix(loss=f"{sums['loss'] / n:.3f}")
            if max_steps is not None and step >= max_steps:
                break
        row = {"epoch": epoch + 1, "step": step, "lr": scheduler.get_last_lr()[0],
               "seconds": round(time.perf_counter() - start, 2), **{k: v / max(1, n) for k, v in sums.items()}}
        if val and rank == 0:
            row.update(evaluate_detector(model, val[:cfg.train.max_val_images], cfg.infer.frame_short_side,
                                         len(class_names(cfg.model))))
            log.info("epoch %d: AP %.4f AP50 %.4f", epoch + 1, row["AP"], row["AP50"])
        history.append(row)
        if rank == 0:
            append_csv(out_dir / "log.csv", row, LOG_FIELDS)
            meta = {"epoch": epoch + 1, "step": step, "classes": class_names(cfg.model), "best_ap50": best}
            if val and row["AP50"] > best:
                best = meta["best_ap50"] = row["AP50"]
                save_checkpoint(out_dir / "best", {"model": model}, cfg, meta)
            state = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict()}
            save_checkpoint(last, {"model": model}, cfg, meta, state)
        if max_steps is not None and step >= max_steps:
            break
    final = out_dir / "best" if val and (out_dir / "best").exists() else last
    return DetTrainResult(final, history, model)
