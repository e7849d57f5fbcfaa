"""One synthetic live-stream clip: a presenter wearing the sold outfit, distractor garments on a
rack, camera pan, lighting drift, blur bursts and a hand crossing the view. The varied style
(:mod:`livematch.sampledata.generate`) puts presenters and racks anywhere, sometimes adds a
second presenter, product cards, motion blur and lighting jumps."""

from __future__ import annotations

import numpy as np

from livematch.sampledata import scenes
from livematch.sampledata.garments import BOTTOM_KINDS, random_spec, render_garment


def _wave(rng: np.random.Generator, amplitude: float, period=(60, 200)):
    """A smooth periodic signal ``t -> amplitude * sin(2 pi t / T + phase)``."""
    T, phase = rng.uniform(*period), rng.uniform(0, 2 * np.pi)
    return lambda t: amplitude * np.sin(2 * np.pi * t / T + phase)


def _segments(
    rng: np.random.Generator, n: int, count: int, length=(15, 50)
) -> list[tuple[int, int]]:
    starts = rng.uniform(0, n, count).astype(int)
    return [(int(s), int(s + rng.integers(*length))) for s in starts]


class ClipRenderer:
    """Renders frames on demand and records the annotations of every ``annotation_step``-th
    frame."""

    MARGIN = 40

    def __init__(self, cfg, product, distractors, rng: np.random.Generator):
        self.step, self.last_annotated = cfg.annotation_step, cfg.annotation_last
        portrait = rng.random() < cfg.portrait_fraction
        self.w, self.h = (cfg.height, cfg.width) if portrait else (cfg.width, cfg.height)
        self.n = int(round(cfg.frames * rng.uniform(0.98, 1.02)))
        varied = cfg.varied
        self.bg = scenes.background(
            rng, self.w + 2 * self.MARGIN, self.h + 2 * self.MARGIN, scenes.BACKDROPS[cfg.style]
        )
        self.pan_x, self.pan_y = (
            _wave(rng, 0.8 * self.MARGIN, (150, 400)),
            _wave(rng, 0.5 * self.MARGIN, (150, 400)),
        )
        self.figure = self.h * (rng.uniform(0.5, 0.7) if portrait else rng.uniform(0.78, 1.0))
        self.base = (
            self.w * rng.uniform(*((0.08, 0.92) if varied else (0.38, 0.62))),
            self.h * rng.uniform(0.1, 0.2),
        )
        self.delay, self.side = int(rng.uniform(0, 0.27 * self.n)), rng.choice([-1, 1])
        self.sway, self.bob = (
            _wave(rng, self.w * rng.uniform(0.03, 0.12)),
            _wave(rng, self.h * 0.02),
        )
        self.zoom, self.zoom_at = _wave(rng, 0.1), rng.uniform(0.3 * self.n, self.n)
        self.turn = _wave(rng, 5.0)
        self.gain = _wave(rng, rng.uniform(0.1, 0.25), (80, 250))
        self.cast = rng.uniform(0.88, 1.12, 3)
        self.blurs = [(a, b, float(rng.uniform(1.0, 2.5))) for a, b in _segments(rng, self.n, 3)]
        self.hands = [(a, b, rng.uniform(0, 1, 4)) for a, b in _segments(rng, self.n, 3, (20, 60))]
        self.skin, self.hair = scenes.SKIN[rng.integers(4)], (40, 30, 25)
        self.viewpoint = int(rng.integers(0, 4))
        self.outfit = self._outfit(product, rng)
        self.rack = self._rack(distractors, rng, varied)
        self.annotations: dict[int, list[dict]] = {}
        self.second, self.cards, self.streaks, self.lights = None, [], [], (self.n + 1, 1.0)
        if varied:
            self._vary(cfg, rng)

    def _vary(self, cfg, rng):
        """The varied style's extras: a second presenter (clothes of no item), product cards held
        up, motion-blur streaks, a lighting jump."""
        if rng.random() < cfg.two_people:
            x = (self.base[0] + self.w * rng.uniform(0.3, 0.6)) % self.w
            outfit = self._outfit(None, rng)
            self.second = (
                x,
                self.base[1] + self.h * rng.uniform(-0.05, 0.05),
                rng.uniform(0.85, 1.1),
                outfit,
                _wave(rng, self.w * rng.uniform(0.02, 0.08)),
            )
        self.cards = [
            (a, b, rng.uniform(0, 1, 4), int(rng.integers(len(scenes.SKIN))))
            for a, b in _segments(rng, self.n, int(rng.integers(0, 3)), (30, 90))
        ]
        self.streaks = [
            (a, b, float(rng.uniform(6, 16)), float(rng.uniform(0, 180)))
            for a, b in _segments(rng, self.n, int(rng.integers(0, 3)), (8, 30))
        ]
        if rng.random() < 0.5:
            self.lights = (int(rng.uniform(0, self.n)), float(rng.choice([0.6, 0.75, 1.25, 1.4])))

    def _outfit(self, product, rng):
        """The garments a presenter wears, bottoms first; ``product`` ``None``: one of no item."""
        if product is None:
            specs, ids = [random_spec(rng, ("top", "coat", "dress"))], [0]
        else:
            specs = list(product.specs)
            ids = [product.instance(k) for k in range(len(specs))]
        if len(specs) == 1 and specs[0].kind != "dress" and rng.random() < 0.6:
            specs.append(
                random_spec(rng, ("top",) if specs[0].kind in BOTTOM_KINDS else BOTTOM_KINDS)
            )
            ids.append(0)
        order = sorted(range(len(specs)), key=lambda k: specs[k].kind not in BOTTOM_KINDS)
        sprite_h = int(1.4 * self.figure * max(scenes.FIGURE_HEIGHT[s.kind] for s in specs))
        return [(specs[k], ids[k], render_garment(specs[k], sprite_h)) for k in order]

    def _rack(self, distractors, rng, varied: bool):
        rack = []
        for k, product in enumerate(distractors):
            spec = product.specs[0]
            if varied:
                x = self.w * rng.uniform(0.05, 0.95)
            else:
                x = self.w * (0.13 if k % 2 == 0 else 0.87) + rng.uniform(-0.05, 0.05) * self.w
            height = self.h * rng.uniform(0.3, 0.5)
            start = int(rng.uniform(0, self.n * 0.6)) if rng.random() < 0.5 else 0
            rack.append(
                (
                    spec,
                    (x, self.h * rng.uniform(0.35, 0.6)),
                    height,
                    start,
                    render_garment(spec, int(height)),
                )
            )
        return rack

    def _presenter_at(self, t: int):
        entered = np.clip((t - self.delay) / 20.0, 0.0, 1.0)
        x = self.base[0] + self.sway(t) + self.side * (1 - entered) * self.w * 0.9
        y = self.base[1] + self.bob(t)
        scale = 1.0 + self.zoom(t) + 0.3 * np.exp(-(((t - self.zoom_at) / 30.0) ** 2))
        return x, y, self.figure * scale

    def render(self, t: int) -> tuple[np.ndarray, list[dict]]:
        """Frame ``t`` as RGB uint8 and the annotations of its visible garments."""
        ox, oy = int(self.MARGIN + self.pan_x(t)), int(self.MARGIN + self.pan_y(t))
        img = self.bg[oy : oy + self.h, ox : ox + self.w].copy()
        anns = []
        self._hang_rack(img, anns, t)
        x, y, figure = self._presenter_at(t)
        if self.second is not None:
            sx, sy, size, outfit, sway = self.second
            self._dress(img, anns, outfit, sx + sway(t), sy, self.figure * size, -self.turn(t))
        if t >= self.delay:
            self._dress(img, anns, self.outfit, x, y, figure, self.turn(t))
        self._occlude(img, t, figure)
        blur = max([s for a, b, s in self.blurs if a <= t < b], default=0.0)
        jump = self.lights[1] if t >= self.lights[0] else 1.0
        img = scenes.light(img, (1.0 + self.gain(t)) * jump, self.cast, blur)
        for a, b, length, angle in self.streaks:
            if a <= t < b:
                img = scenes.motion_blur(img, length, angle)
        return img, [
            {
                "label": s.label,
                "viewpoint": self.viewpoint,
                "display": d,
                "instance_id": iid,
                "box": box,
            }
            for s, box, iid, d in anns
        ]

    def _hang_rack(self, img, anns, t: int) -> None:
        """Draw the rack garments shown by frame ``t``; record the visible ones."""
        for spec, center, height, start, sprite in self.rack:
            if t >= start:
                box, frac = scenes.paste(
                    img, sprite, (center[0], center[1] + self.bob(t) * 0.3), height
                )
                if scenes.annotatable(box, frac):
                    anns.append((spec, box, 0, 1))

    def _occlude(self, img, t: int, figure: float) -> None:
        """Draw the product cards and hands crossing the view at frame ``t``."""
        for a, b, (cx, cy, cx2, cy2), colour in self.cards:
            if a <= t < b:
                f = (t - a) / max(1, b - a)
                scenes.draw_card(
                    img,
                    self.w * ((1 - f) * cx + f * cx2),
                    self.h * (0.3 + 0.5 * ((1 - f) * cy + f * cy2)),
                    0.2 * figure,
                    scenes.SKIN[colour][::-1],
                    20 * (cx - 0.5),
                )
        for a, b, (hx, hy, hx2, hy2) in self.hands:
            if a <= t < b:
                f = (t - a) / max(1, b - a)
                px = self.w * ((1 - f) * hx + f * hx2)
                py = self.h * (0.3 + 0.5 * ((1 - f) * hy + f * hy2))
                scenes.draw_hand(img, px, py, 0.07 * figure, self.skin, 180 * hx)

    def _dress(self, img, anns, outfit, x, y, figure, turn) -> None:
        """Draw a presenter wearing ``outfit`` at shoulders ``(x, y)``; record the visible
        garments."""
        scenes.draw_presenter(img, x, y, figure, self.skin, self.hair)
        slots = scenes.figure_slots([s for s, _, _ in outfit], x, y, figure)
        for (spec, iid, sprite), (center, height) in zip(outfit, slots):
            box, frac = scenes.paste(img, sprite, center, height, turn)
            if scenes.annotatable(box, frac):
                anns.append((spec, box, iid, 0))

    def frames(self):
        """Yield every frame, keeping the annotations of frames on the annotation grid."""
        for t in range(self.n):
            img, anns = self.render(t)
            if t % self.step == 0 and t <= self.last_annotated:
                self.annotations[t] = anns
            yield img
