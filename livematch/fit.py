"""``livematch fit``: from a user's annotated data to a calibrated pipeline in one command.

Stages, each skipped when its output exists (a killed training resumes from its last epoch):

1. **embedder**: trained on TRAIN's annotated crops (from the ``fit.recipe`` recipe, or fine-tuned
   from ``--init-from``), validated on VAL; exported to ``OUT/weights/embedder``;
2. **detector**: trained the same way, with two classes (``fit.split_by``; ``auto``: ``worn`` /
   ``alone`` where TRAIN annotates both, else ``product``: garments of catalogue items /
   ``other``); exported to ``OUT/weights/detector``. ``fit.finetune.<model>_epochs=0`` keeps an
   ``--init-from`` model as it is;
3. **worn**: the worn scorer (:mod:`detector.worn`: is a frame garment worn by a person, from the
   box and its surroundings) trained on TRAIN's annotated frames where they annotate both worn and
   alone garments (``display``); exported to ``OUT/weights/worn``; ``fit.worn=false`` skips it;
4. **calibrate**: VAL detected and embedded once at the lowest threshold under consideration,
   every class, the whole frame, every worn probability (``OUT/calibration/val_run``, cached per
   item and clip); then :func:`livematch.calibration.coordinate_ascent` chooses the detection
   thresholds, the worn cut-off, the frame classes, the frame region (learned from TRAIN's clips,
   kept only when it raises VAL's score), the evidence rules and the vote's cut-offs by the
   contest score on VAL; with one or two VAL roots (``fit.train_calibration``), TRAIN's clips
   calibrate too: detected and embedded the same way (``OUT/calibration/train_run*``), cut into
   ``fit.parts`` parts of about VAL's size, each matched on its own (one or two small roots alone
   chose settings that transferred worse); then the held-out estimate (:mod:`livematch.estimate`:
   VAL held out root by root, or part by part with one root, each scored at the settings calibrated
   without it; TRAIN is never held out): what to expect on new data, with its interval, where the
   VAL score itself is optimistic; then each candidate (:mod:`livematch.candidates`), kept only when
   its estimate is higher by more than the uncertainty of the difference;
5. writes ``OUT/pipeline.yaml`` (weights relative to it, every chosen setting, the VAL score of
   each choice) for ``livematch run --config OUT/pipeline.yaml``, ``OUT/fit.json`` and
   ``OUT/fit.html`` (the calibration curves, the region on VAL frames).

With ``detector`` and ``embedder`` given, stages 1-2 are skipped (own or GPU-trained weights).
Under ``torchrun`` the training stages run on every rank; calibration runs on rank 0.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import yaml
from omegaconf import OmegaConf

from detector.data import split_counts
from ground.dataset import Dataset, annotation_grid, check_root, load_dataset
from ground.errors import ConfigError, DatasetError
from ground.io import atomic_write_text, write_json
from livematch import calibration
from livematch.calibration import Calibration, describe, get_value
from livematch.candidates import candidate_line, dba_k, tta_sizes
from livematch.config import FIT_RECIPES, LiveMatchConfig, given_keys, load_config, use_checkpoints
from livematch.estimate import Estimate, estimate_line
from matcher.voting import NO_CUT

log = logging.getLogger(__name__)
CONFIGS = Path(__file__).resolve().parents[1] / "configs"
FINETUNE_WARMUP_STEPS = 50  # --init-from: the warm-up of both models' fine-tuning


@dataclass
class FitReport:
    """What fit chose and how long each stage took."""

    pipeline: Path
    setting: dict
    val_score: float
    start_score: float
    seconds: dict[str, float] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    holdout: Estimate | None = None  # the held-out estimate: what to expect on new data
    no_estimate: str = ""  # why there is none
    #: parts of TRAIN's clips that calibrated beside VAL (fit.train_calibration)
    train_parts: int = 0
    #: each option tried and whether it was kept
    candidates: list[dict] = field(default_factory=list)

    def lines(self) -> list[str]:
        """What ``livematch fit`` prints at the end."""
        out = [f"skipped (already trained): {', '.join(self.skipped)}"] if self.skipped else []
        out.append(
            "seconds per stage: " + ", ".join(f"{k} {v:.0f}" for k, v in self.seconds.items())
        )
        out.append(
            f"validation score {self.start_score:.4f} at the starting settings -> "
            f"{self.val_score:.4f}"
        )
        if self.train_parts:
            out.append(
                f"TRAIN's clips calibrated too ({self.train_parts} parts, each matched on its own; "
                "fit.train_calibration: by default with one or two --val roots)"
            )
        out += [candidate_line(record) for record in self.candidates]
        out.append(estimate_line(self.holdout, self.no_estimate))
        out.append(
            f"wrote {self.pipeline} and {self.pipeline.parent / 'fit.html'}; run it with\n"
            f"  livematch run --config {self.pipeline} --data ROOT --out RUN"
        )
        return out


def _in_root(path: Path, root: Path) -> bool:
    return Path(path).resolve().is_relative_to(Path(root).resolve())


def check_inputs(train: Dataset | None, train_roots, val_roots, split_by: str = "") -> list:
    """Check TRAIN and VAL before any work: TRAIN (``train``, loaded once; ``None`` when no model
    is trained) must have annotated boxes in each root and, with a class split, frame garments of
    both classes; each VAL root annotated clips that sell its items. Raises a ``DatasetError``
    naming the root. Returns each VAL root's dataset."""
    for root in [*train_roots, *val_roots]:
        check_root(root)
    if train is not None:
        for root in train_roots:
            boxes = sum(len(p.annotations or ()) for p in train.photos() if _in_root(p.path, root))
            boxes += sum(
                len(a)
                for v in train.videos.values()
                if _in_root(v.path, root)
                for a in (v.frames or {}).values()
            )
            if not boxes:
                raise DatasetError(
                    f"{root}: TRAIN has no annotated boxes (image_annotation/, video_annotation/); "
                    "fit trains on annotated data"
                )
        if split_by:
            counts = split_counts(train, split_by)
            if not all(counts.values()):
                raise DatasetError(
                    f"{', '.join(map(str, train_roots))}: fit.split_by={split_by} needs frame "
                    f"garments of both classes, TRAIN has {counts}; choose another split "
                    "(fit.split_by=instance, display, or '' for one class)"
                )
    splits = []
    for root in val_roots:
        val = load_dataset([root], probe_media=True)
        if not any(v.frames for v in val.videos.values()):
            raise DatasetError(
                f"{root}: VAL has no annotated clips (video_annotation/); calibration "
                "scores results against them"
            )
        if not any(v.sold_item in val.items for v in val.videos.values()):
            raise DatasetError(
                f"{root}: no VAL clip sells one of VAL's catalogue items; calibration needs "
                "clips whose item has a folder"
            )
        splits.append(val)
    return splits


