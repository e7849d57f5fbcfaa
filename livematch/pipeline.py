"""``livematch run``: dataset -> detector -> crops -> embedder -> features -> matcher ->
result.json, ``report.html`` and ``summary.json``. Per-item and per-clip results are cached under
``OUT/cache`` (:mod:`livematch.cache`): a killed run resumes, new clips or items are the only
work of a second run, a changed model recomputes.

Work units are catalogue items (their photos) and clips (their sampled frames). DataLoader
workers decode them while the models compute; the images of several units are gathered into one
pass of the detector (batched by image shape) and one pass of the embedder (batched by aspect
bucket), and the crop rows are split back per unit. A unit's result does not depend on what it
was batched with (up to float rounding: 1e-4 px on a box), so resuming, adding clips and
sharding give the same result.json.

Under ``torchrun`` each rank takes every ``world``-th unit of the sorted list, writes its results to
the shared cache, and rank 0 merges the caches, matches and writes the outputs (the output folder
must be on a file system every rank sees). A photo or clip that cannot be read is skipped with a
warning, named in ``summary.json``; the rest of the run goes on. Outputs are written atomically.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from ground import media
from ground.boxes import kept_with_floor, kept_worn
from ground.dataset import load_dataset, read_clip_frames, read_item_photos
from ground.errors import ConfigError, LiveMatchError
from ground.io import atomic_write_text, write_json
from ground.memory import trim_heap
from ground.progress import progress_bar
from ground.summary import RunSummary
from livematch.cache import ResultCache, file_digest, model_key
from livematch.config import LiveMatchConfig, to_yaml
from livematch.report import write_report
from matcher.crops import CropTable, clean_features
from matcher.rerank import search_store
from matcher.result import to_details, to_result, write_outputs
from matcher.store import FeatureStore, save_store, store_text
from matcher.voting import MatchResult, match_catalogue

log = logging.getLogger(__name__)
PARTIAL = (
    ":partial"  # cache key suffix of an item with unreadable photos: merged now, retried next run
)


@dataclass
class RunReport:
    """What a run did; ``result`` is ``None`` on torchrun ranks other than 0 (rank 0 matches)."""

    result: MatchResult | None
    summary: RunSummary
    seconds: dict[str, float] = field(default_factory=dict)
    score: dict | None = None


class Stopwatch:
    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def __call__(self, stage: str):
        start = time.perf_counter()
        yield
        self.seconds[stage] += time.perf_counter() - start


class Models:
    """The detector and the embedder(s), and the one step that turns images into crop rows
    (:meth:`crops`); ``livematch run`` and the Python API (:mod:`livematch.api`) share it."""

    def __init__(
        self, detector_ckpt, embedder_ckpts, cfg: LiveMatchConfig, clock: Stopwatch, device
    ):
        from detector.checkpoint import load_detector
        from detector.infer import frame_region, kept_labels, trusted_worn
        from embedder.checkpoint import load_ensemble

        self.detector, det_cfg = load_detector(detector_ckpt, device)
        self.labels = dict(zip(("items", "clips"), kept_labels(det_cfg.model, cfg.detector.infer)))
        self.trusted = trusted_worn(det_cfg.model, cfg.detector.infer.frame_trust_worn)
        self.regions = {"items": None, "clips": frame_region(cfg.detector.infer)}
        self.embedders, _, self.scales = load_ensemble(
            embedder_ckpts, cfg.embedder.extract.scale, device
        )
        self.worn = None  # the worn scorer (frames only), when the config names one
        if cfg.detector.infer.frame_min_worn > 0 and not cfg.weights.worn:
            raise ConfigError(
                f"detector.infer.frame_min_worn is {cfg.detector.infer.frame_min_worn} but the "
                "config names no worn scorer: set weights.worn (the weights/worn folder livematch "
                "fit writes) or frame_min_worn=0"
            )
        if cfg.weights.worn:
            from detector.worn import load_worn

            self.worn = load_worn(cfg.weights.worn, device)
        self.cfg, self.clock = cfg, clock
        self.weights = [detector_ckpt, *embedder_ckpts] + ([cfg.weights.worn] if self.worn else [])

    def key(self) -> str:
        """What the cached rows depend on besides the media: weights and crop / feature settings."""
        c = self.cfg
        return model_key(
            self.weights,
            {
                "infer": c.detector.infer,
                "margin": c.embedder.data.crop_margin,
                "scales": self.scales,
                "buckets": c.embedder.data.aspect_buckets,
                "extract": c.embedder.extract,
                "frames": c.media.infer_frames,
                "frame_rule": media.SCHEDULE_RULE,
                "backend": c.media.backend.value,
            },
        )

    def crops(self, images, kind: str, owners=None):
        """:meth:`rows` at the settings of ``kind``: ``"items"`` (shop photos) or ``"clips"``
        (frames); ``owners``: the item folder of each photo (default: all one folder), for
        ``detector.infer.photo_min_boxes``."""
        inf = self.cfg.detector.infer
        short, threshold = (
            (inf.photo_short_side, inf.photo_threshold)
            if kind == "items"
            else (inf.frame_short_side, inf.frame_threshold)
        )
        worn = self.worn if kind == "clips" else None
        floor = None
        if kind == "items" and inf.photo_min_boxes > 0:
            floor = (list(owners) if owners is not None else [0] * len(images), inf.photo_min_boxes)
        return (
            self.rows(
                images,
                short,
                threshold,
                self.labels[kind],
                self.regions[kind],
                worn,
                inf.frame_min_worn,
                self.trusted,
                floor,
            )
            if images
            else ([], [])
        )

    def rows(
        self,
        images,
        short_side: int,
        threshold: float,
        labels=None,
        region=None,
        worn=None,
        min_worn: float = 0.0,
        trusted: tuple[int, float] | None = None,
        floor=None,
    ):
        """Detections of each image (of model ``labels`` only, and centred in ``region``, when
        given; with the worn scorer ``worn`` = ``(model, config)``, of worn probability at least
        ``min_worn`` unless ``trusted`` = ``(label, score)`` and the detector gave the box that
        label with at least that score; with ``floor`` = ``(owner of each image, n)``, each owner
        keeps its ``n`` most confident boxes when fewer clear ``threshold``) and the features of
        their crops: ``[(image k, box, score, label, worn)]`` (worn 1.0 without a scorer) and
        ``(N, D)`` features."""
        from detector.infer import predict
        from embedder.extract import embed_images

        inf = self.cfg.detector.infer
        with self.clock("detect"):
            dets = predict(
                self.detector,
                images,
                short_side,
                0.0 if floor else threshold,
                inf.batch_size,
                channels_last=inf.channels_last,
                labels=labels,
                region=region,
            )
        if floor:
            dets = _with_floor(dets, *floor, threshold)
        crops, rows = self._worn_crops(images, dets, worn, min_worn, trusted)
        with self.clock("embed"):
            feats = embed_images(
                self.embedders,
                crops,
                self.cfg.embedder.extract,
                buckets=self.cfg.embedder.data.aspect_buckets,
                scales=self.scales,
            )
        return rows, feats

    def _worn_crops(self, images, dets, worn, min_worn: float, trusted):
        """The crops of the boxes of ``dets`` that pass the worn cut-off (:meth:`rows`), and their
        rows ``[(image k, box, score, label, worn)]``."""
        from embedder.data import cut_crop

        if worn is not None:
            from detector.worn import score_worn
        crops, rows = [], []
        for k, (image, d) in enumerate(zip(images, dets)):
            probs = np.ones(len(d.boxes), np.float32)
            if worn is not None:
                with self.clock("worn"):
                    probs = score_worn(*worn, image, d.boxes)
            passed = kept_worn(probs, d.labels, d.scores, min_worn, trusted)
            for box, score, label, p, ok in zip(d.boxes, d.scores, d.labels, probs, passed):
                if not ok:
                    continue
                crop = cut_crop(image, box, self.cfg.embedder.data.crop_margin)
                if crop is not None:
                    crops.append(crop)
                    rows.append((k, box, float(score), int(label), float(p)))
        return crops, rows


def _with_floor(dets, owners, n: int, threshold: float):
    """``dets`` (detected at threshold 0) with only the boxes that clear ``threshold``, or are
    among the ``n`` most confident of their image's owner when fewer do."""
    counts = [len(d) for d in dets]
    keep = np.split(
        kept_with_floor(
            np.concatenate([d.scores for d in dets]),
            np.repeat(owners, counts),
            threshold,
            n,
        ),
        np.cumsum(counts)[:-1],
    )
    return [d[m] for d, m in zip(dets, keep)]


