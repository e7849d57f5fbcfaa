"""fit's inputs: TRAIN and VAL checked before any work, the config layered for the run, the
annotated-frame grid learned from the data, and :class:`Job`, what every later stage reads."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import yaml
from omegaconf import OmegaConf

from detector.data import split_counts
from ground.dataset import Dataset, check_root, load_dataset
from ground.errors import ConfigError, DatasetError
from livematch.calibration import Procedure
from livematch.config import FIT_RECIPES, LiveMatchConfig, load_config

log = logging.getLogger(__name__)
CONFIGS = Path(__file__).resolve().parents[2] / "configs"
FINETUNE_WARMUP_STEPS = 50  # --init-from: the warm-up of both models' fine-tuning


@dataclass
class Job:
    """One fit with its inputs resolved: the roots, the output folder, the config being built,
    TRAIN's annotations (loaded once), each VAL root's dataset, the models (given, or ``None`` /
    empty until trained) and how the calibration searches, estimates and decides."""

    train_roots: list[Path]
    val_roots: list[Path]
    out: Path
    cfg: LiveMatchConfig
    train_ds: Dataset
    splits: list[Dataset]
    detector: Path | None
    embedders: list[Path]
    procedure: Procedure
    progress: bool = True


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
