"""Composing garments into shop photos and live-stream frames, with their ground-truth boxes.

Boxes are the visible extent of each garment's sprite (alpha > 50 %) after placement, in pixels
of the output image; a garment less than ``MIN_VISIBLE`` visible or smaller than ``MIN_SIDE``
pixels is not annotated, as a human annotator would skip it.
"""

from __future__ import annotations

import cv2
import numpy as np

from livematch.sampledata.garments import BOTTOM_KINDS

MIN_VISIBLE = 0.3
MIN_SIDE = 10
SKIN = ((224, 172, 140), (198, 140, 105), (160, 110, 80), (240, 200, 175))
# Garment height as a fraction of the figure height (shoulder to ankle), by kind.
FIGURE_HEIGHT = {
    "top": 0.42,
    "coat": 0.62,
    "dress": 0.8,
    "skirt": 0.42,
    "shorts": 0.25,
    "trousers": 0.6,
}
WAIST = 0.38  # where bottoms start, fraction of the figure height below the shoulders
# Backdrop styles by sample-data style (varied: photographs twice as often as each drawn style).
BACKDROPS = {
    "classic": ("studio", "room", "noise"),
    "varied": ("studio", "room", "noise", "photo", "photo"),
}


def background(
    rng: np.random.Generator, width: int, height: int, styles=("studio", "room", "noise")
) -> np.ndarray:
    """A plausible backdrop: studio gradient, cluttered room, soft coloured noise, or (style
    ``"photo"``) a blurred real photograph."""
    style = rng.choice(list(styles))
    top, bottom = rng.uniform(60, 245, 3), rng.uniform(60, 245, 3)
    t = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    img = (top * (1 - t) + bottom * t).astype(np.float32) * np.ones((1, width, 1), np.float32)
    if style == "room":
        for _ in range(int(rng.integers(4, 10))):
            x, y = int(rng.uniform(0, width)), int(rng.uniform(0, height))
            w, h = int(rng.uniform(0.05, 0.35) * width), int(rng.uniform(0.05, 0.4) * height)
            cv2.rectangle(
                img, (x, y), (x + w, y + h), tuple(float(v) for v in rng.uniform(40, 220, 3)), -1
            )
        img = cv2.GaussianBlur(img, (0, 0), 2.0)
    elif style == "photo":
        from livematch.sampledata.textures import patch

        img = 0.35 * img + 0.65 * cv2.GaussianBlur(
            patch(rng, width, height).astype(np.float32), (0, 0), 1.5
        )
    elif style == "noise":
        small = rng.uniform(0, 255, (6, 8, 3)).astype(np.float32)
        img = 0.5 * img + 0.5 * cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    img += rng.normal(0, 3, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def paste(
    canvas: np.ndarray, sprite: np.ndarray, center, height: float, angle: float = 0.0
) -> tuple[list[int] | None, float]:
    """Draw an RGBA ``sprite`` scaled to ``height`` px and rotated by ``angle`` degrees about
    ``center`` (x, y). Returns the visible box (or ``None``) and the visible fraction of the
    sprite."""
    sh, sw = sprite.shape[:2]
    scale = height / sh
    m = cv2.getRotationMatrix2D((sw / 2, sh / 2), angle, scale)
    m[:, 2] += np.array(center) - m @ np.array([sw / 2, sh / 2, 1.0])
    corners = np.array([[0, 0, 1], [sw, 0, 1], [0, sh, 1], [sw, sh, 1]], np.float64) @ m.T
    x1, y1 = np.floor(corners.min(0)).astype(int)
    x2, y2 = np.ceil(corners.max(0)).astype(int)
    H, W = canvas.shape[:2]
    x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, W), min(y2, H)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None, 0.0
    m[:, 2] -= (x1, y1)
    warped = cv2.warpAffine(
        sprite,
        m,
        (x2 - x1, y2 - y1),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    alpha = warped[..., 3].astype(np.float32) * (1.0 / 255.0)
    roi = canvas[y1:y2, x1:x2]
    roi[:] = cv2.blendLinear(np.ascontiguousarray(warped[..., :3]), roi, alpha, 1.0 - alpha)
    visible = (warped[..., 3] > 127).astype(np.uint8)
    full_area = cv2.countNonZero((sprite[..., 3] > 127).astype(np.uint8)) * scale * scale
    count = cv2.countNonZero(visible)
    if count == 0 or full_area == 0:
        return None, 0.0
    bx, by, bw, bh = cv2.boundingRect(visible)
    return [int(x1 + bx), int(y1 + by), int(x1 + bx + bw), int(y1 + by + bh)], float(
        count / full_area
    )


def annotatable(box, fraction: float) -> bool:
    return (
        box is not None
        and fraction >= MIN_VISIBLE
        and min(box[2] - box[0], box[3] - box[1]) >= MIN_SIDE
    )


def figure_slots(specs, shoulder_x: float, shoulder_y: float, figure: float):
    """Where each garment of an outfit sits on a figure: ``(center, height)`` per spec."""
    slots = []
    for spec in specs:
        h = FIGURE_HEIGHT[spec.kind] * figure
        top = shoulder_y + (WAIST * figure if spec.kind in BOTTOM_KINDS else 0.0)
        slots.append(((shoulder_x, top + h / 2), h))
    return slots


def draw_presenter(
    canvas: np.ndarray, shoulder_x: float, shoulder_y: float, figure: float, skin, hair
) -> None:
    """A simple presenter behind the outfit: head, neck, legs."""
    head = int(0.09 * figure)
    cx, cy = int(shoulder_x), int(shoulder_y - 0.13 * figure)
    cv2.rectangle(canvas, (cx - head // 3, cy), (cx + head // 3, int(shoulder_y) + 4), skin, -1)
    cv2.ellipse(canvas, (cx, cy), (int(head * 0.8), head), 0, 0, 360, skin, -1)
    cv2.ellipse(
        canvas, (cx, cy - head // 3), (int(head * 0.9), int(head * 0.8)), 0, 180, 360, hair, -1
    )
    for s in (-1, 1):
        x = int(shoulder_x + s * 0.07 * figure)
        cv2.line(
            canvas,
            (x, int(shoulder_y + 0.6 * figure)),
            (x, int(shoulder_y + figure)),
            skin,
            max(2, int(0.05 * figure)),
        )


def draw_hand(canvas: np.ndarray, x: float, y: float, size: float, skin, angle: float) -> None:
    """An arm and hand crossing the view (a partial occluder)."""
    dx, dy = np.cos(np.deg2rad(angle)) * size * 3, np.sin(np.deg2rad(angle)) * size * 3
    cv2.line(canvas, (int(x - dx), int(y - dy)), (int(x), int(y)), skin, max(2, int(size * 0.7)))
    cv2.ellipse(
        canvas, (int(x), int(y)), (int(size * 0.6), int(size * 0.45)), angle, 0, 360, skin, -1
    )


def light(img: np.ndarray, gain: float, cast, blur: float = 0.0) -> np.ndarray:
    """Global lighting (gain and per-channel colour cast) and optional Gaussian blur (sigma px)."""
    factors = np.asarray(cast, np.float32) * gain
    lut = np.clip(np.arange(256, dtype=np.float32)[:, None] * factors[None, :] + 0.5, 0, 255)
    out = cv2.LUT(img, lut.astype(np.uint8).reshape(256, 1, 3))
    if blur > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), blur)
    return out


def motion_blur(img: np.ndarray, length: float, angle: float) -> np.ndarray:
    """Blur along a line of ``length`` px at ``angle`` degrees (a camera or subject moving fast)."""
    k = max(3, int(length) | 1)
    kernel = np.zeros((k, k), np.float32)
    kernel[k // 2] = 1.0
    rot = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), angle, 1.0)
    kernel = cv2.warpAffine(kernel, rot, (k, k))
    return cv2.filter2D(img, -1, kernel / max(kernel.sum(), 1e-6))


def draw_card(canvas: np.ndarray, x: float, y: float, size: float, color, angle: float) -> None:
    """A product / price card held up to the camera: a light rectangle with lines of 'text'."""
    w, h = size, size * 0.62
    rect = ((float(x), float(y)), (float(w), float(h)), float(angle))
    pts = cv2.boxPoints(rect).astype(np.int32)
    cv2.fillPoly(canvas, [pts], (245, 242, 235))
    cv2.polylines(canvas, [pts], True, color, max(1, int(size * 0.04)))
    for k in range(3):
        f = (k + 1) / 4
        a = pts[0] + (pts[1] - pts[0]) * f
        b = pts[3] + (pts[2] - pts[3]) * f
        cv2.line(
            canvas,
            tuple(int(v) for v in a + (b - a) * 0.15),
            tuple(int(v) for v in a + (b - a) * 0.8),
            color,
            max(1, int(size * 0.05)),
        )
