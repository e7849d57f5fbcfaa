"""fit's calibration stage: VAL's (and TRAIN's) crop rows made once, every inference setting
chosen on them (:mod:`livematch.calibration`), the held-out estimate (:mod:`livematch.estimate`)
and the candidates (:mod:`livematch.candidates`)."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from omegaconf import OmegaConf

from ground.dataset import Dataset, load_dataset
from ground.errors import DatasetError
from livematch import calibration
from livematch.calibration import Calibration
from livematch.config import LiveMatchConfig, load_config

log = logging.getLogger(__name__)


def validation_rows(
    cfg: LiveMatchConfig, val_roots, detector, embedders, out: Path, progress: bool
):
    """VAL's crop rows at the lowest threshold, every class, the whole frame (cached: a re-run
    detects nothing again), embedded by ``embedders`` (one checkpoint folder, or several: an
    ensemble). Returns the cleaned feature store with labels."""
    from livematch.pipeline import run
    from matcher.store import load_store

    low = min(
        cfg.fit.thresholds
        + [cfg.detector.infer.photo_threshold, cfg.detector.infer.frame_threshold]
    )
    c = load_config(None, layers=[OmegaConf.structured(cfg)])
    c.detector.infer = replace(
        c.detector.infer,
        photo_threshold=low,
        frame_threshold=low,
        photo_classes=[],
        frame_classes=[],
        frame_region=[0.0, 0.0, 1.0, 1.0],
        frame_min_worn=0.0,
        frame_trust_worn=0.0,
        photo_min_boxes=0,
    )
    if run(c, val_roots, out, detector, list(embedders), progress=progress).result is None:
        return None  # a torchrun rank other than 0
    return load_store(out / "features")


def train_rows(
    cfg: LiveMatchConfig,
    train_roots,
    detector,
    embedders,
    runs: Path,
    progress: bool,
    procedure: calibration.Procedure,
):
    """TRAIN's crop rows for the calibration (``fit.train_calibration``): each root, or a seeded
    draw of at most ``procedure.train_max_clips`` of its clips with their items (linked under
    ``runs/train_view{k}``), detected and embedded as VAL is (:func:`validation_rows`, cached in
    ``runs/train_run{k}``). Returns ``[(store, dataset)]``; ``None`` on torchrun ranks other
    than 0."""
    from ground.dataset import subset_root
    from livematch.calibration import pick_clips

    out = []
    for k, root in enumerate(train_roots):
        ds = load_dataset([root], probe_media=False)  # the draw needs annotations only
        items, clips = pick_clips(ds, procedure.train_max_clips)
        if len(clips) < len(ds.videos):
            log.warning(
                "%s: %d of its %d clips also calibrate (at most %d)",
                root,
                len(clips),
                len(ds.videos),
                procedure.train_max_clips,
            )
            root = subset_root(root, items, clips, runs / f"train_view{k}")
        ds = load_dataset(
            [root], probe_media=True
        )  # probed (frame sizes) for the clips that calibrate only
        out.append(
            (
                validation_rows(cfg, [root], detector, embedders, runs / f"train_run{k}", progress),
                ds,
            )
        )
    return None if any(store is None for store, _ in out) else out  # every rank runs every root


def scorer(matcher, classes, store, ds):
    """A root's crop rows ``store`` scored as fit scores them against its annotations ``ds``
    (frame sizes from its probed clips), searched and voted by ``matcher``'s settings."""
    from livematch.calibration import SplitScorer

    sizes = {v.video_id: v.size for v in ds.videos.values() if v.size}
    return SplitScorer(store, classes, sizes, ds, matcher)


def _region(train_ds: Dataset, procedure) -> list | None:
    """The frame region learned from TRAIN's annotated clips, or ``None`` with a warning."""
    from ground.regions import learn_frame_region

    try:
        return learn_frame_region(train_ds, procedure.region_coverage)["region"]
    except DatasetError as e:
        log.warning("no frame region learned: %s", e)
        return None


