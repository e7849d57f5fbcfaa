"""Synthetic crop features from ground-truth boxes: a feature store to exercise and calibrate the
matcher without trained models (``livematch simulate-features``)."""

from __future__ import annotations

import numpy as np

from ground.dataset import Dataset
from matcher.crops import CropTable
from matcher.store import FeatureStore


def simulate_crops(
    ds: Dataset, frames, dim: int = 512, noise: float = 1.0, video_noise: float = 1.5, seed: int = 0
) -> FeatureStore:
    """Crops of every annotated box (shop photos, and video frames in ``frames``) with synthetic
    features: a random unit direction per garment (``instance_id``) plus Gaussian noise of norm
    ~``noise`` (``noise * video_noise`` on video crops, the photo-to-stream domain gap); boxes of
    ``instance_id`` 0 get a random direction each. Detector scores are uniform in [0.9, 1)."""
    rng = np.random.default_rng(seed)
    centers: dict[int, np.ndarray] = {}

    def feature(iid: int, scale: float) -> np.ndarray:
        if iid == 0:
            return rng.normal(size=dim)
        center = centers.setdefault(iid, rng.normal(size=dim) / np.sqrt(dim))
        return center + scale * rng.normal(size=dim) / np.sqrt(dim)

    def table(rows) -> CropTable:
        if not rows:
            return CropTable.empty(dim)
        owner, name, frame, box, iid, scale = zip(*rows)
        feats = np.stack([feature(i, s) for i, s in zip(iid, scale)]).astype(np.float32)
        feats /= np.linalg.norm(feats, axis=1, keepdims=True)
        return CropTable(
            owner, name, frame, box, rng.uniform(0.9, 1.0, len(rows)), feats.astype(np.float16)
        )

    wanted = set(frames)
    shop = [
        (p.item_id, p.name, -1, a.box, a.instance_id, noise)
        for p in ds.photos()
        for a in (p.annotations or ())
    ]
    video = [
        (v.video_id, "", f, a.box, a.instance_id, noise * video_noise)
        for v in ds.videos.values()
        for f, anns in (v.frames or {}).items()
        if f in wanted
        for a in anns
    ]
    return FeatureStore(table(shop), table(video), titles=ds.titles(), transcripts=ds.transcripts())
