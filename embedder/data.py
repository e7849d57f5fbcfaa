"""Training crops: every annotated box with ``instance_id > 0`` in shop photos and in the training
frames of each clip; boxes that share an ``instance_id`` are one identity.

Crops are cut once (photos read, frames decoded) and cached as JPEG files; a killed run
resumes from the cache. Rules: a box is widened by ``crop_margin`` of its size on each side and
clipped to the image; a crop under 8 px on a side is dropped (counted); an identity with fewer
than ``min_crops`` crops is dropped (nothing to pull together), counted too.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from embedder.augment import augment, resize
from ground.boxes import clip_box
from ground.dataset import Dataset, read_images
from ground.errors import MediaError
from ground.io import atomic_write_bytes, write_json
from ground.progress import progress_bar
from ground.summary import RunSummary

log = logging.getLogger(__name__)
MIN_SIDE = 8


@dataclass
class Crop:
    """One cached crop: where it came from, its identity and its file."""

    path: str
    instance_id: int
    owner: str  # item id (photo) or video id (frame)
    frame: int  # -1 for photos
    width: int
    height: int
    label: int = -1  # identity index, set by assign_labels

    @property
    def aspect(self) -> float:
        return self.width / self.height

    @property
    def is_shop(self) -> bool:
        return self.frame < 0


def widen(box, margin: float, width: int, height: int) -> tuple[int, int, int, int]:
    """``box`` grown by ``margin`` of its width / height on each side, clipped, as integers."""
    x1, y1, x2, y2 = box
    dx, dy = margin * (x2 - x1), margin * (y2 - y1)
    cx1, cy1, cx2, cy2 = clip_box((x1 - dx, y1 - dy, x2 + dx, y2 + dy), width, height)
    return int(cx1), int(cy1), int(round(cx2)), int(round(cy2))


def cut_crop(image: np.ndarray, box, margin: float) -> np.ndarray | None:
    """The crop the embedder sees for ``box`` of ``image``: widened by ``margin`` (:func:`widen`),
    ``None`` when a side is under ``MIN_SIDE`` px. The one cut of training, extraction and runs."""
    x1, y1, x2, y2 = widen(box, margin, image.shape[1], image.shape[0])
    if x2 - x1 < MIN_SIDE or y2 - y1 < MIN_SIDE:
        return None
    return image[y1:y2, x1:x2]


def _save(image: np.ndarray, box, margin: float, path: Path) -> tuple[int, int] | None:
    crop = cut_crop(image, box, margin)
    if crop is None:
        return None
    ok, jpg = cv2.imencode(".jpg", crop[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    atomic_write_bytes(path, jpg.tobytes())
    return crop.shape[1], crop.shape[0]


def _jobs(ds: Dataset, frames):
    """``(key, owner, media path, frame or -1, boxes)`` for every image holding a positive box."""
    wanted = set(frames)
    for photo in ds.photos():
        boxes = [a for a in photo.annotations or () if a.instance_id > 0]
        if boxes:
            yield f"{photo.item_id}_p{photo.name}", photo.item_id, photo.path, -1, boxes
    for video in ds.videos.values():
        for index, anns in (video.frames or {}).items():
            boxes = [a for a in anns if a.instance_id > 0]
            if boxes and index in wanted:
                yield f"{video.video_id}_f{index}", video.video_id, video.path, index, boxes


def cache_crops(
    ds: Dataset,
    frames,
    cache_dir,
    margin: float = 0.05,
    summary: RunSummary | None = None,
    progress: bool = True,
) -> list[Crop]:
    """Cut (or reuse from ``cache_dir``) every training crop; returns them unlabelled."""
    cache_dir = Path(cache_dir)
    summary = summary if summary is not None else RunSummary()
    index_path = cache_dir / "index.json"
    done = (
        {c["path"]: Crop(**c) for c in json.loads(index_path.read_text())}
        if index_path.is_file()
        else {}
    )
    crops, jobs = [], list(_jobs(ds, frames))
    by_video: dict[Path, list] = {}
    for job in jobs:
        by_video.setdefault(job[2], []).append(job)
    for _media_path, group in progress_bar(
        by_video.items(), desc="crops", unit="file", show=progress
    ):
        names = [
            cache_dir / f"{key}_{i}.jpg" for key, *_, boxes in group for i in range(len(boxes))
        ]
        if all(str(n) in done for n in names):
            crops += [done[str(n)] for n in names]
            continue
        crops += _cut(group, cache_dir, margin, summary)
    write_json(index_path, [asdict(c) for c in crops], indent=None)
    summary.counts["training crops"] += len(crops)
    return crops


def _cut(group, cache_dir: Path, margin: float, summary: RunSummary) -> list[Crop]:
    media_path = group[0][2]
    images = read_images(media_path, [g[3] for g in group], summary)
    if images is None:
        return []
    crops = []
    for key, owner, _, index, boxes in group:
        if index not in images:
            summary.warn(media_path, f"missing frame: frame {index} could not be decoded")
            continue
        for i, ann in enumerate(boxes):
            path = cache_dir / f"{key}_{i}.jpg"
            size = _save(images[index], ann.box, margin, path)
            if size is None:
                summary.counts["dropped tiny crops"] += 1
                continue
            crops.append(Crop(str(path), ann.instance_id, owner, index, *size))
    return crops


def assign_labels(
    crops: list[Crop], min_crops: int = 2, summary: RunSummary | None = None
) -> list[Crop]:
    """Number the identities ``0..C-1`` (sorted by instance id), dropping identities with fewer
    than ``min_crops`` crops; returns the kept crops."""
    counts = Counter(c.instance_id for c in crops)
    kept_ids = sorted(i for i, n in counts.items() if n >= min_crops)
    if summary is not None:
        summary.counts["dropped single-crop identities"] += len(counts) - len(kept_ids)
    label = {iid: k for k, iid in enumerate(kept_ids)}
    out = [c for c in crops if c.instance_id in label]
    for c in out:
        c.label = label[c.instance_id]
    return out


class CropDataset(torch.utils.data.Dataset):
    """Reads cached crops; indexed by ``(index, (height, width), draw)`` from the bucket sampler
    (or a plain index, keeping the crop's size). ``draw`` seeds the augmentation of this one item
    (:func:`embedder.augment.augment`), so the same item draws the same augmentation in any worker.
    Returns ``uint8 (3, H, W)`` RGB and the label."""

    def __init__(self, crops: list[Crop], transform=None):
        self.crops, self.transform = crops, transform

    def __len__(self) -> int:
        return len(self.crops)

    def __getitem__(self, item):
        index, shape, draw = item if isinstance(item, tuple) else (item, None, None)
        crop = self.crops[index]
        image = cv2.imread(crop.path, cv2.IMREAD_COLOR)
        if image is None:
            raise MediaError(
                crop.path, "cached crop is unreadable; delete the cache folder to rebuild"
            )
        image = image[..., ::-1]
        if self.transform is not None:
            image = augment(self.transform, np.ascontiguousarray(image), draw)
        if shape is not None:
            image = resize(image, shape)
        return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))), crop.label
