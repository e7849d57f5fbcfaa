"""Synthetic garments: a category shape filled with a pattern, shaded, as an RGBA sprite.

A garment is a :class:`GarmentSpec` (shape + pattern + palette); :func:`render_garment` draws it
at any height. Colours come from one shared palette, so no colour alone tells items apart: a
model has to look at shape and pattern (stripe period and angle, dot size, motif layout, print).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

# (label, kind, sleeve 0/1/2, canvas width / height)
CATEGORIES = (
    ("短袖上衣", "top", 1, 1.15),
    ("长袖上衣", "top", 2, 1.35),
    ("背心上衣", "top", 0, 0.8),
    ("短袖连衣裙", "dress", 1, 0.85),
    ("长袖连衣裙", "dress", 2, 1.0),
    ("无袖连衣裙", "dress", 0, 0.65),
    ("短裙", "skirt", 0, 1.0),
    ("长半身裙", "skirt", 0, 0.7),
    ("短裤", "shorts", 0, 1.1),
    ("长裤", "trousers", 0, 0.55),
    ("长外套", "coat", 2, 0.95),
    ("短外套", "coat", 2, 1.3),
)
BOTTOM_KINDS = ("skirt", "shorts", "trousers")
PATTERNS = ("stripes", "checks", "dots", "chevron", "blocks", "motif", "knit", "print")
# The varied style adds prints cut from real photographs (:mod:`livematch.sampledata.textures`).
VARIED_PATTERNS = PATTERNS + ("photo", "photo")
# One palette shared by every item: colours repeat across items, never identify one.
PALETTE = np.array(
    [
        (200, 40, 50),
        (240, 200, 60),
        (40, 80, 160),
        (30, 30, 35),
        (235, 235, 230),
        (120, 170, 90),
        (230, 130, 160),
        (150, 100, 60),
        (90, 180, 200),
        (110, 60, 140),
        (240, 140, 50),
        (160, 160, 165),
    ],
    dtype=np.uint8,
)


@dataclass(frozen=True)
class GarmentSpec:
    """Everything that defines one garment's look; two specs differ in at least one field."""

    category: int  # index into CATEGORIES
    length: float  # hem position, fraction of the canvas height
    width: float  # body half-width, fraction of the canvas width
    flare: float  # extra hem half-width, fraction of the canvas width
    pattern: str
    colors: tuple[int, ...]  # indices into PALETTE, the first is the base colour
    period: float  # pattern period, fraction of the canvas height
    angle: float  # pattern angle in degrees
    motif_seed: int = 0
    extras: tuple[str, ...] = field(default_factory=tuple)  # "collar", "belt", "pocket", "hem"
    texture: str = ""  # pattern "photo": the photograph its print is cut from

    @property
    def label(self) -> str:
        return CATEGORIES[self.category][0]

    @property
    def kind(self) -> str:
        return CATEGORIES[self.category][1]

    @property
    def aspect(self) -> float:
        return CATEGORIES[self.category][3]


def random_spec(rng: np.random.Generator, kinds=None, patterns=PATTERNS) -> GarmentSpec:
    """A random garment, optionally restricted to some kinds (``"top"``, ``"skirt"``, ...)."""
    choices = [i for i, c in enumerate(CATEGORIES) if kinds is None or c[1] in kinds]
    n_colors = int(rng.integers(2, 4))
    spec = GarmentSpec(
        category=int(rng.choice(choices)),
        length=float(rng.uniform(0.88, 0.98)),
        width=float(rng.uniform(0.2, 0.3)),
        flare=float(rng.uniform(0.0, 0.12)),
        pattern=str(rng.choice(patterns)),
        colors=tuple(int(c) for c in rng.choice(len(PALETTE), n_colors, replace=False)),
        period=float(rng.uniform(0.06, 0.2)),
        angle=float(rng.choice([0, 90, 45, -45, 30, -60])),
        motif_seed=int(rng.integers(1 << 30)),
        extras=tuple(e for e in ("collar", "belt", "pocket", "hem") if rng.random() < 0.3),
    )
    if spec.pattern == "photo":
        from livematch.sampledata.textures import names

        spec = replace(spec, texture=str(rng.choice(names())))
    return spec


