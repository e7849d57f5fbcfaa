"""The worn scorer: is a detected garment worn by a person? A small CNN that sees the box and its
surroundings (the head above a top, the arms beside it), where the detector's class head sees
only what RoIAlign pools inside the box.

Why: a catalogue folder's photos find their garment hanging on other clips' racks, closer in
appearance to a shop photo than the worn one, and vote there. The sold garment is the one the
presenter wears; keeping frame crops whose worn probability clears ``detector.infer.frame_min_worn``
(chosen by ``livematch fit`` on validation data, 0 = off) removes most rack votes. It learns from
the ``display`` field of annotated frames (0 worn, 1 shown alone), so it is trained where TRAIN
annotates both kinds.

Input: the box widened by ``context`` of its size on each side, resized to ``size`` x ``size``,
plus a fourth channel marking the box itself (so the net knows which garment of the outfit is
asked about). Checkpoints follow :mod:`ground.checkpoint` (``model.safetensors``, ``config.yaml``,
``meta.json``); training runs on :func:`ground.engine.train_loop`.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import timm
import torch
from torch import nn

from detector.config import WornConfig
from ground.checkpoint import check_kind, load_weights, read_config, save_checkpoint
from ground.engine import Loop, Task, TrainResult, train_loop
from ground.errors import DatasetError, MediaError
from ground.pretrained import timm_kwargs

log = logging.getLogger(__name__)


class WornNet(nn.Module):
    """Conv-BN-ReLU stages with max-pooling, global average pooling, one logit."""

    def __init__(self, widths=(24, 48, 64, 96)):
        super().__init__()
        layers, cin = [], 4
        for k, w in enumerate(widths):
            layers += [
                nn.Conv2d(cin, w, 3, padding=1, bias=False),
                nn.BatchNorm2d(w),
                nn.ReLU(inplace=True),
            ]
            if k < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            cin = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(cin, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean((2, 3)))[:, 0]


class TimmWorn(nn.Module):
    """A timm backbone with 4 input channels (timm adapts a pretrained RGB stem) and one logit;
    RGB is normalised as the backbone was trained, the mask channel to [-1, 1]."""

    def __init__(self, name: str, weights: str = ""):
        super().__init__()
        self.net = timm.create_model(name, in_chans=4, num_classes=1, **timm_kwargs(weights, name))
        data = timm.data.resolve_data_config({}, model=self.net)
        self.register_buffer(
            "mean", torch.tensor([*data["mean"], 0.5]).view(1, 4, 1, 1), persistent=False
        )
        self.register_buffer(
            "std", torch.tensor([*data["std"], 0.5]).view(1, 4, 1, 1), persistent=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)[:, 0]


def build_worn(cfg: WornConfig) -> nn.Module:
    """The worn scorer of ``cfg``: ``(B, 4, size, size)`` in [0, 1] -> ``(B,)`` logits."""
    if not cfg.backbone:
        return WornNet(cfg.widths)
    return TimmWorn(cfg.backbone, cfg.weights)


def context_crop(image: np.ndarray, box, size: int, context: float) -> np.ndarray:
    """``(size, size, 4)`` uint8: the box widened by ``context`` on each side (black outside
    the image), resized, and a mask channel (255 inside the box)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    left, top = x1 - context * w, y1 - context * h
    sx, sy = size / ((1 + 2 * context) * w), size / ((1 + 2 * context) * h)
    warp = np.array([[sx, 0, -left * sx], [0, sy, -top * sy]], np.float32)
    rgb = cv2.warpAffine(
        np.ascontiguousarray(image),
        warp,
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
    )
    mask = np.zeros((size, size, 1), np.uint8)
    a, b = int(round(context * w * sx)), int(round((context * w + w) * sx))
    c, d = int(round(context * h * sy)), int(round((context * h + h) * sy))
    mask[c:d, a:b] = 255
    return np.concatenate([rgb, mask], axis=2)


