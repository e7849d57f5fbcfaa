"""Axis-aligned boxes as ``[x1, y1, x2, y2]`` in pixels (x2, y2 exclusive edges, float or int)."""
from __future__ import annotations

import numpy as np


def box_area(boxes: np.ndarray) -> np.ndarray:
    """Area of ``(N, 4)`` boxes; a degenerate box has area 0."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of ``(N, 4)`` and ``(M, 4)`` boxes -> ``(N, M)``; 0 where the union is empty."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def clip_box(box, width: float | None, height: float | None) -> tuple[float, float, float, float]:
    """Clip one box to ``[0, width] x [0, height]``; a ``None`` size clips only at 0."""
    x1, y1, x2, y2 = (float(v) for v in box)
    hi_x = float("inf") if width is None else float(width)
    hi_y = float("inf") if height is None else float(height)
    return (min(max(x1, 0.0), hi_x), min(max(y1, 0.0), hi_y),
            min(max(x2, 0.0), hi_x), min(max(y2, 0.0), hi_y))


def is_valid_box(box) -> bool:
    """True when ``box`` is four finite numbers with ``x2 > x1`` and ``y2 > y1``."""
    try:
        x1, y1, x2, y2 = (float(v) for v in box)
    except (TypeError, ValueError):
        return False
    return bool(np.all(np.isfinite([x1, y1, x2, y2]))) and x2 > x1 and y2 > y1


def in_region(cx, cy, region):
    """Which points ``(cx, cy)`` (tensors or arrays, fractions of the image) lie inside ``region``
    ``(x1, y1, x2, y2)``, edges included."""
    return (cx >= region[0]) & (cx <= region[2]) & (cy >= region[1]) & (cy <= region[3])
