"""Detection training data: annotated shop photos and annotated video frames of one or more roots.

Video frames are decoded once and cached as JPEG (a killed run resumes from the cache). Boxes
of width or height under ``MIN_SIDE`` px are dropped and counted; with per-label heads, a label
outside the model's list is dropped and counted too; with a split (``SPLITS``) the class is
``product`` / ``other`` by ``instance_id`` > 0, or ``worn`` / ``alone`` by ``display``. Images
are split into train / validation by their source (all photos of an item, all frames of a clip
go to the same side), so that no garment is seen in training and scored in validation.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from detector.config import SPLITS
from ground.dataset import Dataset
from ground.errors import MediaError
from ground.io import atomic_write_bytes
from ground.media import read_photo, sample_exact
from ground.structures import normalize_label
from ground.summary import RunSummary

log = logging.getLogger(__name__)
MIN_SIDE = 2.0


@dataclass
class DetSample:
    """One training image: its file (photo, or cached frame), its source id and its boxes."""

    path: str
    source: str  # item id or video id: the split unit
    boxes: np.ndarray  # (N, 4) float32 pixels
    labels: np.ndarray  # (N,) int64, 1.. (0 is background)


_SPLIT_RULES = {
    SPLITS["instance"]: lambda a: a.instance_id > 0,
    SPLITS["display"]: lambda a: a.display == 0,
}


def split_counts(ds: Dataset, split: str) -> dict[str, int]:
    """How many annotated frame garments of ``ds`` fall in each class of ``split`` (SPLITS)."""
    classes = SPLITS[split]
    first = _SPLIT_RULES[classes]
    anns = [a for v in ds.videos.values() for frame in (v.frames or {}).values() for a in frame]
    ones = sum(bool(first(a)) for a in anns)
    return {classes[0]: ones, classes[1]: len(anns) - ones}


def _targets(anns, classes: list[str], summary: RunSummary) -> tuple[np.ndarray, np.ndarray]:
    boxes, labels = [], []
    index = {c: k + 1 for k, c in enumerate(classes)}
    first_class = _SPLIT_RULES.get(tuple(classes))  # a split's class 1, decided per annotation
    for a in anns:
        x1, y1, x2, y2 = a.box
        if x2 - x1 < MIN_SIDE or y2 - y1 < MIN_SIDE:
            summary.counts["dropped degenerate boxes"] += 1
            continue
        if classes == ["garment"]:
            label = 1
        elif first_class is not None:
            label = 1 if first_class(a) else 2
        else:
            label = index.get(normalize_label(a.label))
        if label is None:
            summary.counts["dropped boxes of unknown label"] += 1
            continue
        boxes.append(a.box)
        labels.append(label)
    return np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(labels, np.int64)


def detection_samples(
    ds: Dataset, classes: list[str], cache_dir, summary: RunSummary | None = None
) -> list[DetSample]:
    """Every annotated photo and annotated frame of ``ds`` (frames decoded to ``cache_dir``)."""
    summary = summary if summary is not None else RunSummary()
    cache_dir = Path(cache_dir)
    out = []
    for photo in ds.photos():
        if photo.annotations is not None:
            out.append(
                DetSample(
                    str(photo.path), photo.item_id, *_targets(photo.annotations, classes, summary)
                )
            )
    for video in ds.videos.values():
        if not video.frames:
            continue
        files = {f: cache_dir / f"{video.video_id}_{f}.jpg" for f in video.frames}
        missing = [f for f, p in files.items() if not p.is_file()]
        if missing:
            try:
                sampled, past = sample_exact(video.path, missing)
            except MediaError as e:
                summary.warn(video.path, f"unreadable video: {e.reason}")
                continue
            if past:
                summary.warn(
                    video.path,
                    f"frame past the clip's end: annotated frame_index {past}",
                    "frame skipped",
                )
            for index, image in zip(sampled.indices, sampled.images) if sampled is not None else ():
                ok, jpg = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
                atomic_write_bytes(files[index], jpg.tobytes())
        for index, anns in video.frames.items():
            if files[index].is_file():
                out.append(
                    DetSample(str(files[index]), video.video_id, *_targets(anns, classes, summary))
                )
    summary.counts["detection images"] += len(out)
    return out


def split_by_source(samples: list[DetSample], val_fraction: float, seed: int = 0):
    """``(train, val)``: a source goes to validation when a hash of (seed, source) falls under
    ``val_fraction`` (stable whatever the order or number of samples)."""

    def is_val(source: str) -> bool:
        digest = hashlib.sha1(f"{seed}:{source}".encode()).digest()
        return int.from_bytes(digest[:4], "big") / 2**32 < val_fraction

    train = [s for s in samples if not is_val(s.source)]
    val = [s for s in samples if is_val(s.source)]
    return train, val


class DetectionDataset(torch.utils.data.Dataset):
    """``(float image (3, H, W) in [0, 1], {"boxes", "labels"})``; horizontal flip with
    probability ``hflip`` (resizing is the model transform's: random short side in training)."""

    def __init__(self, samples: list[DetSample], hflip: float = 0.0):
        self.samples, self.hflip = samples, hflip

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        s = self.samples[i]
        image = read_photo(s.path)
        boxes = s.boxes.copy()
        if self.hflip and torch.rand(()).item() < self.hflip:  # torch seeds each loader worker
            image = image[:, ::-1]
            boxes[:, [0, 2]] = image.shape[1] - boxes[:, [2, 0]]
        tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float() / 255.0
        return tensor, {"boxes": torch.from_numpy(boxes), "labels": torch.from_numpy(s.labels)}


def collate(batch):
    return tuple(zip(*batch))