@dataclass
class _Unit:
    """One catalogue item or one clip, and the cache key of its result."""

    kind: str  # "items" | "clips"
    name: str
    record: object  # ground.structures.Item | Video
    model_key: str
    paths: list

    @cached_property
    def source(self) -> str:
        """The models' key and the hash of the unit's file bytes: read only by the rank that
        computes the unit, and by rank 0 when it merges."""
        return self.model_key + file_digest(self.paths)


@dataclass
class _Decoded:
    unit: int
    images: list
    labels: list  # photo names of an item, frame indices of a clip
    complete: bool  # every photo read / the clip read
    summary: RunSummary  # the bad inputs met while decoding


class _Decode:
    """Map-style dataset for the DataLoader: unit ``i`` -> its decoded images (in a worker)."""

    def __init__(self, units: list[_Unit], media_cfg, in_workers: bool):
        self.units, self.media = units, media_cfg
        if in_workers and media_cfg.threads == 0:  # one decoder thread per worker process
            self.media = replace(media_cfg, threads=1)

    def __len__(self) -> int:
        return len(self.units)

    def __getitem__(self, i: int) -> _Decoded:
        unit, summary = self.units[i], RunSummary()
        if unit.kind == "items":
            images, names = read_item_photos(unit.record, summary)
            return _Decoded(i, images, names, len(names) == len(unit.record.photos), summary)
        frames = read_clip_frames(unit.record, self.media, summary)
        if frames is None:
            return _Decoded(i, [], [], False, summary)
        return _Decoded(i, list(frames.images), list(frames.indices), True, summary)