def twin_spec(spec: GarmentSpec, rng: np.random.Generator, patterns=VARIED_PATTERNS) -> GarmentSpec:
    """A near twin that differs in one whole aspect: the same cut with another print, or the
    same print (pattern, colours, scale, motif) on another cut."""
    if rng.random() < 0.5:
        other = random_spec(rng, patterns=patterns)
        return replace(
            other,
            category=spec.category,
            length=spec.length,
            width=spec.width,
            flare=spec.flare,
            extras=spec.extras,
        )
    category = int(rng.choice([i for i in range(len(CATEGORIES)) if i != spec.category]))
    return replace(
        spec,
        category=category,
        length=float(rng.uniform(0.88, 0.98)),
        width=float(rng.uniform(0.2, 0.3)),
        flare=float(rng.uniform(0.0, 0.12)),
    )


def similar_spec(spec: GarmentSpec, rng: np.random.Generator) -> GarmentSpec:
    """A deliberately close variant: same category, palette and pattern family; one or two
    pattern parameters changed enough to be told apart by a careful look."""
    first = str(rng.choice(["period", "angle", "motif"]))
    change = {
        first,
        str(rng.choice([c for c in ("period", "angle", "motif", "extras") if c != first])),
    }
    out = spec
    if "period" in change:
        out = replace(out, period=float(np.clip(spec.period * rng.choice([0.55, 1.8]), 0.04, 0.3)))
    if "angle" in change:
        out = replace(out, angle=float((spec.angle + rng.choice([45, 90])) % 180))
    if "motif" in change:
        out = replace(out, motif_seed=int(rng.integers(1 << 30)), colors=spec.colors[::-1])
    if "extras" in change:
        out = replace(
            out,
            extras=tuple(
                e
                for e in ("collar", "belt", "pocket", "hem")
                if (e in spec.extras) != (rng.random() < 0.6)
            ),
        )
    return out


def _outline(spec: GarmentSpec, w: int, h: int) -> list[np.ndarray]:
    """Polygons (pixel coordinates) of the garment's silhouette on a ``w x h`` canvas."""
    kind = spec.kind
    cx, bw, fl, hem = w / 2, spec.width * w, spec.flare * w, spec.length * h
    if kind in ("top", "dress", "coat"):
        polys = _upper_outline(spec, w, h, cx, bw, fl, hem)
    elif kind == "skirt":
        polys = [
            [
                (cx - bw, 0.04 * h),
                (cx + bw, 0.04 * h),
                (cx + bw + fl + 0.12 * w, hem),
                (cx - bw - fl - 0.12 * w, hem),
            ]
        ]
    else:  # trousers, shorts
        polys = [_legs_outline(w, h, cx, bw, fl, hem)]
    return [np.round(np.asarray(p, dtype=np.float64)).astype(np.int32) for p in polys]