def resolve_split(split_by: str, train: Dataset) -> str:
    """``fit.split_by``; ``auto``: ``display`` (worn / shown alone) when TRAIN's frame garments
    are of both kinds, else ``instance`` (product / other) when they are, else one class."""
    if split_by != "auto":
        return split_by
    for split in ("display", "instance"):
        if all(split_counts(train, split).values()):
            return split
    return ""


def find_init(path) -> dict[str, Path]:
    """``--init-from``: a fit output folder or pipeline YAML (its ``weights``), or a folder of
    checkpoint folders (``weights/``: each told apart by its meta.json kind). -> ``{"detector": ..,
    "embedder": ..}``."""
    path = Path(path)
    pipeline = path / "pipeline.yaml" if path.is_dir() else path
    if pipeline.is_file():
        cfg = load_config(pipeline)
        found = {"detector": cfg.weights.detector, "embedder": (cfg.weights.embedders or [""])[0]}
        return {k: Path(v) for k, v in found.items() if v}
    if not path.is_dir():
        raise ConfigError(
            f"{path}: --init-from takes a fit output folder, a pipeline YAML or a folder of "
            "checkpoints"
        )
    from ground.checkpoint import checkpoint_kind

    found = {}
    for sub in sorted(p for p in [path, *path.iterdir()] if (p / "config.yaml").is_file()):
        kind = checkpoint_kind(sub)
        if (
            kind is None
        ):  # written before meta.json named its kind: told apart by its config's sections
            keys = set(yaml.safe_load((sub / "config.yaml").read_text()) or {})
            kind = "embedder" if "loss" in keys else "detector" if "infer" in keys else None
        if kind in ("detector", "embedder"):
            found.setdefault(kind, sub)
    if not found:
        raise ConfigError(
            f"{path}: no checkpoint (a folder with config.yaml and model.safetensors) inside"
        )
    return found