def _as_is(x):
    return x


def die_with_parent(_worker_id: int = 0) -> None:
    """DataLoader ``worker_init_fn``: the kernel kills this worker when its parent dies (Linux
    ``PR_SET_PDEATHSIG``), so a ``kill -9`` of the run leaves no decoder behind."""
    import ctypes
    import signal
    import sys

    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(
            1, int(signal.SIGKILL)
        )  # 1 = PR_SET_PDEATHSIG


def _decoded(units: list[_Unit], cfg: LiveMatchConfig):
    """Decoded units in order, from ``cfg.run.workers`` DataLoader processes (or in process)."""
    from torch.utils.data import DataLoader

    workers = min(cfg.run.workers, len(units))
    extra = (
        {"prefetch_factor": max(1, cfg.run.prefetch), "worker_init_fn": die_with_parent}
        if workers
        else {}
    )
    return iter(
        DataLoader(
            _Decode(units, cfg.media, workers > 0),
            batch_size=None,
            shuffle=False,
            num_workers=workers,
            collate_fn=_as_is,
            **extra,
        )
    )


def crop_table(entries, dim: int) -> CropTable:
    """Crop rows ``(owner, photo name, frame, box, score, label, feature, worn)`` as a
    :class:`CropTable`."""
    if not entries:
        return CropTable.empty(dim)
    owner, name, frame, box, score, label, feat, worn = zip(*entries)
    return CropTable(owner, name, frame, box, score, np.stack(feat), label, worn)


def joined(tables: list[CropTable], dim: int) -> tuple[CropTable, int]:
    """The tables as one (empty of ``dim`` when there is none) without the crops whose feature is
    NaN, inf or zero (each warned by name), and how many were dropped."""
    table = CropTable.concat(tables) if tables else CropTable.empty(dim)
    return clean_features(table if len(table) else CropTable.empty(dim))


