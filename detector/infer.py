"""Batched prediction on photos and sampled frames; boxes in original pixel coordinates."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, fields

import numpy as np
import torch

from detector.config import WORN
from ground.boxes import in_region
from ground.errors import ConfigError

WHOLE_FRAME = (0.0, 0.0, 1.0, 1.0)


@dataclass
class Detections:
    """Equal-length arrays for one image (mask / index selection gives a new ``Detections``):
    ``boxes`` ``(N, 4)`` ``[x1, y1, x2, y2]`` pixels of the original image, ``scores`` ``(N,)``,
    ``labels`` ``(N,)`` (1.. as in the model's class list)."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    def __getitem__(self, sel) -> Detections:
        return Detections(*(getattr(self, f.name)[sel] for f in fields(self)))

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.empty((0, 4), np.float32), np.empty(0, np.float32), np.empty(0, np.int64))


def kept_labels(model_cfg, infer_cfg) -> tuple[list[int] | None, list[int] | None]:
    """The model labels kept on photos and on frames (``infer.photo_classes`` /
    ``infer.frame_classes``; ``None``: every class)."""
    from detector.model import class_ids, class_names

    names = class_names(model_cfg)
    return (
        class_ids(names, infer_cfg.photo_classes, "detector.infer.photo_classes"),
        class_ids(names, infer_cfg.frame_classes, "detector.infer.frame_classes"),
    )


def trusted_worn(model_cfg, trust: float) -> tuple[int, float] | None:
    """``(label, score)``: frame boxes the detector labels ``worn`` with at least
    ``infer.frame_trust_worn`` keep whatever the worn scorer says; ``None`` when it is 0. A
    detector without a ``worn`` class is a ``ConfigError`` naming the key."""
    from detector.model import class_names

    if not trust:
        return None
    names = class_names(model_cfg)
    if WORN not in names:
        raise ConfigError(
            f"detector.infer.frame_trust_worn is {trust} but the detector's classes are {names}, "
            f"without {WORN!r}: set it to 0 or use a detector split by display"
        )
    return names.index(WORN) + 1, float(trust)


def frame_region(infer_cfg) -> tuple[float, float, float, float] | None:
    """``infer.frame_region`` checked: ``(x1, y1, x2, y2)`` fractions of the frame, or ``None``
    for the whole frame (nothing to filter). A malformed region is a ``ConfigError``."""
    region = tuple(float(v) for v in infer_cfg.frame_region)
    if not (
        len(region) == 4
        and 0.0 <= region[0] < region[2] <= 1.0
        and 0.0 <= region[1] < region[3] <= 1.0
    ):
        raise ConfigError(
            f"detector.infer.frame_region is {list(infer_cfg.frame_region)}; give [x1, y1, x2, y2] "
            "as fractions of the frame, 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1"
        )
    return None if region == WHOLE_FRAME else region


def centre_inside(boxes: torch.Tensor, shape, region) -> torch.Tensor:
    """Which ``[x1, y1, x2, y2]`` boxes of an image of ``shape`` (``(H, W, ...)``) have their
    centre inside ``region`` (:func:`in_region`)."""
    h, w = shape[:2]
    return in_region(
        (boxes[:, 0] + boxes[:, 2]) / (2 * w), (boxes[:, 1] + boxes[:, 3]) / (2 * h), region
    )


def _device(model) -> torch.device:
    return next(model.parameters()).device


def shape_batches(images: list[np.ndarray], batch_size: int) -> list[list[int]]:
    """Indices of ``images`` in batches of at most ``batch_size`` images of one shape each, in
    order of first appearance: no image is padded to another's size, so an image's detections do
    not depend on what else is in the call (frames of several clips can share a batch)."""
    by_shape: dict[tuple, list[int]] = {}
    for i, im in enumerate(images):
        by_shape.setdefault(im.shape[:2], []).append(i)
    return [
        rows[lo : lo + batch_size]
        for rows in by_shape.values()
        for lo in range(0, len(rows), batch_size)
    ]


@contextmanager
def _short_side(transform, images: list[np.ndarray], short_side: int):
    """Within the block, ``transform`` (the model's) resizes every image of ``images`` so that its
    short side is ``short_side``, the long side uncapped; its own sizes are restored after."""
    saved = transform.min_size, transform.max_size
    longest = max((max(im.shape[:2]) / min(im.shape[:2]) for im in images), default=1.0)
    transform.min_size, transform.max_size = (
        (int(short_side),),
        int(np.ceil(short_side * longest)) + 1,
    )
    try:
        yield
    finally:
        transform.min_size, transform.max_size = saved


def _kept(result: dict, shape, threshold: float, labels, region) -> Detections:
    """The boxes of one image's model output (of an image of ``shape``) that :func:`predict`
    keeps, as numpy arrays."""
    keep = result["scores"] >= threshold
    if labels is not None:
        keep &= torch.isin(
            result["labels"], torch.as_tensor(labels, device=result["labels"].device)
        )
    if region is not None:
        keep &= centre_inside(result["boxes"], shape, region)
    return Detections(
        result["boxes"][keep].float().cpu().numpy(),
        result["scores"][keep].float().cpu().numpy(),
        result["labels"][keep].cpu().numpy(),
    )


@torch.no_grad()
def predict(
    model,
    images: list[np.ndarray],
    short_side: int,
    threshold: float,
    batch_size: int = 4,
    amp: bool = True,
    channels_last: bool = False,
    labels: list[int] | None = None,
    region=None,
) -> list[Detections]:
    """Detect in RGB ``uint8`` images: each is resized by the model so that its short side is
    ``short_side`` (the long side follows, uncapped), boxes are mapped back to the image's own
    pixels, and only boxes scoring >= ``threshold`` (and, with ``labels``, of those model labels;
    with ``region``, whose centre lies in it: :func:`centre_inside`) are kept. Images are batched
    by shape (:func:`shape_batches`). AMP on CUDA unless switched off; ``channels_last`` converts
    the model in place on CUDA, so only inference-only callers (``livematch run``) ask for it:
    during training it would change the DDP-wrapped parameters under the optimiser."""
    model.eval()
    device = _device(model)
    cuda = device.type == "cuda"
    if cuda and channels_last:
        model.to(memory_format=torch.channels_last)
    out: list[Detections | None] = [None] * len(images)
    with _short_side(model.transform, images, short_side):
        for rows in shape_batches(images, max(1, batch_size)):
            batch = [
                torch.from_numpy(np.ascontiguousarray(images[i].transpose(2, 0, 1)))
                .to(device)
                .float()
                / 255.0
                for i in rows
            ]
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp and cuda):
                results = model(batch)
            for i, r in zip(rows, results):
                out[i] = _kept(r, images[i].shape, threshold, labels, region)
    return out
