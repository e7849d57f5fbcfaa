"""Wiring of the detector to datasets: training on annotated roots, AP evaluation, and box
files for every photo and every sampled frame (``detect predict``: for inspection and for tools
of your own; ``livematch run`` detects in the same pass as it embeds, through
``livematch.pipeline.Models``, and reads no box file), and the frame region where sold garments
stand (``detect region``).

Box files: ``OUT/photos/<item_id>.json`` = ``{photo name: [[x1, y1, x2, y2, score, label], ...]}``
and ``OUT/videos/<video_id>.json`` = ``{frame index: [[x1, y1, x2, y2, score, label], ...]}``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ground.dataset import load_dataset, read_clip_frames, read_item_photos
from ground.io import write_json
from ground.progress import progress_bar
from ground.summary import RunSummary
from livematch.config import LiveMatchConfig

log = logging.getLogger(__name__)


def _samples(roots, cfg: LiveMatchConfig, summary: RunSummary, classes=None):
    """Annotated images of ``roots`` labelled for ``classes`` (default: the config model's)."""
    from detector.data import detection_samples
    from detector.model import class_names

    ds = load_dataset(roots, probe_media=False)
    summary.merge(ds.summary)
    return detection_samples(
        ds, classes or class_names(cfg.detector.model), cfg.detector.train.cache_dir, summary
    )


def train_detector_on(
    cfg: LiveMatchConfig, roots, val_roots=None, out=None, progress: bool = True, init_from=None
):
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
        train, val = split_by_source(
            samples, cfg.detector.train.val_fraction, cfg.detector.train.seed
        )
    summary.counts["validation images"] += len(val)
    result = train_detector(
        cfg.detector, train, val, out or cfg.detector.out_dir, progress, init_from=init_from
    )
    return result, summary


def evaluate_detector_on(checkpoint, roots, cfg: LiveMatchConfig, device="cpu") -> dict:
    """COCO AP / AP50 of a checkpoint on every annotated image of ``roots``."""
    from detector.checkpoint import load_detector
    from detector.evaluate import evaluate_detector
    from detector.model import class_names

    model, det_cfg = load_detector(checkpoint, device)
    classes = class_names(det_cfg.model)
    samples = _samples(roots, cfg, RunSummary(), classes)
    metrics = evaluate_detector(model, samples, cfg.detector.infer.frame_short_side, len(classes))
    return {**metrics, "images": len(samples), "classes": classes}


def _rows(d) -> list[list[float]]:
    return [
        [*map(float, b), float(s), int(label)] for b, s, label in zip(d.boxes, d.scores, d.labels)
    ]


def _photo_boxes(model, ds, inf, labels, out: Path, summary: RunSummary, progress: bool) -> None:
    """Detect on every item's photos and write ``out/photos/<item_id>.json``."""
    from detector.infer import predict

    for item in progress_bar(ds.items.values(), desc="photos", unit="item", show=progress):
        images, names = read_item_photos(item, summary)
        dets = predict(
            model,
            images,
            inf.photo_short_side,
            inf.photo_threshold,
            inf.batch_size,
            channels_last=inf.channels_last,
            labels=labels,
        )
        write_json(
            out / "photos" / f"{item.item_id}.json",
            {n: _rows(d) for n, d in zip(names, dets)},
            indent=None,
        )
        summary.counts["detected photo boxes"] += sum(len(d) for d in dets)


def _frame_boxes(
    model, ds, cfg: LiveMatchConfig, labels, region, out: Path, summary: RunSummary, progress: bool
) -> None:
    """Detect on the ``media.infer_frames`` of every clip and write ``out/videos/<video_id>.json``
    (unreadable clips skipped)."""
    from detector.infer import predict

    inf = cfg.detector.infer
    for video in progress_bar(ds.videos.values(), desc="clips", unit="clip", show=progress):
        frames = read_clip_frames(video, cfg.media, summary)
        if frames is None:
            continue
        dets = predict(
            model,
            list(frames.images),
            inf.frame_short_side,
            inf.frame_threshold,
            inf.batch_size,
            channels_last=inf.channels_last,
            labels=labels,
            region=region,
        )
        write_json(
            out / "videos" / f"{video.video_id}.json",
            {str(i): _rows(d) for i, d in zip(frames.indices, dets)},
            indent=None,
        )
        summary.counts["detected frame boxes"] += sum(len(d) for d in dets)


def predict_boxes(
    checkpoint, roots, out, cfg: LiveMatchConfig, progress: bool = True, device="cpu"
) -> RunSummary:
    """Detect on every photo and on the ``media.infer_frames`` of every clip; write box files.
    Unreadable photos and clips are skipped with a warning, counted in the returned summary."""
    from detector.checkpoint import load_detector
    from detector.infer import frame_region, kept_labels

    model, det_cfg = load_detector(checkpoint, device)
    inf, out = cfg.detector.infer, Path(out)
    photo_labels, frame_labels = kept_labels(det_cfg.model, inf)
    region = frame_region(inf)
    ds = load_dataset(roots, probe_media=False)
    summary = ds.summary
    _photo_boxes(model, ds, inf, photo_labels, out, summary, progress)
    _frame_boxes(model, ds, cfg, frame_labels, region, out, summary, progress)
    return summary