def _process(
    units: list[_Unit],
    models: Models,
    cfg: LiveMatchConfig,
    cache: ResultCache,
    summary: RunSummary,
    clock: Stopwatch,
    dim: int,
    progress: bool,
) -> dict[str, CropTable]:
    """Decode, detect, crop and embed ``units`` (all of one kind) in groups of about
    ``cfg.run.batch_images`` images; cache each unit's table; return them by unit name."""
    if not units:
        return {}
    kind = units[0].kind
    tables: dict[str, CropTable] = {}

    def flush(group: list[_Decoded]) -> None:
        entries = _group_entries(group, units, models, kind)
        for d in group:
            unit = units[d.unit]
            if kind == "clips" and not d.complete:
                continue  # unreadable clip: warned, nothing to match
            table = crop_table(entries[d.unit], dim)
            cache.put(kind, unit.name, unit.source + ("" if d.complete else PARTIAL), table)
            tables[unit.name] = table
            summary.counts[f"{kind} processed"] += 1
        if cfg.run.trim_memory:
            trim_heap()

    stream = _decoded(units, cfg)
    with progress_bar(total=len(units), desc=kind, unit=kind[:-1], show=progress) as bar:
        for group in _groups(stream, cfg.run.batch_images, summary, clock):
            flush(group)
            bar.update(len(group))
        return tables


def _groups(stream, batch_images: int, summary: RunSummary, clock: Stopwatch):
    """The decoded units of ``stream`` in groups of at least ``batch_images`` images (the last
    group: what is left); merges each unit's bad inputs into ``summary``."""
    group, count = [], 0
    while True:
        with clock("decode"):  # time the models wait for decoded media
            d = next(stream, None)
        if d is not None:
            summary.merge(d.summary)
            group.append(d)
            count += len(d.images)
        if group and (d is None or count >= batch_images):
            yield group
            group, count = [], 0
        if d is None:
            return


def _group_entries(group: list[_Decoded], units: list[_Unit], models: Models, kind: str):
    """Crop rows ``(owner, photo name, frame, box, score, label, feature, worn)`` of the decoded
    units of ``group``, by unit index: one pass of the models over all their images."""
    images = [im for d in group for im in d.images]
    owner_of = [(d, k) for d in group for k in range(len(d.images))]
    rows, feats = models.crops(images, kind, [d.unit for d, _ in owner_of])
    entries = defaultdict(list)
    for (k, box, score, label, worn), f in zip(rows, feats):
        d, local = owner_of[k]
        unit = units[d.unit]
        name, frame = (d.labels[local], -1) if kind == "items" else ("", d.labels[local])
        entries[d.unit].append((unit.name, name, frame, box, score, label, f, worn))
    return entries


def check_output_dir(out) -> Path:
    """Create ``out`` and make sure it is writable, before any work is done. The probe file is
    the process's own: torchrun ranks check the same folder at the same time."""
    import os

    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise LiveMatchError(f"{out}: output folder is not writable ({e.strerror})") from None
    return out


@contextmanager
def _quiet(on: bool):
    logger = logging.getLogger("livematch")
    level = logger.level
    if on:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _gather(summary: RunSummary, world: int) -> None:
    """Rank 0 adds the other ranks' counts and bad inputs to ``summary`` (a no-op on one
    process)."""
    if world == 1:
        return
    import torch.distributed as dist

    parts = [None] * world if dist.get_rank() == 0 else None
    dist.gather_object(summary, parts, dst=0)
    for part in (parts or [])[1:]:
        summary.merge(part)


