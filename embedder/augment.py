"""Training augmentation (albumentations) that bridges shop photos and live-stream frames:
colour and lighting, sharpness and compression, viewpoint, framing, occlusion. Each
transform's probability is a config field; 0 switches it off."""

from __future__ import annotations

import random

import albumentations as A
import cv2
import numpy as np

from embedder.config import AugmentConfig


def build_augment(cfg: AugmentConfig) -> A.Compose:
    """The training pipeline (before the per-batch resize)."""
    steps = [
        A.HorizontalFlip(p=cfg.hflip),
        A.CropAndPad(
            percent=(-0.15, 0.0), keep_size=False, sample_independently=True, p=cfg.resized_crop
        ),
        A.Affine(
            scale=(0.85, 1.15),
            translate_percent=(-0.05, 0.05),
            rotate=(-12, 12),
            shear=(-6, 6),
            border_mode=cv2.BORDER_REFLECT_101,
            p=cfg.affine,
        ),
        A.Perspective(scale=(0.02, 0.07), p=cfg.perspective),
        A.ColorJitter(brightness=0.35, contrast=0.35, saturation=0.3, hue=0.03, p=cfg.color_jitter),
        A.HueSaturationValue(
            hue_shift_limit=8, sat_shift_limit=25, val_shift_limit=20, p=cfg.hue_saturation
        ),
        A.ToGray(p=cfg.grayscale),
        A.GaussianBlur(blur_limit=(3, 7), p=cfg.blur),
        A.MotionBlur(blur_limit=(3, 9), p=cfg.motion_blur),
        A.Downscale(scale_range=(0.35, 0.8), p=cfg.downscale),
        A.ImageCompression(quality_range=(35, 90), p=cfg.jpeg),
        A.CoarseDropout(
            num_holes_range=(1, 4),
            hole_height_range=(0.08, 0.25),
            hole_width_range=(0.08, 0.25),
            p=cfg.coarse_dropout,
        ),
    ]
    return A.Compose([s for s in steps if s.p > 0])


def augment(transform: A.Compose, image: np.ndarray, draw: int | None) -> np.ndarray:
    """``transform`` applied to ``image`` with its random state seeded by ``draw`` (one generator
    shared by every step: ``Compose(seed=...)`` would give each step the same seed, so their
    draws would agree); ``None`` keeps the transform's own state."""
    if draw is not None:
        transform.set_random_state(np.random.default_rng(draw), random.Random(draw))
    return transform(image=image)["image"]


def resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize ``(H, W, 3)`` to ``shape = (height, width)`` (area filter when shrinking)."""
    h, w = shape
    interp = cv2.INTER_AREA if h * w < image.shape[0] * image.shape[1] else cv2.INTER_LINEAR
    return cv2.resize(image, (w, h), interpolation=interp)