def choose_settings(
    cfg: LiveMatchConfig,
    stores,
    train_ds: Dataset,
    splits,
    progress: bool,
    train,
    procedure: calibration.Procedure,
) -> Calibration:
    """Calibration on each VAL root's crop rows ``stores`` (and TRAIN's, ``train``:
    :func:`train_rows`, cut into ``fit.parts`` parts): the frame region learned from TRAIN's
    annotations ``train_ds``, the settings :func:`~livematch.calibration.coordinate_ascent`
    chooses, and the held-out estimate (:func:`livematch.estimate.holdout_estimate`; ``None``
    with ``fit.holdout=false`` or a VAL too small, ``no_estimate`` saying which)."""
    from detector.model import class_names
    from livematch.calibration import Splits, coordinate_ascent, fit_grids, setting_of, train_splits
    from livematch.estimate import holdout_estimate

    classes = class_names(cfg.detector.model)
    val = Splits([scorer(cfg.matcher, classes, store, ds) for store, ds in zip(stores, splits)])
    parts = train_splits(
        [scorer(cfg.matcher, classes, store, ds) for store, ds in train], cfg.fit.parts
    )
    region = _region(train_ds, procedure)
    # every folder keeps its best box: one with none cannot match (docs/FIT.md)
    start = replace(
        setting_of(cfg), photo_min_boxes=max(1, int(cfg.detector.infer.photo_min_boxes))
    )
    grids = fit_grids(cfg, classes, region, procedure.vote_rules, procedure.text_weights)
    chosen, sweeps = coordinate_ascent(
        Splits(val.calibrators + parts),
        start,
        grids,
        procedure.rounds,
        progress=progress,
        margin=procedure.min_gain,
    )
    held, why = (
        holdout_estimate(val.calibrators, start, grids, procedure, cfg.fit.parts, parts)
        if cfg.fit.holdout
        else (None, "fit.holdout is off")
    )
    return Calibration(start, chosen, sweeps, val, region, held, parts, why or "", grids)


def calibration_rows(
    cfg: LiveMatchConfig,
    train_roots,
    val_roots,
    detector,
    embedders,
    runs: Path,
    progress: bool,
    procedure: calibration.Procedure,
):
    """VAL's (and, by ``fit.train_calibration``, TRAIN's) crop rows under ``runs``: ``(stores,
    train)``; ``None`` on torchrun ranks other than 0."""
    stores = [
        validation_rows(
            cfg, [root], detector, embedders, runs / (f"val_run{k}" if k else "val_run"), progress
        )
        for k, root in enumerate(val_roots)
    ]
    train = []
    if calibration.uses_train(cfg.fit, len(val_roots), procedure):
        train = train_rows(cfg, train_roots, detector, embedders, runs, progress, procedure)
    if train is None or any(store is None for store in stores):
        return None
    return stores, train


def calibrate_and_try(job):
    """The calibration stage: VAL's (and TRAIN's) crop rows under ``OUT/calibration``, the settings
    chosen on them, then each candidate (:func:`livematch.candidates.try_candidates`). Returns
    ``(cfg, calibration, candidate records)``; ``None`` on torchrun ranks other than 0."""
    from livematch.candidates import has_text, try_candidates

    runs, proc = job.out / "calibration", job.procedure

    def rows_for(c, folder=""):
        models = (job.detector, job.embedders)
        return calibration_rows(
            c, job.train_roots, job.val_roots, *models, runs / folder, job.progress, proc
        )

    def choose(c, rows):
        return choose_settings(c, rows[0], job.train_ds, job.splits, job.progress, rows[1], proc)

    rows = rows_for(job.cfg)
    if rows is None:
        return None
    found = choose(job.cfg, rows)
    return try_candidates(job.cfg, found, rows, rows_for, choose, proc, has_text(rows[0]))
