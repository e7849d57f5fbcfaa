"""``livematch sample-data``: a synthetic dataset in exactly the contest layout (docs/FORMAT.md).

Two styles. ``varied`` (the default) plants no answer a system could learn from where things
stand: presenters anywhere across the frame (edges included, sometimes two people, the second
wearing clothes of no catalogue item), racks of other garments anywhere (also behind the
presenter), prints and backdrops cut from real photographs beside drawn patterns, lighting that
jumps, motion blur, hands and product cards as occluders, near twins (the same cut with another
print, the same print on another cut), items with a single photo, and clips that sell nothing.
``classic`` is the first generator: the presenter near the middle, racks at the sides.

What both exercise: per item a distinct garment (some items deliberately similar, some two-piece
sets); shop photos with varied size, scale, position, rotation, background, lighting, worn or shown
alone; H.264 clips of ~400 frames, portrait or landscape, where the sold garment shows up after a
delay, moves, scales, changes brightness and sharpness, is partly occluded by a hand, and appears
beside distractor garments of other items (``instance_id`` 0). Some clips sell an item with no
folder; some folders have no clip. Clip ids are random, unrelated to item ids. Deterministic for a
seed: every item and clip draws from its own generator, whatever the number of workers.
"""

from __future__ import annotations

import logging
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ground.io import atomic_write_bytes, atomic_write_text, write_json
from ground.progress import progress_bar
from ground.structures import make_instance_id
from livematch.sampledata import scenes, words
from livematch.sampledata.garments import (
    BOTTOM_KINDS,
    PATTERNS,
    VARIED_PATTERNS,
    GarmentSpec,
    random_spec,
    render_garment,
    similar_spec,
    twin_spec,
)
from livematch.sampledata.video import write_video

log = logging.getLogger(__name__)


@dataclass
class SampleConfig:
    """Size and look of a generated dataset."""

    items: int = 24
    videos: int = 20
    seed: int = 0
    width: int = 640  # clip frame size, landscape; portrait clips swap it
    height: int = 360
    frames: int = 400  # clip length, +- 2 %
    fps: float = 25.0
    portrait_fraction: float = 0.5
    unlisted_fraction: float = 0.15  # clips selling an item that has no folder
    similar_fraction: float = 0.35  # items made as a close variant of the previous item
    set_fraction: float = 0.2  # two-piece items (instance variants 01 and 02)
    photos: tuple[int, int] = (2, 5)  # photos per item, inclusive range
    annotation_step: int = 40  # annotated frames: 0, step, ..., annotation_last (docs/FORMAT.md)
    annotation_last: int = 360
    text: bool = True  # item titles and clip transcripts (words.py)
    silent_fraction: float = 0.15  # clips whose transcript says nothing about any garment
    workers: int = 2
    style: str = "varied"  # varied | classic (see the module docstring)
    empty_fraction: float = 0.1  # varied: clips whose presenter wears nothing of the catalogue
    two_people: float = 0.3  # varied: clips with a second presenter
    #: varied: items made as a near twin of the previous (other print / other cut)
    twin_fraction: float = 0.15

    @property
    def varied(self) -> bool:
        if self.style not in STYLES:
            raise ValueError(f"sample-data style {self.style!r}; choose one of {', '.join(STYLES)}")
        return self.style == "varied"

    @property
    def patterns(self) -> tuple[str, ...]:
        return VARIED_PATTERNS if self.varied else PATTERNS


STYLES = ("varied", "classic")


@dataclass
class Product:
    item_id: str
    specs: list[GarmentSpec]
    listed: bool

    def instance(self, k: int) -> int:
        return make_instance_id(self.item_id, k + 1)


@dataclass
class Plan:
    products: list[Product]
    #: (id, product or -1, distractors)
    videos: list[tuple[str, int, list[int]]] = field(default_factory=list)


def plan_dataset(cfg: SampleConfig) -> Plan:
    """Decide items, their garments, and which clip sells which item (no pixels yet)."""
    rng = np.random.default_rng([cfg.seed, 0])
    n_unlisted = (
        min(cfg.videos, max(1, round(cfg.unlisted_fraction * cfg.videos))) if cfg.videos else 0
    )
    n_total = cfg.items + n_unlisted
    ids = [f"{i:06d}" for i in rng.choice(np.arange(1, 100000), n_total, replace=False)]
    products = []
    for k, item_id in enumerate(ids):
        specs = _product_specs(rng, cfg, products[-1] if products else None)
        products.append(Product(item_id, specs, listed=k < cfg.items))
    sold = _sold(rng, cfg, products, n_unlisted)
    video_ids = _video_ids(rng, cfg.videos, set(ids))
    plan = Plan(products)
    for vid, p in zip(rng.permutation(sorted(video_ids)), rng.permutation(sold)):
        others = [i for i in range(n_total) if i != p]
        k = int(rng.integers(0, 5 if cfg.varied else 3))
        plan.videos.append(
            (
                str(vid),
                int(p),
                [int(i) for i in rng.choice(others, min(k, len(others)), replace=False)],
            )
        )
    return plan