def run(
    cfg: LiveMatchConfig, roots, out, detector_ckpt, embedder_ckpts, gt=None, progress: bool = True
) -> RunReport:
    """The whole job; writes ``result.json``, ``match_details.json``, ``summary.json``,
    ``report.html``, ``features/`` and ``config.yaml`` under ``out`` (and ``score.json`` with
    ``gt``). Under torchrun the ranks share the detection and embedding work; rank 0 writes the
    outputs."""
    import torch.distributed as dist

    from ground.dataset import check_root
    from ground.distributed import setup_distributed

    for root in [*roots, *(gt or [])]:
        check_root(root)  # before the output folder exists: a typo leaves nothing behind
    out = check_output_dir(out)
    # a caller's process group (fit's) outlives this run: fit runs several
    owned = not dist.is_initialized()
    rank, world, device = setup_distributed(cfg.run.dist_timeout_min)
    clock = Stopwatch()
    with clock("load"), _quiet(rank != 0):  # rank 0 names each bad input; the others load silently
        ds, gt_ds = _datasets(cfg, roots, gt, rank)
        models = Models(detector_ckpt, embedder_ckpts, cfg, clock, device)
    summary = ds.summary if rank == 0 else RunSummary()  # load warnings are the same on every rank
    dim = sum(m.cfg.embedding_dim for m in models.embedders)
    cache, key = ResultCache(out / "cache"), models.key()
    units = _units(ds, key)
    mine = {kind: [u for n, u in enumerate(us) if n % world == rank] for kind, us in units.items()}
    tables = _tables(mine, models, cfg, cache, summary, clock, dim, progress and rank == 0)
    if world > 1:
        _gather(summary, world)  # also waits until every rank's tables are in the cache
        if rank != 0:
            if owned:
                dist.destroy_process_group()
            return RunReport(None, summary, dict(clock.seconds))
        tables.update(_merge(units, cache, tables))
    store = _store(units, tables, dim, summary, ds)
    with clock("match"):
        dist_, rows = search_store(store, cfg.matcher)
        result = match_catalogue(
            store.shop, store.video, dist_, rows, cfg.matcher.voting, store_text(store, cfg.matcher)
        )
    _write_results(out, store, result, cfg, roots, detector_ckpt, embedder_ckpts)
    report = RunReport(result, summary, dict(clock.seconds))
    summary_dict = _score_and_summary(out, report, gt_ds, world)
    with clock("report"):
        _write_html(out, report, ds, summary_dict, gt_ds, models.regions["clips"], cfg)
    report.seconds = dict(clock.seconds)
    if world > 1 and owned:
        dist.destroy_process_group()
    return report


def _datasets(cfg: LiveMatchConfig, roots, gt, rank: int):
    """The dataset of ``roots``, and on rank 0 that of ``gt`` (``None`` without ``gt`` or on
    other ranks)."""
    ds = load_dataset(roots, probe_media=cfg.data.probe_media, video_backend="pyav")
    same = gt and [Path(r).resolve() for r in gt] == [Path(r).resolve() for r in roots]
    # a bad root fails here, before any work; the same roots are read (and warned about) once
    gt_ds = (ds if same else load_dataset(gt, probe_media=False)) if gt and rank == 0 else None
    return ds, gt_ds


def _units(ds, key: str) -> dict[str, list[_Unit]]:
    """The work units of ``ds``, by kind: its catalogue items and its clips, in dataset order."""
    return {
        "items": [
            _Unit("items", i.item_id, i, key, [p.path for p in i.photos]) for i in ds.items.values()
        ],
        "clips": [_Unit("clips", v.video_id, v, key, [v.path]) for v in ds.videos.values()],
    }


def _tables(
    mine: dict[str, list[_Unit]],
    models: Models,
    cfg: LiveMatchConfig,
    cache: ResultCache,
    summary: RunSummary,
    clock: Stopwatch,
    dim: int,
    progress: bool,
) -> dict:
    """The crop table of each of this rank's units, by ``(kind, name)``: from the cache, else
    computed (:func:`_process`)."""
    tables = {}
    for kind, units in mine.items():
        todo = []
        for u in units:
            cached = cache.get(kind, u.name, u.source)
            if cached is None:
                todo.append(u)
            else:
                tables[kind, u.name] = cached
        done = _process(todo, models, cfg, cache, summary, clock, dim, progress)
        tables.update({(kind, name): t for name, t in done.items()})
    return tables


