"""Wiring of the detector to datasets: training on annotated roots, AP evaluation, and box
files for every photo and every sampled frame (``detect predict``), which later stages reuse,
and the frame region where sold garments stand (``detect region``).

Box files: ``OUT/photos/<item_id>.json`` = ``{photo name: [[x1, y1, x2, y2, score, label], ...]}``
and ``OUT/videos/<video_id>.json`` = ``{frame index: [[x1, y1, x2, y2, score, label], ...]}``.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from tqdm import tqdm

from livematch.progress import bar_disabled
from livematch.config import LiveMatchConfig
from livematch.dataset import load_dataset, read_clip_frames, read_item_photos
from livematch.errors import ConfigError, DatasetError
from livematch.io import write_json
from livematch.summary import RunSummary

log = logging.getLogger(__name__)


def _samples(roots, cfg: LiveMatchConfig, summary: RunSummary, classes=None):
    """Annotated images of ``roots`` labelled for ``classes`` (default: the config model's)."""
    from detector.data import detection_samples
    from detector.model import class_names
    ds = load_dataset(roots, probe_media=False)
    summary.merge(ds.summary)
    return detection_samples(ds, classes or class_names(cfg.detector.model), cfg.detector.train.cache_dir, summary)


def train_detector_on(cfg: LiveMatchConfig, roots, val_roots=None, out=None, progress: bool = True,
                      init_from=None):
    """Train on ``roots`` (from the checkpoint ``init_from`` when given); validate on
    ``val_roots`` or, without them, on a held-out share of the sources
    (``detector.train.val_fraction``)."""
    from detector.data import split_by_source
    from detector.train import train_detector
    summary = RunSummary()
    samples = _samples(roots, cfg, summary)
    if val_roots:
        train, val = samples, _samples(val_roots, cfg, summary)
    else:
        train, val = split_by_source(samples, cfg.detector.train.val_fraction, cfg.detector.train.seed)
    summary.counts["validation images"] += len(val)
    result = train_detector(cfg.detector, train, val, out or cfg.detector.out_dir, progress, init_from=init_from)
    return result, summary


def evaluate_detector_on(checkpoint, roots, cfg: LiveMatchConfig, device="cpu") -> dict:
    """COCO AP / AP50 of a checkpoint on every annotated image of ``roots``."""
    from detector.model import class_names
    from detector.train import evaluate_detector, load_detector
    model, det_cfg = load_detector(checkpoint, device)
    classes = class_names(det_cfg.model)
    samples = _samples(roots, cfg, RunSummary(), classes)
    metrics = evaluate_detector(model, samples, cfg.detector.infer.frame_short_side, len(classes))
    return {**metrics, "images": len(samples), "classes": classes}


def _rows(d) -> list[list[float]]:
    return [[*map(float, b), float(s), int(l)] for b, s, l in zip(d.boxes, d.scores, d.labels)]


def predict_boxes(checkpoint, roots, out, cfg: LiveMatchConfig, progress: bool = True, device="cpu") -> RunSummary:
    """Detect on every photo and on the ``media.infer_frames`` of every clip; write box files.
    Unreadable photos and clips are skipped with a warning, counted in the returned summary."""
    from detector.infer import frame_region, kept_labels, predict
    from detector.train import load_detector
    model, det_cfg = load_detector(checkpoint, device)
    inf, out = cfg.detector.infer, Path(out)
    photo_labels, frame_labels = kept_labels(det_cfg.model, inf)
    region = frame_region(inf)
    ds = load_dataset(roots, probe_media=False)
    summary = ds.summary
    for item in tqdm(ds.items.values(), desc="photos", unit="item", disable=bar_disabled(progress)):
        images, names = read_item_photos(item, summary)
        dets = predict(model, images, inf.photo_short_side, inf.photo_threshold, inf.batch_size,
                       channels_last=inf.channels_last, labels=photo_labels)
        write_json(out / "photos" / f"{item.item_id}.json", {n: _rows(d) for n, d in zip(names, dets)}, indent=None)
        summary.counts["detected photo boxes"] += sum(len(d) for d in dets)
    for video in tqdm(ds.videos.values(), desc="clips", unit="clip", disable=bar_disabled(progress)):
        frames = read_clip_frames(video, cfg.media, summary)
        if frames is None:
            continue
        dets = predict(model, list(frames.images), inf.frame_short_side, inf.frame_threshold, inf.batch_size,
                       channels_last=inf.channels_last, labels=frame_labels, region=region)
        write_json(out / "videos" / f"{video.video_id}.json",
                   {str(i): _rows(d) for i, d in zip(frames.indices, dets)}, indent=None)
        summary.counts["detected frame boxes"] += sum(len(d) for d in dets)
    return summary


def _centres(ds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centres ``(cx, cy)`` as fractions of the frame of the sold garments (``instance_id`` > 0),
    of the other garments, and whether each other garment is shown alone (``display`` 1: on a
    rack), on every annotated frame of a probed dataset."""
    sold, other, alone = [], [], []
    for video in ds.videos.values():
        if not video.frames or not video.size:
            continue
        w, h = video.size
        for anns in video.frames.values():
            for a in anns:
                x1, y1, x2, y2 = a.box
                centre = ((x1 + x2) / (2 * w), (y1 + y2) / (2 * h))
                if a.instance_id > 0:
                    sold.append(centre)
                else:
                    other.append(centre)
                    alone.append(a.display == 1)
    return np.reshape(sold, (-1, 2)), np.reshape(other, (-1, 2)), np.array(alone, bool)


def learn_frame_region(roots, coverage: float = 0.98) -> dict:
    """``detector.infer.frame_region`` learned from annotated frames: per axis, the central
    ``coverage`` of the sold garments' centres, widened outward to 2 decimals. Also returns the
    centres and the share of sold garments, of other garments and of other garments shown alone
    (racks) whose centre falls inside it."""
    from detector.infer import in_region
    if not 0.0 < coverage <= 1.0:
        raise ConfigError(f"coverage is {coverage}; give a share of the sold garments in (0, 1]")
    ds = load_dataset(roots, probe_media=True)
    sold, other, alone = _centres(ds)
    if not len(sold):
        raise DatasetError(f"{', '.join(map(str, ds.roots))}: no annotated frame with a sold garment "
                           "(instance_id > 0); frame_region is learned from annotated clips")
    tail = 100.0 * (1.0 - coverage) / 2.0
    lo, hi = np.percentile(sold, tail, axis=0), np.percentile(sold, 100.0 - tail, axis=0)
    region = [float(v) for v in np.clip(np.concatenate([np.floor(lo * 100), np.ceil(hi * 100)]) / 100, 0.0, 1.0)]

    def inside(c: np.ndarray) -> float:
        return float(in_region(c[:, 0], c[:, 1], region).mean()) if len(c) else 0.0

    return {"region": region, "coverage": coverage, "sold": len(sold), "other": len(other),
            "sold_inside": inside(sold), "other_inside": inside(other), "alone": int(alone.sum()),
            "alone_inside": inside(other[alone]),
            "centres": {"sold": sold.round(4).tolist(), "other": other.round(4).tolist()}, "summary": ds.summary}