def _product_specs(
    rng: np.random.Generator, cfg: SampleConfig, previous: Product | None
) -> list[GarmentSpec]:
    """The garments of the next item: a close variant or near twin of ``previous``, a two-piece
    set, or one random garment."""
    patterns = cfg.patterns
    if previous and rng.random() < cfg.similar_fraction:
        base = previous.specs[0]
        return [similar_spec(base, rng)] + [similar_spec(s, rng) for s in previous.specs[1:]]
    if cfg.varied and previous and rng.random() < cfg.twin_fraction:
        return [twin_spec(s, rng, patterns) for s in previous.specs]
    if rng.random() < cfg.set_fraction:
        return [
            random_spec(rng, ("top", "coat"), patterns),
            random_spec(rng, BOTTOM_KINDS, patterns),
        ]
    return [random_spec(rng, patterns=patterns)]


def _sold(
    rng: np.random.Generator, cfg: SampleConfig, products: list[Product], n_unlisted: int
) -> list[int]:
    """Per clip the index of the product it sells (-1: nothing), before shuffling: listed items
    in a random order, repeated as needed, then the unlisted ones, then the empty clips."""
    order = rng.permutation(len(products))
    listed = [int(i) for i in order if products[i].listed]
    unlisted = [int(i) for i in order if not products[i].listed]
    n_empty = (
        min(cfg.videos - n_unlisted, round(cfg.empty_fraction * cfg.videos)) if cfg.varied else 0
    )
    n_listed_videos = cfg.videos - n_unlisted - n_empty
    return (
        (listed * (n_listed_videos // max(1, len(listed)) + 1))[:n_listed_videos]
        + unlisted
        + [-1] * n_empty
    )


def _video_ids(rng: np.random.Generator, n: int, taken: set[str]) -> set[str]:
    """``n`` random six-digit clip ids, none equal to an item id."""
    video_ids = set()
    while len(video_ids) < n:
        vid = f"{int(rng.integers(0, 1_000_000)):06d}"
        if vid not in taken:
            video_ids.add(vid)
            taken.add(vid)
    return video_ids


def _annotation(spec: GarmentSpec, box, instance_id: int, viewpoint: int, display: int) -> dict:
    return {
        "label": spec.label,
        "viewpoint": viewpoint,
        "display": display,
        "instance_id": instance_id,
        "box": [int(v) for v in box],
    }


def render_photo(
    product: Product, rng: np.random.Generator, varied: bool = False
) -> tuple[np.ndarray, list[dict]]:
    """One shop photo of ``product``: worn by a presenter or shown alone, with its annotations."""
    width, height = [(480, 640), (600, 600), (640, 480), (540, 720), (600, 800)][rng.integers(5)]
    img = scenes.background(rng, width, height, scenes.BACKDROPS["varied" if varied else "classic"])
    worn = rng.random() < 0.5
    viewpoint = int(rng.integers(0, 4))
    specs, ids = list(product.specs), [product.instance(k) for k in range(len(product.specs))]
    if worn and len(specs) == 1 and specs[0].kind != "dress" and rng.random() < 0.5:
        kinds = ("top",) if specs[0].kind in BOTTOM_KINDS else BOTTOM_KINDS
        specs.append(random_spec(rng, kinds))  # the rest of the outfit: no counterpart
        ids.append(0)
    angle = float(rng.uniform(-10, 10))
    anns = []
    if worn:
        figure = height * rng.uniform(0.6, 0.85)
        sx, sy = (
            width * rng.uniform(*((0.25, 0.75) if varied else (0.4, 0.6))),
            height * rng.uniform(0.12, 0.22),
        )
        scenes.draw_presenter(img, sx, sy, figure, scenes.SKIN[rng.integers(4)], (40, 30, 25))
        placements = list(zip(specs, ids, scenes.figure_slots(specs, sx, sy, figure)))
        placements.sort(key=lambda p: p[0].kind not in BOTTOM_KINDS)  # bottoms under tops
    else:
        placements = []
        for k, (spec, iid) in enumerate(zip(specs, ids)):
            h = height * rng.uniform(0.5, 0.85) / (1 + 0.3 * (len(specs) > 1))
            cx = width * ((k + 1) / (len(specs) + 1) + rng.uniform(-0.08, 0.08))
            placements.append((spec, iid, ((cx, height * rng.uniform(0.42, 0.58)), h)))
    for spec, iid, (center, h) in placements:
        box, fraction = scenes.paste(img, render_garment(spec, int(h)), center, h, angle)
        if scenes.annotatable(box, fraction):
            anns.append(_annotation(spec, box, iid, viewpoint, int(not worn)))
    gain = rng.uniform(0.8, 1.2)
    img = scenes.light(img, gain, rng.uniform(0.92, 1.08, 3), blur=float(rng.choice([0, 0, 0.8])))
    return img, anns


def write_item(root: Path, product: Product, seed: int, index: int, cfg: SampleConfig) -> int:
    """Write every photo (JPEG) and photo annotation of one listed item; returns the photo count."""
    rng = np.random.default_rng([seed, 1, index])
    low = 1 if cfg.varied else cfg.photos[0]  # varied: some items have a single photo
    n = int(rng.integers(low, cfg.photos[1] + 1))
    for k in range(n):
        img, anns = render_photo(product, rng, cfg.varied)
        ok, jpg = cv2.imencode(
            ".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(85, 96))]
        )
        atomic_write_bytes(root / "image" / product.item_id / f"{k}.jpg", jpg.tobytes())
        write_json(
            root / "image_annotation" / product.item_id / f"{k}.json",
            {"item_id": product.item_id, "img_name": f"{k}.jpg", "annotations": anns},
        )
    return n


def write_clip(
    root: Path,
    cfg: SampleConfig,
    index: int,
    video_id: str,
    product: Product | None,
    distractors: list[Product],
) -> int:
    """Render, encode and annotate one clip (``product`` ``None``: it sells nothing listed or
    unlisted); returns its frame count."""
    from livematch.sampledata.clip import ClipRenderer  # keeps worker start-up light

    rng = np.random.default_rng([cfg.seed, 2, index])
    renderer = ClipRenderer(cfg, product, distractors, rng)
    n = write_video(root / "video" / f"{video_id}.mp4", renderer.frames(), fps=cfg.fps)
    frames = [
        {"frame_index": i, "annotations": anns} for i, anns in sorted(renderer.annotations.items())
    ]
    write_json(
        root / "video_annotation" / f"{video_id}.json", {"video_id": video_id, "frames": frames}
    )
    return n


def write_words(root: Path, cfg: SampleConfig, plan: Plan) -> None:
    """Each listed item's title (``image_text/``) and each clip's transcript (``video_text/``),
    from random streams of their own: the pictures are the same with or without words."""
    for i, product in enumerate(plan.products):
        if product.listed:
            title = words.title(product.specs, np.random.default_rng([cfg.seed, 3, i]))
            atomic_write_text(root / "image_text" / f"{product.item_id}.txt", title + "\n")
    for k, (video_id, p, others) in enumerate(plan.videos):
        said = words.transcript(
            plan.products[p].specs if p >= 0 else None,
            [s for d in others for s in plan.products[d].specs],
            np.random.default_rng([cfg.seed, 4, k]),
            cfg.silent_fraction,
        )
        atomic_write_text(root / "video_text" / f"{video_id}.txt", said + "\n")


def generate_dataset(
    out, cfg: SampleConfig | None = None, overwrite: bool = False, progress: bool = True
) -> Plan:
    """Write a sample dataset to ``out`` (created; must be empty unless ``overwrite``)."""
    cfg = cfg or SampleConfig()
    root = Path(out)
    if root.exists() and any(root.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{root}: folder is not empty; pass --overwrite to replace it")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    plan = plan_dataset(cfg)
    for i, product in enumerate(plan.products):
        if product.listed:
            write_item(root, product, cfg.seed, i, cfg)
    jobs = [
        (root, cfg, k, vid, plan.products[p] if p >= 0 else None, [plan.products[d] for d in ds])
        for k, (vid, p, ds) in enumerate(plan.videos)
    ]
    bar = progress_bar(total=len(jobs), desc="clips", unit="clip", show=progress)
    if cfg.workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(cfg.workers) as pool:
            for _ in pool.map(write_clip, *zip(*jobs)):
                bar.update()
    else:
        for job in jobs:
            write_clip(*job)
            bar.update()
    bar.close()
    if cfg.text:
        write_words(root, cfg, plan)
    return plan
