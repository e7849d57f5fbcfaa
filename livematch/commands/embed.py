"""Wiring of the embedder to datasets: training crops from annotated roots, retrieval
evaluation, and feature stores of annotated boxes for the matcher."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from ground.dataset import Dataset, load_dataset, read_images
from ground.summary import RunSummary
from livematch.config import LiveMatchConfig
from matcher.crops import CropTable
from matcher.store import FeatureStore, save_store

log = logging.getLogger(__name__)


def _cache_dir(cfg: LiveMatchConfig, roots) -> Path:
    key = "|".join(str(Path(r).resolve()) for r in roots) + f"|{cfg.embedder.data.crop_margin}"
    key += f"|{cfg.media.train_frames.indices()}"
    return Path(cfg.embedder.data.cache_dir) / hashlib.sha1(key.encode()).hexdigest()[:12]


def labelled_crops(roots, cfg: LiveMatchConfig, summary: RunSummary, progress: bool = True):
    """Cached, labelled training crops of annotated ``roots`` (docs/METHOD.md: photos + frames
    80..360)."""
    from embedder.data import assign_labels, cache_crops

    ds = load_dataset(roots, probe_media=False)
    summary.merge(ds.summary)
    crops = cache_crops(
        ds,
        cfg.media.train_frames.indices(),
        _cache_dir(cfg, roots),
        cfg.embedder.data.crop_margin,
        summary,
        progress,
    )
    return assign_labels(crops, cfg.embedder.data.min_crops, summary)


def train_embedder(cfg: LiveMatchConfig, out_dir=None, init_from=None, progress: bool = True):
    """Train on ``embedder.data.roots``, evaluating on ``embedder.data.val_roots`` each epoch."""
    from embedder.train import train

    summary = RunSummary()
    crops = labelled_crops(cfg.embedder.data.roots, cfg, summary, progress)
    val = (
        labelled_crops(cfg.embedder.data.val_roots, cfg, summary, progress)
        if cfg.embedder.data.val_roots
        else None
    )
    log.info("%d training crops of %d identities", len(crops), len({c.label for c in crops}))
    result = train(cfg.embedder, crops, out_dir or cfg.embedder.out_dir, val, init_from, progress)
    return result, summary


def evaluate_embedder(checkpoints, roots, cfg: LiveMatchConfig, device="cpu") -> dict:
    """Shop -> video retrieval metrics of checkpoints (one, or several: their ensemble's features,
    scaled as ``livematch run`` scales them, :func:`embedder.checkpoint.load_ensemble`) on
    annotated ``roots``."""
    from embedder.checkpoint import load_ensemble
    from embedder.evaluate import evaluate_crops

    models, cfgs, scales = load_ensemble(checkpoints, cfg.embedder.extract.scale, device)
    model_cfg = cfgs[0]
    model_cfg.extract = cfg.embedder.extract
    crops = labelled_crops(roots, cfg, RunSummary(), progress=False)
    return evaluate_crops(models, crops, model_cfg, scales)


def annotated_boxes(ds: Dataset, frames):
    """``(owner, name, frame, media path, box)`` of every annotated box: photos, then the
    annotated frames of each clip that are in ``frames``."""
    wanted = set(frames)
    shop = [
        (p.item_id, p.name, -1, p.path, a.box) for p in ds.photos() for a in p.annotations or ()
    ]
    video = [
        (v.video_id, "", f, v.path, a.box)
        for v in ds.videos.values()
        for f, anns in sorted((v.frames or {}).items())
        if f in wanted
        for a in anns
    ]
    return shop, video


def crops_of(rows, margin: float, summary: RunSummary):
    """Crops of ``rows`` ``(owner, name, frame or -1, media path, box)``, each media file read
    once: ``(crops, the rows they came from)``, in media order; a row whose image cannot be read
    or whose box cuts nothing is left out."""
    from embedder.data import cut_crop

    images, kept = [], []
    by_media: dict[tuple, list] = {}
    for row in rows:
        by_media.setdefault(row[3], []).append(row)
    for path, group in by_media.items():
        frames = read_images(path, [g[2] for g in group], summary)
        if frames is None:
            continue
        for row in group:
            image = frames.get(row[2])
            if image is None:
                continue
            crop = cut_crop(image, row[4], margin)
            if crop is not None:
                images.append(crop)
                kept.append(row)
    return images, kept


def extract_store(
    checkpoints, roots, out, cfg: LiveMatchConfig, progress: bool = True, device="cpu"
) -> FeatureStore:
    """Embed every annotated box of ``roots`` (shop photos, and the annotated frames among
    ``media.infer_frames``) with one checkpoint or an ensemble (each member at the scale ``livematch
    run`` gives it, :func:`embedder.checkpoint.load_ensemble`); write a feature store."""
    from embedder.checkpoint import load_ensemble
    from embedder.extract import embed_images

    summary = RunSummary()
    models, _, scales = load_ensemble(checkpoints, cfg.embedder.extract.scale, device)
    ds = load_dataset(roots, probe_media=False)
    tables = []
    for rows in annotated_boxes(ds, cfg.media.infer_frames.indices()):
        images, kept = crops_of(rows, cfg.embedder.data.crop_margin, summary)
        feats = embed_images(
            models, images, cfg.embedder.extract, progress, cfg.embedder.data.aspect_buckets, scales
        )
        owner, name, frame, _, boxes = zip(*kept) if kept else ([], [], [], [], np.empty((0, 4)))
        tables.append(CropTable(owner, name, frame, boxes, np.ones(len(kept)), feats))
    store = FeatureStore(*tables, titles=ds.titles(), transcripts=ds.transcripts())
    save_store(out, store)
    return store
