"""Where sold garments stand in annotated frames: ``detector.infer.frame_region`` learned from
the training clips (``livematch detect region``, and ``livematch fit``'s candidate region)."""

from __future__ import annotations

import numpy as np

from ground.boxes import in_region
from ground.dataset import Dataset, load_dataset
from ground.errors import ConfigError, DatasetError


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
    """``detector.infer.frame_region`` learned from the annotated frames of ``roots`` (or of a
    :class:`~ground.dataset.Dataset` loaded with its media probed): per axis, the central
    ``coverage`` of the sold garments' centres, widened outward to 2 decimals. Also returns the
    centres and the share of sold garments, of other garments and of other garments shown alone
    (racks) whose centre falls inside it."""
    if not 0.0 < coverage <= 1.0:
        raise ConfigError(f"coverage is {coverage}; give a share of the sold garments in (0, 1]")
    ds = roots if isinstance(roots, Dataset) else load_dataset(roots, probe_media=True)
    sold, other, alone = _centres(ds)
    if not len(sold):
        raise DatasetError(
            f"{', '.join(map(str, ds.roots))}: no annotated frame with a sold garment "
            "(instance_id > 0); frame_region is learned from annotated clips"
        )
    tail = 100.0 * (1.0 - coverage) / 2.0
    lo, hi = np.percentile(sold, tail, axis=0), np.percentile(sold, 100.0 - tail, axis=0)
    region = [
        float(v)
        for v in np.clip(np.concatenate([np.floor(lo * 100), np.ceil(hi * 100)]) / 100, 0.0, 1.0)
    ]

    def inside(c: np.ndarray) -> float:
        return float(in_region(c[:, 0], c[:, 1], region).mean()) if len(c) else 0.0

    return {
        "region": region,
        "coverage": coverage,
        "sold": len(sold),
        "other": len(other),
        "sold_inside": inside(sold),
        "other_inside": inside(other),
        "alone": int(alone.sum()),
        "alone_inside": inside(other[alone]),
        "centres": {"sold": sold.round(4).tolist(), "other": other.round(4).tolist()},
        "summary": ds.summary,
    }
