"""``CropTable``: equal-length arrays describing crops and their features (like detectron2's
``Instances``: boolean-mask or index selection gives a new table).

A shop crop has ``owner`` = item id, ``name`` = photo stem, ``frame`` = -1; a video crop has
``owner`` = video id, ``name`` = "", ``frame`` = decoded frame index. ``boxes`` are
``[x1, y1, x2, y2]`` pixels, ``scores`` detector confidences, ``features`` l2-normalised rows,
``labels`` the detector's class label of each box (0 where unknown: annotated boxes, older files),
``worn`` the worn scorer's probability that a frame box is worn by a person (1 where unknown).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from ground.errors import LiveMatchError
from ground.io import atomic_write_bytes

log = logging.getLogger(__name__)


class FeatureError(LiveMatchError, ValueError):
    """Features that cannot be used together (dimension mismatch, unreadable feature file)."""


@dataclass
class CropTable:
    owner: np.ndarray  # (N,) str
    name: np.ndarray  # (N,) str
    frame: np.ndarray  # (N,) int64
    boxes: np.ndarray  # (N, 4) float32
    scores: np.ndarray  # (N,) float32
    features: np.ndarray  # (N, D) float16 or float32
    labels: np.ndarray | None = None  # (N,) int64 detector class labels; None -> zeros
    worn: np.ndarray | None = None  # (N,) float32 worn probability (the worn scorer); None -> ones

    def __post_init__(self):
        self.owner = np.asarray(self.owner, dtype=str).reshape(-1)
        n = len(self.owner)
        self.name = np.asarray(self.name, dtype=str).reshape(n)
        self.frame = np.asarray(self.frame, dtype=np.int64).reshape(n)
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(n, 4)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(n)
        self.features = np.asarray(self.features).reshape(n, -1) if n else np.asarray(self.features)
        self.labels = (
            np.zeros(n, np.int64)
            if self.labels is None
            else np.asarray(self.labels, np.int64).reshape(n)
        )
        self.worn = (
            np.ones(n, np.float32)
            if self.worn is None
            else np.asarray(self.worn, np.float32).reshape(n)
        )

    def __len__(self) -> int:
        return len(self.owner)

    def __getitem__(self, sel) -> CropTable:
        return CropTable(**{f.name: getattr(self, f.name)[sel] for f in fields(self)})

    @property
    def dim(self) -> int:
        return int(self.features.shape[-1]) if self.features.ndim == 2 else 0

    @classmethod
    def empty(cls, dim: int = 0) -> CropTable:
        return cls(
            np.empty(0, str),
            np.empty(0, str),
            np.empty(0, np.int64),
            np.empty((0, 4)),
            np.empty(0),
            np.empty((0, dim), np.float32),
        )

    @classmethod
    def concat(cls, tables) -> CropTable:
        tables = [t for t in tables if len(t)]
        if not tables:
            return cls.empty()
        dims = {t.dim for t in tables}
        if len(dims) > 1:
            raise FeatureError(
                f"cannot concatenate crop tables of feature dimensions {sorted(dims)}"
            )
        return cls(
            **{f.name: np.concatenate([getattr(t, f.name) for t in tables]) for f in fields(cls)}
        )

    def describe(self, i: int) -> str:
        """A readable name of crop ``i`` for warnings: ``item 000041 photo 0 box 2``."""
        where = f"photo {self.name[i]}" if self.frame[i] < 0 else f"frame {self.frame[i]}"
        return f"{self.owner[i]} {where} box {[round(float(v)) for v in self.boxes[i]]}"

    def save(self, path) -> Path:
        """Write as ``.npz`` (no pickled objects: strings are fixed-width unicode arrays)."""
        buf = io.BytesIO()
        np.savez(buf, **{f.name: getattr(self, f.name) for f in fields(self)})
        return atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path) -> CropTable:
        try:
            with np.load(path, allow_pickle=False) as data:
                return cls(
                    **{
                        f.name: data[f.name]
                        for f in fields(cls)
                        if f.name in data or f.name not in ("labels", "worn")
                    }
                )
        except (OSError, KeyError, ValueError) as e:
            raise FeatureError(f"{path}: not a crop table: {e}") from None


def clean_features(table: CropTable) -> tuple[CropTable, int]:
    """Drop crops whose feature has NaN / inf or zero norm, warning with each crop's name;
    return the kept crops (features as float32, re-normalised) and the number dropped."""
    if not len(table):
        return table, 0
    feats = table.features.astype(np.float32)
    finite = np.isfinite(feats).all(axis=1)
    norms = np.linalg.norm(np.where(finite[:, None], feats, 0), axis=1)
    bad = ~finite | (norms < 1e-6)
    for i in np.flatnonzero(bad):
        log.warning(
            "dropped crop %s: feature has %s",
            table.describe(i),
            "NaN or inf" if not finite[i] else "zero norm",
        )
    kept = table[~bad]
    kept.features = feats[~bad] / norms[~bad, None]
    return kept, int(bad.sum())