def _upper_outline(
    spec: GarmentSpec, w: int, h: int, cx: float, bw: float, fl: float, hem: float
) -> list[list[tuple[float, float]]]:
    """Body and sleeve polygons of a top, dress or coat (float pixel coordinates)."""
    kind, sleeve = spec.kind, CATEGORIES[spec.category][2]
    top = 0.06 * h
    waist = 0.38 * h if kind == "dress" else hem
    neck = 0.09 * w
    body = [
        (cx - bw, top),
        (cx - neck, top - 0.03 * h),
        (cx, top + 0.07 * h),
        (cx + neck, top - 0.03 * h),
        (cx + bw, top),
        (cx + bw * 0.95, waist),
    ]
    if kind == "dress":
        body += [(cx + bw + fl + 0.1 * w, hem), (cx - bw - fl - 0.1 * w, hem)]
    else:
        body += [(cx + bw + fl * 0.5, hem), (cx - bw - fl * 0.5, hem)]
    body += [(cx - bw * 0.95, waist)]
    polys = [body]
    if sleeve:
        reach = (0.22 if sleeve == 1 else 0.62) * h
        out = min(0.16 * w if sleeve == 1 else 0.12 * w, cx - bw - 2)
        for s in (-1, 1):
            polys.append(
                [
                    (cx + s * bw, top),
                    (cx + s * (bw + out + 0.04 * w), top + reach),
                    (cx + s * (bw + out - 0.08 * w), top + reach + 0.05 * h),
                    (cx + s * bw, top + 0.28 * h),
                ]
            )
    return polys


def _legs_outline(
    w: int, h: int, cx: float, bw: float, fl: float, hem: float
) -> list[tuple[float, float]]:
    """The polygon of trousers or shorts: waistband, two legs split by a crotch gap."""
    gap = 0.03 * w
    return [
        (cx - bw - 0.05 * w, 0.03 * h),
        (cx + bw + 0.05 * w, 0.03 * h),
        (cx + bw + fl + 0.05 * w, hem),
        (cx + gap, hem),
        (cx, 0.3 * h),
        (cx - gap, hem),
        (cx - bw - fl - 0.05 * w, hem),
    ]


def _pattern(spec: GarmentSpec, w: int, h: int) -> np.ndarray:
    """The garment's fabric as ``(h, w, 3)`` uint8, pattern scale relative to ``h``."""
    colors = PALETTE[list(spec.colors)].astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) / h
    theta = np.deg2rad(spec.angle)
    u = xx * np.cos(theta) + yy * np.sin(theta)
    v = -xx * np.sin(theta) + yy * np.cos(theta)
    p = spec.period
    base = np.broadcast_to(colors[0], (h, w, 3)).copy()
    second, third = colors[1], colors[-1]
    if spec.pattern == "stripes":
        band = (u / p) % 1.0
        base[band < 0.45] = second
        base[(band > 0.7) & (band < 0.78)] = third
    elif spec.pattern == "checks":
        a, b = ((u / p) % 1.0) < 0.5, ((v / p) % 1.0) < 0.5
        base[a] = 0.5 * base[a] + 0.5 * second
        base[b] = 0.55 * base[b] + 0.45 * third
    elif spec.pattern == "dots":
        du, dv = (u / p) % 1.0 - 0.5, (v / p + 0.5 * (np.floor(u / p) % 2)) % 1.0 - 0.5
        base[du**2 + dv**2 < 0.07] = second
    elif spec.pattern == "chevron":
        zig = v + 0.5 * p * np.abs(((u / p) % 2.0) - 1.0)
        base[((zig / p) % 1.0) < 0.4] = second
    elif spec.pattern == "photo":
        from livematch.sampledata.textures import fabric

        base = fabric(
            spec.texture, spec.motif_seed, float(np.clip(0.15 / p, 1.0, 3.0)), colors, w, h
        )
    elif spec.pattern == "blocks":
        base[u > np.median(u)] = second
        base[(v > np.quantile(v, 0.7))] = third
    else:
        _draw_motifs(base, spec, colors, w, h)
    return base.astype(np.uint8)