def _section(folder: Path) -> dict:
    from ground.checkpoint import config_dict

    return config_dict(folder)


def fit_config(
    train_roots,
    val_roots,
    out: Path,
    init: dict,
    config=None,
    overrides=(),
    recipe=None,
    train: Dataset | None = None,
) -> LiveMatchConfig:
    """Defaults <- the recipe (or the ``--init-from`` checkpoints' own sections, and their
    fine-tuning epochs and lr: ``fit.finetune``) <- ``config`` <- ``overrides``; data roots, run
    folders and caches under ``out``.
    ``train``: TRAIN's annotations, for ``fit.split_by=auto`` (loaded here when not given)."""
    first = load_config(config, overrides)  # which recipe, which split
    recipe = recipe or first.fit.recipe
    if recipe not in FIT_RECIPES:
        raise ConfigError(f"fit recipe {recipe!r}; choose one of {', '.join(FIT_RECIPES)}")
    layers = [OmegaConf.to_container(OmegaConf.load(CONFIGS / r)) for r in FIT_RECIPES[recipe]]
    layers += [{kind: _section(folder)} for kind, folder in init.items()]
    ft = first.fit.finetune
    for kind, epochs, lr, section in (
        ("embedder", ft.embedder_epochs, ft.embedder_lr, "optim"),
        ("detector", ft.detector_epochs, ft.detector_lr, "train"),
    ):
        if kind in init:  # under the config and the overrides, like every layer
            layers.append(
                {
                    kind: {
                        section: {"epochs": epochs, "lr": lr, "warmup_steps": FINETUNE_WARMUP_STEPS}
                    }
                }
            )
    if train is None:
        train = load_dataset(train_roots, probe_media=False)
    split = resolve_split(first.fit.split_by, train)
    layers.append({"detector": {"model": {"split_by": split}}})  # also over --init-from's classes
    cfg = load_config(config, overrides, layers=layers)
    cfg.fit.split_by = split  # auto resolved
    cfg.embedder.data.roots, cfg.embedder.data.val_roots = (
        list(map(str, train_roots)),
        list(map(str, val_roots)),
    )
    cfg.embedder.data.cache_dir = str(out / "cache" / "crops")
    cfg.detector.train.cache_dir = str(out / "cache" / "frames")
    return cfg


def _export(src: Path, dst: Path) -> Path:
    """Rank 0 exports the trained checkpoint (fp16 weights); every rank waits for it."""
    from ground.distributed import setup_distributed
    from livematch.export import export_checkpoint

    rank, world, _ = setup_distributed()
    if rank == 0:
        export_checkpoint(src, dst)
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    return dst


def _train_embedder(cfg, train_roots, val_roots, out: Path, init, progress: bool) -> Path:
    """Its roots come from ``cfg.embedder.data`` (set by :func:`fit_config`)."""
    from livematch.commands.embed import train_embedder

    result, summary = train_embedder(cfg, out / "embedder", init, progress)
    log.info("%s", summary.format("embedder training data"))
    return _export(result.checkpoint, out / "weights" / "embedder")


