"""Axis-aligned boxes as ``[x1, y1, x2, y2]`` in pixels (x2, y2 exclusive edges, float or int).

Area and IoU are torchvision's (``torchvision.ops.box_area`` / ``box_iou``) on arrays; the
single-box helpers below stay plain Python (docs/DESIGN.md, Boxes)."""

from __future__ import annotations

import numpy as np


def _tensor(boxes):
    """``(N, 4)`` float64 tensor with degenerate boxes (``x2 < x1`` or ``y2 < y1``) flattened to
    zero width or height: torchvision would give an inverted box a positive area."""
    import torch

    b = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    b[:, 2:] = np.maximum(b[:, 2:], b[:, :2])
    return torch.from_numpy(b)


def box_area(boxes: np.ndarray) -> np.ndarray:
    """Area of ``(N, 4)`` boxes; a degenerate box has area 0."""
    from torchvision.ops import box_area as area

    return area(_tensor(boxes)).numpy()


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of ``(N, 4)`` and ``(M, 4)`` boxes -> ``(N, M)``; 0 where the union is empty."""
    from torchvision.ops import box_iou as iou

    return np.nan_to_num(iou(_tensor(a), _tensor(b)).numpy(), nan=0.0)  # 0 / 0 on empty unions


def clip_box(box, width: float | None, height: float | None) -> tuple[float, float, float, float]:
    """Clip one box to ``[0, width] x [0, height]``; a ``None`` size clips only at 0."""
    x1, y1, x2, y2 = (float(v) for v in box)
    hi_x = float("inf") if width is None else float(width)
    hi_y = float("inf") if height is None else float(height)
    return (
        min(max(x1, 0.0), hi_x),
        min(max(y1, 0.0), hi_y),
        min(max(x2, 0.0), hi_x),
        min(max(y2, 0.0), hi_y),
    )


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


def kept_worn(
    worn, labels, scores, min_worn: float, trusted: tuple[int, float] | None = None
) -> np.ndarray:
    """Which frame boxes pass the worn scorer's cut-off: worn probability ``>= min_worn``, or, with
    ``trusted`` = ``(label, score)``, the detector gave the box that label with at least that score
    (``detector.infer.frame_trust_worn``). ``livematch run`` and calibration's filter share it."""
    keep = np.asarray(worn) >= min_worn
    if trusted:
        keep |= (np.asarray(labels) == trusted[0]) & (np.asarray(scores) >= trusted[1])
    return keep


def kept_with_floor(scores, owners, threshold: float, at_least: int) -> np.ndarray:
    """Which boxes to keep: those scoring ``>= threshold`` and, for each owner (an item folder)
    with fewer than ``at_least`` of them, its most confident others up to that many (ties: the
    earlier box). ``at_least`` 0: the threshold alone."""
    scores = np.asarray(scores, np.float64)
    keep = scores >= threshold
    if at_least <= 0 or not len(scores):
        return keep
    owners = np.asarray(owners)
    for owner in np.unique(owners):
        rows = np.flatnonzero(owners == owner)
        short = at_least - int(keep[rows].sum())
        if short > 0:
            rest = rows[~keep[rows]]
            keep[rest[np.argsort(-scores[rest], kind="stable")[:short]]] = True
    return keep
