"""Feature extraction: crops batched by aspect-ratio bucket, optional horizontal-flip and
multi-scale test-time augmentation, ensembles of several models, FP16 storage."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F

from embedder.augment import resize
from embedder.config import ExtractConfig
from embedder.model import Embedder, ensemble_features
from embedder.samplers import assign_buckets, bucket_shape
from ground.progress import progress_bar

BUCKETS = (0.5, 0.67, 0.8, 1.0, 1.25, 1.5, 2.0)  # the default of embedder.data.aspect_buckets


def _device(model: Embedder) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def _embed_batch(
    model: Embedder, images: list[np.ndarray], aspect: float, cfg: ExtractConfig
) -> torch.Tensor:
    """Unit features of same-bucket crops, averaged over the TTA views, then re-normalised."""
    device = _device(model)
    views = []
    for short in [cfg.scale, *cfg.scales_tta]:
        size = bucket_shape(aspect, short)
        batch = torch.from_numpy(
            np.stack([resize(im, size) for im in images]).transpose(0, 3, 1, 2)
        ).to(device)
        with torch.autocast(
            device_type=device.type, dtype=torch.float16, enabled=device.type == "cuda"
        ):
            views.append(model.embed(batch))
            if cfg.hflip_tta:
                views.append(model.embed(batch.flip(3)))
    return F.normalize(torch.stack(views).float().mean(0), dim=1)


def embed_images(
    models,
    images: list[np.ndarray],
    cfg: ExtractConfig | None = None,
    progress: bool = False,
    buckets=BUCKETS,
    scales=None,
) -> np.ndarray:
    """``(N, D)`` unit features of RGB ``uint8`` crops (any sizes), each resized to the shape of
    its aspect-ratio bucket (``buckets``: width / height, the model's training buckets,
    ``embedder.data.aspect_buckets``). With several models the features are ensembled
    (l2-normalise, concatenate, l2-normalise); ``scales`` gives each model its own short side
    (its recipe's: B5 456, B6 528, ...; default ``cfg.scale`` for all). Float16 if ``cfg.fp16``."""
    cfg = cfg or ExtractConfig()
    buckets = tuple(buckets)
    models = models if isinstance(models, (list, tuple)) else [models]
    if not images:
        dim = sum(m.cfg.embedding_dim for m in models)
        return np.empty((0, dim), np.float16 if cfg.fp16 else np.float32)
    aspects = [im.shape[1] / max(1, im.shape[0]) for im in images]
    bucket = assign_buckets(aspects, buckets)
    per_model = [torch.empty(len(images), m.cfg.embedding_dim) for m in models]
    groups = [np.flatnonzero(bucket == b) for b in range(len(buckets))]
    chunks = [
        (b, rows[i : i + cfg.batch_size])
        for b, rows in enumerate(groups)
        for i in range(0, len(rows), cfg.batch_size)
    ]
    member_cfgs = [replace(cfg, scale=int(s)) for s in scales] if scales else [cfg] * len(models)
    if len(member_cfgs) != len(models):
        raise ValueError(f"{len(scales)} extraction scales for {len(models)} models")
    for b, rows in progress_bar(chunks, desc="embed", unit="batch", show=progress):
        crops = [images[r] for r in rows]
        for out, model, member in zip(per_model, models, member_cfgs):
            out[torch.as_tensor(rows)] = _embed_batch(model, crops, buckets[b], member).cpu()
    feats = ensemble_features(per_model) if len(models) > 1 else per_model[0]
    return feats.numpy().astype(np.float16 if cfg.fp16 else np.float32)
