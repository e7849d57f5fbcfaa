"""Textures cut from real photographs (the sample images that scikit-image ships in its wheel),
for garment prints and studio backdrops that drawn patterns alone would not give: natural
colour statistics, clutter, fine detail that blurs and compresses like camera footage.

Nothing is downloaded: only images inside the installed ``skimage/data`` folder are read.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

# Colour photographs and grey ones (tinted with the garment's palette when used as fabric).
COLOUR = (
    "astronaut.png",
    "coffee.png",
    "chelsea.png",
    "rocket.jpg",
    "hubble_deep_field.jpg",
    "ihc.png",
    "retina.jpg",
    "motorcycle_left.png",
    "color.png",
)
GREY = (
    "camera.png",
    "brick.png",
    "grass.png",
    "gravel.png",
    "moon.png",
    "coins.png",
    "page.png",
    "text.png",
)


@lru_cache(maxsize=1)
def _folder() -> Path:
    import skimage.data

    return Path(skimage.data.__file__).parent


@lru_cache(maxsize=None)
def photo(name: str) -> np.ndarray:
    """A shipped sample image as RGB ``uint8`` ``(H, W, 3)`` (grey images repeated)."""
    img = cv2.imread(str(_folder() / name), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"{_folder() / name}: scikit-image sample image missing")
    return np.ascontiguousarray(img[..., ::-1])


def names() -> tuple[str, ...]:
    """The photographs present in this install (some wheels leave a few out)."""
    return tuple(n for n in COLOUR + GREY if (_folder() / n).exists())


def patch(
    rng: np.random.Generator, w: int, h: int, zoom: float = 1.0, name: str | None = None
) -> np.ndarray:
    """A ``(h, w, 3)`` window of a photograph: a random crop covering ``1 / zoom`` of the
    photo's short side, resized to ``w x h``."""
    src = photo(name or str(rng.choice(names())))
    sh, sw = src.shape[:2]
    side = max(8, int(min(sh, sw) / max(zoom, 1.0)))
    cw, ch = min(sw, int(side * w / max(w, h)) or 1), min(sh, int(side * h / max(w, h)) or 1)
    x, y = int(rng.integers(0, sw - cw + 1)), int(rng.integers(0, sh - ch + 1))
    return cv2.resize(src[y : y + ch, x : x + cw], (w, h), interpolation=cv2.INTER_AREA)


def fabric(name: str, seed: int, zoom: float, colors: np.ndarray, w: int, h: int) -> np.ndarray:
    """A garment's photographic print: the same window of ``name`` for the same ``seed`` at any
    size (the window is chosen by ``seed``), grey photos mapped between two palette colours."""
    img = patch(np.random.default_rng(seed), w, h, zoom, name).astype(np.float32)
    if name in GREY:
        t = img.mean(axis=2, keepdims=True) / 255.0
        img = colors[0] * (1 - t) + colors[1] * t
    else:
        img = 0.75 * img + 0.25 * colors[0]
    return img