def _store(units: dict[str, list[_Unit]], tables: dict, dim: int, summary: RunSummary, ds):
    """The shop and video crops of ``tables`` in unit order, as a :class:`FeatureStore` of
    finite features with the titles and transcripts of ``ds``; counts them in ``summary``."""
    kept = {
        kind: [tables[kind, u.name] for u in units[kind] if (kind, u.name) in tables]
        for kind in units
    }
    (shop, bad_shop), (video, bad_video) = joined(kept["items"], dim), joined(kept["clips"], dim)
    store = FeatureStore(
        shop,
        video,
        bad_shop + bad_video,
        ds.titles(),
        ds.transcripts(),
    )
    summary.counts.update({"shop crops": len(store.shop), "video crops": len(store.video)})
    if store.dropped:
        summary.counts["crops dropped (feature NaN, inf or zero)"] = store.dropped
    return store


def _write_results(
    out: Path, store: FeatureStore, result: MatchResult, cfg, roots, detector_ckpt, embedder_ckpts
) -> None:
    """Writes ``features/``, ``result.json``, ``match_details.json`` and ``config.yaml`` (the
    config as it ran, :func:`ran_config`) under ``out``."""
    save_store(out / "features", store)
    write_outputs(out, result)
    atomic_write_text(
        out / "config.yaml", to_yaml(ran_config(cfg, roots, detector_ckpt, embedder_ckpts))
    )


def _write_html(
    out: Path, report: RunReport, ds, summary: dict, gt_ds, region, cfg: LiveMatchConfig
) -> None:
    """Writes ``report.html`` under ``out``: ``report.result`` with ``summary`` (the
    ``summary.json`` dict) and the score against ``gt_ds`` when given."""
    write_report(
        out / "report.html",
        to_result(report.result),
        to_details(report.result),
        ds,
        summary,
        report.score,
        gt_ds,
        region,
        vote_cutoff(cfg.matcher.voting),
    )


def _score_and_summary(out: Path, report: RunReport, gt_ds, world: int) -> dict:
    """Scores ``report.result`` against ``gt_ds`` when given (``score.json``), writes
    ``summary.json`` and returns what it wrote."""
    if gt_ds is not None:
        from ground.metric import evaluate

        report.score = evaluate(to_result(report.result), gt_ds).to_dict()
        write_json(out / "score.json", report.score)
    summary_dict = {
        **report.summary.to_dict(),
        "seconds": report.seconds,
        "matched videos": len(report.result.matches),
        **({"score": report.score["score"]} if report.score else {}),
        "ranks": world,
    }
    write_json(out / "summary.json", summary_dict)
    return summary_dict


def ran_config(cfg: LiveMatchConfig, roots, detector, embedders) -> LiveMatchConfig:
    """``cfg`` as it ran: the data roots and the weights actually used, as absolute paths."""
    from omegaconf import OmegaConf

    from livematch.config import load_config

    ran = load_config(None, layers=[OmegaConf.structured(cfg)])
    ran.data.roots = [str(Path(r).resolve()) for r in roots]
    ran.weights.detector = str(Path(detector).resolve())
    ran.weights.embedders = [str(Path(e).resolve()) for e in embedders]
    if ran.weights.worn:
        ran.weights.worn = str(Path(ran.weights.worn).resolve())
    return ran


def vote_cutoff(voting) -> float | None:
    """The vote's distance cut-off (on the scale of the distances it reports), ``None`` when
    none."""
    cut = voting.max_distance
    return float(cut) if cut is not None and math.isfinite(cut) else None


def _merge(units: dict[str, list[_Unit]], cache: ResultCache, have: dict) -> dict:
    """Rank 0: the other ranks' tables, read back from the shared cache (complete or partial)."""
    found = {}
    for kind, all_units in units.items():
        for u in all_units:
            if (kind, u.name) in have:
                continue
            table = cache.get(kind, u.name, u.source)
            if table is None:
                table = cache.get(kind, u.name, u.source + PARTIAL)
            if table is not None:
                found[kind, u.name] = table
    return found