def _tensor(crops: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(crops).permute(0, 3, 1, 2).float().div_(255)


@torch.no_grad()
def score_worn(
    model: nn.Module, cfg: WornConfig, image: np.ndarray, boxes, batch: int = 256
) -> np.ndarray:
    """The worn probability of each box of one RGB image (``(N,)`` float32)."""
    if not len(boxes):
        return np.zeros(0, np.float32)
    device = next(model.parameters()).device
    crops = np.stack([context_crop(image, b, cfg.size, cfg.context) for b in boxes])
    out = [
        torch.sigmoid(model(_tensor(crops[i : i + batch]).to(device))).float().cpu()
        for i in range(0, len(crops), batch)
    ]
    return torch.cat(out).numpy().astype(np.float32)


def worn_samples(ds, cfg: WornConfig, media_backend: str = "pyav", progress: bool = False):
    """Context crops of every annotated frame box of ``ds`` (a :class:`ground.dataset.Dataset`)
    and their targets (1: ``display`` 0, worn): ``copies`` per box, all but the first jittered.
    Raises :class:`DatasetError` when the frames do not annotate both kinds."""
    from ground.media import sample_frames
    from ground.progress import progress_bar

    rng = np.random.default_rng(cfg.seed)
    crops, targets = [], []
    videos = [v for v in ds.videos.values() if v.frames]
    for video in progress_bar(videos, desc="worn crops", unit="clip", show=progress):
        try:
            frames = sample_frames(video.path, sorted(video.frames), media_backend)
        except MediaError as e:
            log.warning("%s: skipped for the worn scorer: %s", video.path, e.reason)
            continue
        for index, image in zip(frames.indices, frames.images):
            for ann in video.frames.get(index, []):
                box = np.asarray(ann.box, np.float64)
                sides = np.tile(box[2:] - box[:2], 2)  # w, h, w, h
                for k in range(cfg.copies):
                    shift = rng.uniform(-cfg.jitter, cfg.jitter, 4) * sides if k else 0.0
                    crops.append(context_crop(image, box + shift, cfg.size, cfg.context))
                    targets.append(float(ann.display == 0))
    y = np.array(targets, np.float32)
    if not len(y) or y.min() == y.max():
        roots = ", ".join(str(r) for r in ds.roots)
        raise DatasetError(
            f"{roots}: the worn scorer needs annotated frame boxes both worn (display 0) and "
            f"shown alone (display 1); found {int(y.sum())} worn of {len(y)}"
        )
    return np.stack(crops), y


class WornTask(Task):
    """Binary cross-entropy on context crops; flips and brightness drawn per batch."""

    kind = "worn"
    log_fields = ["epoch", "step", "lr", "loss", "seconds"]

    def __init__(self, cfg: WornConfig, model: nn.Module, crops: np.ndarray, targets: np.ndarray):
        self.cfg, self.model, self.module = cfg, model, model
        self.crops, self.targets = crops, targets

    def __len__(self) -> int:
        return -(-len(self.crops) // self.cfg.batch_size)

    def batches(self, epoch: int):
        order = np.random.default_rng([self.cfg.seed, epoch]).permutation(len(self.crops))
        for i in range(0, len(order), self.cfg.batch_size):
            yield order[i : i + self.cfg.batch_size]

    def step(self, module, batch, step: int):
        x = _tensor(self.crops[batch])
        if torch.rand(()) < 0.5:
            x = x.flip(3)
        gain = torch.empty(len(x), 3, 1, 1).uniform_(
            1 - self.cfg.brightness, 1 + self.cfg.brightness
        )
        x[:, :3] = (x[:, :3] * gain).clamp_(0, 1)
        device = next(module.parameters()).device
        loss = nn.functional.binary_cross_entropy_with_logits(
            module(x.to(device)), torch.from_numpy(self.targets[batch]).to(device)
        )
        return loss, {}

    def save(self, folder: Path, meta: dict, state: dict | None = None) -> None:
        save_checkpoint(folder, {"model": self.model}, self.cfg, meta, state)

    def resume(self, last: Path, meta: dict, state: dict) -> None:
        load_weights(self.model, last / "model.safetensors", "worn scorer")


def train_worn(
    cfg: WornConfig,
    ds,
    out_dir,
    progress: bool = True,
    media_backend: str = "pyav",
    device: str = "cpu",
) -> TrainResult:
    """Train the worn scorer on the annotated frames of ``ds`` (:func:`worn_samples`)."""
    crops, targets = worn_samples(ds, cfg, media_backend, progress)
    log.info("worn scorer: %d crops (%.0f%% worn)", len(crops), 100 * targets.mean())
    return fit_worn(cfg, crops, targets, out_dir, progress, device)


def fit_worn(
    cfg: WornConfig,
    crops: np.ndarray,
    targets: np.ndarray,
    out_dir,
    progress: bool = True,
    device: str = "cpu",
) -> TrainResult:
    """Train on context crops ``(N, size, size, 4)`` and 0 / 1 targets; ``out_dir/last`` is the
    checkpoint (resumes from it when a run was killed)."""
    torch.manual_seed(cfg.seed)
    model = build_worn(cfg).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loop = Loop.of(cfg)
    return train_loop(
        WornTask(cfg, model, crops, targets),
        optimizer,
        loop,
        out_dir,
        0,
        1,
        torch.device(device),
        progress,
    )


def load_worn(folder, device="cpu") -> tuple[nn.Module, WornConfig]:
    """A trained worn scorer (eval mode) and its config."""
    check_kind(folder, "worn")
    cfg = read_config(folder, WornConfig)
    model = build_worn(replace(cfg, weights=""))  # its weights are the checkpoint's
    load_weights(model, Path(folder) / "model.safetensors", "worn scorer")
    return model.to(device).eval(), cfg