def _draw_motifs(base: np.ndarray, spec: GarmentSpec, colors: np.ndarray, w: int, h: int) -> None:
    """Knit (fine lines), scattered motifs (flowers / ellipses) or one large central print."""
    rng = np.random.default_rng(spec.motif_seed)
    if spec.pattern == "knit":
        step = max(2, int(spec.period * h / 6))
        base[::step] = 0.8 * base[::step]
        return
    if spec.pattern == "print":
        c = (int(w / 2), int(0.42 * h))
        r = int(0.16 * h)
        pts = [
            (c[0] + r * np.cos(a), c[1] + r * np.sin(a))
            for a in np.linspace(0, 2 * np.pi, int(rng.integers(3, 7)), endpoint=False)
            + rng.uniform(0, 1)
        ]
        cv2.fillPoly(base, [np.round(pts).astype(np.int32)], tuple(float(x) for x in colors[1]))
        cv2.circle(base, c, int(r * 0.45), tuple(float(x) for x in colors[-1]), -1)
        return
    count = int(np.clip(3.0 / spec.period, 8, 60))
    for _ in range(count):
        x, y = int(rng.uniform(0, w)), int(rng.uniform(0, h))
        size = max(2, int(rng.uniform(0.3, 0.6) * spec.period * h))
        color = tuple(float(v) for v in colors[1 + rng.integers(len(colors) - 1)])
        for k in range(5):
            a = k * 2 * np.pi / 5 + rng.uniform(0, 1)
            cv2.ellipse(
                base,
                (int(x + size * 0.6 * np.cos(a)), int(y + size * 0.6 * np.sin(a))),
                (max(1, size // 2), max(1, size // 4)),
                np.rad2deg(a),
                0,
                360,
                color,
                -1,
            )
        cv2.circle(base, (x, y), max(1, size // 4), tuple(float(v) for v in colors[0] * 0.6), -1)


def _shade(rgb: np.ndarray, mask: np.ndarray, spec: GarmentSpec) -> np.ndarray:
    """Cloth-like shading: darker towards the sides, soft vertical folds, a darker outline."""
    h, w = mask.shape
    x = np.linspace(-1, 1, w, dtype=np.float32)
    shade = 1.0 - 0.22 * x**2
    rng = np.random.default_rng(spec.motif_seed + 1)
    for fx in rng.uniform(-0.6, 0.6, 3):
        shade = shade - 0.08 * np.exp(-(((x - fx) / 0.04) ** 2))
    out = rgb.astype(np.float32) * shade[None, :, None]
    edge = cv2.morphologyEx(mask, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    out[edge] *= 0.55
    return np.clip(out, 0, 255).astype(np.uint8)


def _draw_extras(rgb: np.ndarray, spec: GarmentSpec, w: int, h: int) -> None:
    dark = tuple(float(v) * 0.5 for v in PALETTE[spec.colors[0]])
    accent = tuple(float(v) for v in PALETTE[spec.colors[-1]])
    cx = w // 2
    if "collar" in spec.extras:
        cv2.ellipse(rgb, (cx, int(0.06 * h)), (int(0.1 * w), int(0.06 * h)), 0, 0, 180, accent, -1)
    if "belt" in spec.extras:
        y = int(0.38 * h) if spec.kind == "dress" else int(0.07 * h)
        cv2.rectangle(rgb, (0, y - max(2, h // 60)), (w, y + max(2, h // 60)), dark, -1)
    if "pocket" in spec.extras:
        cv2.rectangle(
            rgb, (cx + int(0.05 * w), int(0.5 * h)), (cx + int(0.16 * w), int(0.62 * h)), dark, 2
        )
    if "hem" in spec.extras:
        y = int(spec.length * h)
        cv2.rectangle(rgb, (0, y - max(3, h // 30)), (w, y), accent, -1)
    if spec.kind == "coat":
        cv2.line(rgb, (cx, int(0.13 * h)), (cx, h), dark, max(1, h // 90))


def render_garment(spec: GarmentSpec, height: int) -> np.ndarray:
    """The garment as an ``(height, round(height * aspect), 4)`` RGBA uint8 sprite."""
    h = int(height)
    w = max(8, int(round(h * spec.aspect)))
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, _outline(spec, w, h), 255)
    rgb = np.ascontiguousarray(_pattern(spec, w, h))
    _draw_extras(rgb, spec, w, h)
    rgb = _shade(rgb, mask, spec)
    return np.dstack([rgb, mask])
