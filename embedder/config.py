"""Embedder configs; defaults are the reference recipe (docs/METHOD.md section 2) at B5 scale."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ModelConfig:
    """timm backbone -> GeM -> Linear(embedding_dim) -> BatchNorm1d (-> l2-normalised feature)."""

    backbone: str = "tf_efficientnet_b5"
    # Where the backbone starts (ground.pretrained): "" random | imagenet (a packaged file) | timm /
    # hf:<repo> (the Hugging Face cache on disk) | a local .safetensors / .pth file. Nothing is
    # downloaded.
    weights: str = ""
    embedding_dim: int = 512
    pool: str = "gem"  # gem | avg | max
    gem_p: float = 3.0
    gem_trainable: bool = True
    neck_activation: str = "none"  # none | prelu (GLR 2020 neck)
    drop_rate: float = 0.0


@dataclass
class LossConfig:
    """Margin head on top of the embedding, plus an optional cross-batch-memory pair loss."""

    head: str = "arcface"  # arcface | subcenter | cosface
    margin: float = 28.6  # degrees for arcface / subcenter (0.5 rad); cosine units x100 for cosface
    scale: float = 30.0
    sub_centers: int = 3
    dynamic_margin: bool = False  # class-frequency margins (GLR 2021): rare identities get larger
    margin_min: float = 11.5  # degrees (0.2 rad), the most frequent identity's margin
    margin_power: float = 0.25
    xbm: bool = True
    xbm_memory: int = 4096  # embeddings remembered across batches
    xbm_weight: float = 1.0
    xbm_start: int = 1000  # optimiser steps before the memory loss switches on
    #: multisimilarity | contrastive (pair losses) | head (memory through the margin head)
    xbm_loss: str = "multisimilarity"


@dataclass
class DataConfig:
    """Which crops train the embedder and how batches are shaped."""

    roots: list[str] = field(default_factory=list)
    val_roots: list[str] = field(default_factory=list)  # held-out items for retrieval evaluation
    crop_margin: float = 0.05  # fraction of the box size added on each side
    min_crops: int = 2  # identities with fewer crops are dropped (nothing to pull together)
    cache_dir: str = "runs/crops"
    scales: list[int] = field(default_factory=lambda: [384, 448, 512])  # short side per batch
    aspect_buckets: list[float] = field(
        default_factory=lambda: [0.5, 0.67, 0.8, 1.0, 1.25, 1.5, 2.0]
    )
    batch_size: int = 32
    p_identities: int = 8  # P x K batches when K > 0: P identities with K crops each
    k_per_identity: int = 4
    workers: int = 4


@dataclass
class AugmentConfig:
    """Albumentations pipeline strengths (0 switches a transform off)."""

    hflip: float = 0.5
    color_jitter: float = 0.4
    hue_saturation: float = 0.3
    grayscale: float = 0.1
    blur: float = 0.2
    motion_blur: float = 0.2
    jpeg: float = 0.3
    downscale: float = 0.2
    affine: float = 0.5
    perspective: float = 0.2
    resized_crop: float = 0.5
    coarse_dropout: float = 0.3


@dataclass
class OptimConfig:
    optimizer: str = "adamw"  # adamw | sgd
    lr: float = 3e-4
    head_lr_mult: float = 10.0  # margin-head weights learn faster than the backbone
    weight_decay: float = 1e-4
    momentum: float = 0.9
    epochs: int = 20
    steps: int = 0  # > 0: this many optimiser steps instead of whole epochs (detectron2's MAX_ITER)
    warmup_steps: int = 500  # linear warm-up (at most a third of all updates), then cosine to 0
    #: > 0: the warm-up is this share of all updates (replaces warmup_steps)
    warmup_fraction: float = 0.0
    warmup_factor: float = 0.001  # the first update's learning rate, as a fraction of lr
    decay: str = "cosine"  # after the warm-up: cosine | none (constant)
    accumulate: int = 1
    clip_grad: float = 5.0  # max gradient norm; <= 0: off
    ema: float = 0.0  # EMA decay of the weights (0 = off)
    amp: bool = True  # used on CUDA only
    sync_bn: bool = False  # torchrun on GPUs: BatchNorm over all ranks' batches (SyncBatchNorm)
    tensorboard: bool = True  # scalars under OUT/tensorboard beside OUT/log.csv
    freeze_backbone: bool = False  # fine-tune only GeM / neck / head
    #: OUT/best is the epoch with the best validation top1 | map10, or the last one
    select: str = "top1"
    #: validate after every this many epochs and after the last (best among those)
    val_every: int = 1
    seed: int = 0
    #: torchrun: how long ranks wait in a collective (rank 0 validates alone)
    dist_timeout_min: float = 120.0


@dataclass
class ExtractConfig:
    batch_size: int = 64
    scale: int = 448  # short side of inference crops
    hflip_tta: bool = False
    scales_tta: list[int] = field(default_factory=list)  # extra short sides averaged in
    fp16: bool = True  # store features as float16


@dataclass
class EmbedderConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    out_dir: str = "runs/embedder"


# Settings that take one of a few words: checked when a config loads (livematch.config). Each
# names the keys of the table that implements it (model.pool: embedder.model.POOLS,
# model.neck_activation: embedder.model.NECKS, loss.head: embedder.losses.HEADS, loss.xbm_loss:
# embedder.losses.XBM_LOSSES; optim.select: embedder.train.SELECT, optim.decay:
# ground.engine.DECAYS; optim.optimizer: embedder.train._optimizer): those modules import torch,
# which a config check does without, so the names are listed here, in the tables' order, and
# tests/embedder keeps the two equal.
CHOICES = {
    "model.pool": ("gem", "avg", "max"),
    "model.neck_activation": ("none", "prelu"),
    "loss.head": ("arcface", "subcenter", "cosface"),
    "loss.xbm_loss": ("multisimilarity", "contrastive", "head"),
    "optim.optimizer": ("adamw", "sgd"),
    "optim.select": ("top1", "map10", "last"),
    "optim.decay": ("cosine", "none"),
}