def _train_detector(cfg, train_roots, val_roots, out: Path, init, progress: bool) -> Path:
    from livematch.commands.detect import train_detector_on

    result, summary = train_detector_on(
        cfg, train_roots, val_roots, out / "detector", progress, init_from=init
    )
    log.info("%s", summary.format("detector training data"))
    return _export(result.checkpoint, out / "weights" / "detector")


def _train_worn(cfg, ds, out: Path, progress: bool) -> Path | None:
    """Stage 3 on rank 0 (the other ranks wait in :func:`_export`): the worn scorer on TRAIN
    (``ds``, loaded without probing), or ``None`` with a warning when TRAIN's frames do not
    annotate both worn and alone garments."""
    from detector.worn import train_worn
    from ground.distributed import setup_distributed

    counts = split_counts(ds, "display")
    if not all(counts.values()):
        log.warning(
            "no worn scorer: TRAIN's frames annotate %s garments (display 0 / 1); it needs both",
            counts,
        )
        return None
    if setup_distributed()[0] == 0:
        train_worn(cfg.detector.worn, ds, out / "worn", progress, cfg.media.backend.value)
    return _export(
        out / "worn" / "last", out / "weights" / "worn"
    )  # no validation: OUT/last is the checkpoint


def use_annotation_grid(cfg: LiveMatchConfig, grid: int | None) -> None:
    """Fit the frame settings to the annotated-frame grid of the user's data (``grid``:
    :func:`ground.dataset.annotation_grid` of TRAIN and VAL; the format's is 40): the matcher moves
    evidence frames onto it (``matcher.voting.annotation_step``), the embedder trains on frames
    of ``media.train_frames`` that lie on it, and a warning says when ``media.infer_frames`` meets
    it nowhere (evidence frames could then never be annotated ones)."""
    from livematch.config import FrameSchedule

    if grid is None:
        return
    voting, train = cfg.matcher.voting, cfg.media.train_frames
    if grid != voting.annotation_step:
        log.warning(
            "annotated frames lie every %d frames in TRAIN and VAL: matcher.voting.annotation_step "
            "%d -> %d",
            grid,
            voting.annotation_step,
            grid,
        )
        voting.annotation_step = grid
    if grid > 1 and (train.start % grid or train.step % grid):
        cfg.media.train_frames = FrameSchedule(-(-train.start // grid) * grid, train.stop, grid)
        log.warning(
            "media.train_frames %s -> %s (the annotated grid)", train, cfg.media.train_frames
        )
    if not any(i % grid == 0 for i in cfg.media.infer_frames.indices()):
        log.warning(
            "no frame of media.infer_frames (%s) lies on the annotated grid (every %d frames): "
            "evidence frames will not be annotated ones; set media.infer_frames.start / step to "
            "meet it",
            cfg.media.infer_frames,
            grid,
        )


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
    from ground.regions import learn_frame_region
    from livematch.calibration import (
        Splits,
        SplitScorer,
        coordinate_ascent,
        fit_grids,
        setting_of,
        train_splits,
    )
    from livematch.estimate import holdout_estimate

    classes = class_names(cfg.detector.model)

    def calibrator(store, ds):
        return SplitScorer(
            store,
            classes,
            {v.video_id: v.size for v in ds.videos.values() if v.size},
            ds,
            cfg.matcher,
        )

    val = Splits([calibrator(store, ds) for store, ds in zip(stores, splits)])
    parts = train_splits([calibrator(store, ds) for store, ds in train], cfg.fit.parts)
    region = None
    try:
        region = learn_frame_region(train_ds, procedure.region_coverage)["region"]
    except DatasetError as e:
        log.warning("no frame region learned: %s", e)
    # every folder keeps its best box: one with none cannot match (docs/FIT.md)
    start = replace(
        setting_of(cfg), photo_min_boxes=max(1, int(cfg.detector.infer.photo_min_boxes))
    )
    grids = fit_grids(cfg, classes, region, procedure.vote_rules)
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


def _relative(path: Path, base: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(base.resolve()))
    except ValueError:
        return str(Path(path).resolve())


def write_pipeline(
    out: Path, cfg: LiveMatchConfig, chosen, scores: dict, detector, embedders, val_roots
) -> Path:
    """``OUT/pipeline.yaml``: the weights (relative to it), the models' inference settings and
    every calibrated setting, with the validation score of each choice in comments."""
    body = {
        "weights": {
            "detector": _relative(detector, out),
            "embedders": [_relative(e, out) for e in embedders],
            **({"worn": _relative(cfg.weights.worn, out)} if cfg.weights.worn else {}),
        },
        "detector": {
            "infer": {
                "photo_short_side": cfg.detector.infer.photo_short_side,
                "frame_short_side": cfg.detector.infer.frame_short_side,
            }
        },
        "embedder": {
            "data": {"crop_margin": cfg.embedder.data.crop_margin},
            "extract": {
                "scale": cfg.embedder.extract.scale,
                **(
                    {"scales_tta": list(cfg.embedder.extract.scales_tta)}
                    if cfg.embedder.extract.scales_tta
                    else {}
                ),
            },
        },
        "media": {
            "backend": cfg.media.backend.value,
            "infer_frames": asdict(cfg.media.infer_frames),
        },
        "matcher": {
            "voting": {"annotation_step": cfg.matcher.voting.annotation_step},
            **(
                {"rerank": {"dba_k": dba_k(cfg), "alpha": float(cfg.matcher.rerank.alpha)}}
                if dba_k(cfg)
                else {}
            ),
        },
    }
    for section, part in chosen.overrides().items():
        for name, values in part.items():
            body.setdefault(section, {}).setdefault(name, {}).update(values)
    parts = scores.get("train_parts", 0)
    lines = [
        f"# Written by `livematch fit` on {time.strftime('%Y-%m-%d %H:%M')}; calibrated on "
        f"{', '.join(map(str, val_roots))}"
        + (f" and {parts} parts of TRAIN's clips (fit.train_calibration)" if parts else "")
        + " by the contest score.",
        f"# VAL score: {scores['start']:.4f} at the starting settings -> {scores['chosen']:.4f} "
        "chosen.",
        f"# {estimate_line(scores.get('holdout'), scores.get('no_estimate', ''))}",
        (
            "# Calibration score (mean over the VAL roots and TRAIN's parts) of each choice"
            if parts
            else "# VAL score of each choice"
        )
        + " (the other settings as chosen; curves in fit.html):",
    ]
    lines += [
        f"#   {name} = {describe(value, name)}: {score:.4f} (best alternative {alt})"
        for name, value, score, alt in scores["rows"]
    ]
    lines += [f"# {candidate_line(record)}." for record in scores.get("candidates") or []]
    lines.append(
        f"# Annotated frames every {cfg.matcher.voting.annotation_step} frames (learned from TRAIN "
        "and VAL): evidence frames are moved onto that grid."
    )
    lines.append("# Use: livematch run --config <this file> --data ROOT --out RUN")
    return atomic_write_text(
        out / "pipeline.yaml",
        "\n".join(lines) + "\n" + yaml.safe_dump(body, sort_keys=False, allow_unicode=True),
    )


def _choice_rows(sweeps, chosen) -> list[tuple]:
    """Per swept setting (last round): its chosen value, its score, the best other value and
    score."""
    last = {s.name: s for s in sweeps}  # each setting's curve of its last round
    rows = []
    for name, s in last.items():
        pairs = list(zip(s.values, s.scores))
        value = (
            (
                chosen.keep_fraction,
                chosen.vote_fraction,
                min(chosen.max_distance, NO_CUT),
                chosen.rule,
                chosen.assign,
            )
            if name == "vote"
            else get_value(chosen, name)
        )
        same = (
            (lambda v, value=value: v == value or (v[:2], v[3:]) == (value[:2], value[3:]))
            if name == "vote"
            else value.__eq__
        )
        mine = max((sc for v, sc in pairs if same(v)), default=float("nan"))
        others = [(sc, v) for v, sc in pairs if v != value]
        alt = f"{describe(max(others)[1], name)}: {max(others)[0]:.4f}" if others else "none"
        rows.append((name, value, mine, alt))
    return rows


def write_outputs(
    out: Path,
    cfg: LiveMatchConfig,
    found: Calibration,
    train_roots,
    val_roots,
    splits,
    detector,
    embedders,
    seconds: dict,
    skipped: list,
    candidates: list[dict],
) -> FitReport:
    """``OUT/pipeline.yaml``, ``OUT/fit.json`` and ``OUT/fit.html`` from the calibration
    ``found``."""
    from livematch.fit_report import write_fit_report

    start, chosen, cal, held, parts = (
        found.start,
        found.chosen,
        found.val,
        found.estimate,
        found.train_parts,
    )
    scores = {
        "start": cal.score(start),
        "chosen": cal.score(chosen),
        "rows": _choice_rows(found.sweeps, chosen),
        "holdout": held,
        "no_estimate": found.no_estimate,
        "train_parts": len(parts),
        "candidates": candidates,
    }
    path = write_pipeline(out, cfg, chosen, scores, detector, embedders, val_roots)
    levels = [e.to_dict() for e in cal.evaluation(chosen)]
    write_json(
        out / "fit.json",
        {
            "train_roots": [str(r) for r in train_roots],
            "val_roots": [str(r) for r in val_roots],
            "setting": asdict(chosen),
            "start": asdict(start),
            "val_score": scores["chosen"],
            "start_score": scores["start"],
            "holdout": held.to_dict() if held else None,
            "no_estimate": found.no_estimate,
            "val": levels,
            "train_parts": len(parts),
            "candidates": candidates,
            "region_learned": found.region,
            "annotation_step": cfg.matcher.voting.annotation_step,
            "seconds": seconds,
            "skipped": skipped,
            "evaluations": cal.evaluations + sum(p.evaluations for p in parts),
            "sweeps": [asdict(s) for s in found.sweeps],
        },
    )
    write_fit_report(
        out / "fit.html",
        chosen,
        start,
        scores,
        found.sweeps,
        splits[0],
        found.region,
        levels,
        val_roots,
    )
    return FitReport(
        path,
        asdict(chosen),
        scores["chosen"],
        scores["start"],
        seconds,
        skipped,
        held,
        found.no_estimate,
        len(parts),
        candidates,
    )


def _train_models(
    cfg, train_roots, val_roots, out: Path, init: dict, given: dict, progress: bool
) -> tuple:
    """Stages 1-2: each model trained (or fine-tuned, or kept) unless ``given`` names its checkpoint
    or it was trained already. Returns ``(seconds, skipped)``."""
    seconds, skipped = {}, []
    for stage, train in (("embedder", _train_embedder), ("detector", _train_detector)):
        target = out / "weights" / stage
        if given.get(stage):
            continue
        if (target / "model.safetensors").is_file():
            skipped.append(stage)
            log.warning("%s: already trained (%s); delete it to train again", stage, target)
            continue
        t0 = time.perf_counter()
        if stage in init and getattr(cfg.fit.finetune, f"{stage}_epochs") == 0:
            log.warning("%s: fit.finetune.%s_epochs=0 keeps %s as it is", stage, stage, init[stage])
            _export(init[stage], target)
        else:
            train(cfg, train_roots, val_roots, out, init.get(stage), progress)
        seconds[stage] = time.perf_counter() - t0
    return seconds, skipped


def fit(
    train_roots,
    val_roots,
    out,
    config=None,
    overrides=(),
    recipe=None,
    init_from=None,
    detector=None,
    embedder=None,
    progress: bool = True,
    procedure: calibration.Procedure = calibration.Procedure(),
) -> FitReport | None:
    """The whole fit (module docstring). ``embedder``: one checkpoint folder or several (an
    ensemble, embedded as ``livematch run`` embeds it); ``procedure``: how the calibration
    searches, estimates and decides (fixed for users). Returns ``None`` on torchrun ranks other
    than 0."""
    from livematch.pipeline import check_output_dir

    out = Path(out)
    train_roots, val_roots = [Path(r) for r in train_roots], [Path(r) for r in val_roots]
    embedders = [
        Path(e) for e in ([embedder] if isinstance(embedder, (str, Path)) else embedder or [])
    ]
    if bool(detector) != bool(embedders):
        raise ConfigError("give both --detector and --embedder to skip training, or neither")
    init = find_init(init_from) if init_from else {}
    for root in train_roots:
        check_root(root)
    train_ds = load_dataset(
        train_roots, probe_media=True
    )  # TRAIN, loaded once: checks, split, grid, worn, region
    cfg = fit_config(train_roots, val_roots, out, init, config, overrides, recipe, train_ds)
    splits = check_inputs(None if detector else train_ds, train_roots, val_roots, cfg.fit.split_by)
    check_output_dir(out)  # only once the inputs check out
    use_annotation_grid(cfg, annotation_grid([train_ds, *splits]))
    calibration.vote_rules(procedure.vote_rules)  # a bad rule fails before training, not after
    tta_sizes(1, cfg.fit.tta_scales)  # ... and so does a bad multiple
    seconds, skipped = _train_models(
        cfg,
        train_roots,
        val_roots,
        out,
        init,
        {"detector": detector, "embedder": embedders},
        progress,
    )
    detector = Path(detector or out / "weights" / "detector")
    embedders = embedders or [out / "weights" / "embedder"]
    use_checkpoints(cfg, detector, embedders[0], given_keys(config, overrides))
    cfg.embedder.extract.scales_tta = []  # fit.tta_scales are a candidate (livematch.candidates)
    worn = out / "weights" / "worn" if cfg.fit.worn else None
    if worn is not None and (worn / "model.safetensors").is_file():
        skipped.append("worn")
        log.warning("worn: already trained (%s); delete it to train again", worn)
    elif worn is not None:
        t0 = time.perf_counter()
        worn = _train_worn(cfg, train_ds, out, progress)
        seconds["worn"] = time.perf_counter() - t0
    cfg.weights.worn = str(worn) if worn is not None else ""
    t0 = time.perf_counter()
    chosen = calibrate_and_try(
        cfg,
        train_ds,
        train_roots,
        val_roots,
        splits,
        detector,
        embedders,
        out / "calibration",
        progress,
        procedure,
    )
    if chosen is None:  # the ranks shared the detection; rank 0 calibrates
        return None
    cfg, found, candidates = chosen
    seconds["calibrate"] = time.perf_counter() - t0
    return write_outputs(
        out,
        cfg,
        found,
        train_roots,
        val_roots,
        splits,
        detector,
        embedders,
        seconds,
        skipped,
        candidates,
    )


def calibrate_and_try(
    cfg: LiveMatchConfig,
    train_ds: Dataset,
    train_roots,
    val_roots,
    splits,
    detector,
    embedders,
    runs: Path,
    progress: bool,
    procedure: calibration.Procedure,
):
    """The calibration stage: VAL's (and TRAIN's) crop rows under ``runs``, the settings chosen on
    them, then each candidate (:func:`livematch.candidates.try_candidates`). Returns ``(cfg,
    calibration, candidate records)``; ``None`` on torchrun ranks other than 0."""
    from livematch.candidates import try_candidates

    def rows_for(c, folder=""):
        return calibration_rows(
            c, train_roots, val_roots, detector, embedders, runs / folder, progress, procedure
        )

    def choose(c, rows):
        return choose_settings(c, rows[0], train_ds, splits, progress, rows[1], procedure)

    rows = rows_for(cfg)
    if rows is None:
        return None
    return try_candidates(cfg, choose(cfg, rows), rows, rows_for, choose, procedure)
