"""Typed configs: dataclass schemas with the reference defaults, YAML recipes in ``configs/``,
dotted command-line overrides (``media.backend=pyav``).

An unknown key or a value of the wrong type is a :class:`~ground.errors.ConfigError` that
names the key. YAML is read with ``yaml.safe_load``; nothing in a config file is executed.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ground.errors import ConfigError
from detector.config import SPLITS, DetectorConfig
from embedder.config import EmbedderConfig
from matcher.config import MatcherConfig


class VideoBackend(str, Enum):
    """Frame decoder: decord (default, fast random access) or PyAV (robust to damaged clips)."""

    decord = "decord"
    pyav = "pyav"


@dataclass
class FrameSchedule:
    """Frame indices ``start, start + step, ..., stop`` (``stop`` included when on the grid)."""

    start: int = 80
    stop: int = 380
    step: int = 20

    def indices(self) -> list[int]:
        if self.step <= 0 or self.start < 0:
            raise ConfigError(f"frame schedule needs start >= 0 and step > 0, got {self}")
        return list(range(self.start, self.stop + 1, self.step))


@dataclass
class MediaConfig:
    """How clips are decoded and which frames are used (docs/METHOD.md sections 1 and 2)."""

    backend: VideoBackend = VideoBackend.decord
    fallback: bool = True  # retry a clip decord cannot read with PyAV
    threads: int = 0  # decoder threads per clip; 0 = the decoder's choice, 1 inside loader workers
    infer_frames: FrameSchedule = field(default_factory=lambda: FrameSchedule(80, 380, 20))
    train_frames: FrameSchedule = field(default_factory=lambda: FrameSchedule(80, 360, 40))


@dataclass
class DataConfig:
    """Where the data is and how strictly it is checked at load time."""

    roots: list[str] = field(default_factory=list)  # written by run into OUT/config.yaml: what it ran on
    probe_media: bool = True  # open every photo header / clip container while loading


@dataclass
class WeightsConfig:
    """Trained checkpoints the pipeline runs with (folders written by the train commands)."""

    detector: str = ""
    embedders: list[str] = field(default_factory=list)  # several: an ensemble
    worn: str = ""  # the worn scorer (detector/worn.py; livematch fit trains it); "": none


@dataclass
class RunConfig:
    """How ``livematch run`` feeds the models and shares the work across torchrun ranks."""

    workers: int = 2  # DataLoader processes decoding photos and clips while the models compute; 0 = in process
    prefetch: int = 2  # items / clips each worker decodes ahead
    batch_images: int = 16  # decoded images of several items / clips gathered for one pass of the models
    dist_timeout_min: int = 720  # how long rank 0 waits for the slowest rank before merging
    trim_memory: bool = True  # return freed heap to the system after each pass (glibc); keeps memory flat


@dataclass
class FinetuneConfig:
    """``livematch fit --init-from``: how long and how fast the shipped models are adapted."""

    embedder_epochs: int = 10  # 0 (either model): keep the --init-from model as it is
    embedder_lr: float = 5.0e-4
    detector_epochs: int = 2
    detector_lr: float = 0.01
    warmup_steps: int = 50


@dataclass
class FitConfig:
    """What ``livematch fit`` trains and which settings it calibrates on the validation split."""

    recipe: str = "lite0"  # what fit trains without --init-from (FIT_RECIPES): lite0 (CPU, from ImageNet weights)
    # | tiny (random init, for tests) | reference (GPU)
    split_by: str = "auto"  # detector classes: auto (display when TRAIN has worn and shown-alone garments, else
    # instance) | display (worn / alone) | instance (product / other) | "" (one class); see docs/RESULTS.md
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    thresholds: list[float] = field(default_factory=lambda: [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    region_coverage: float = 0.98  # share of the training clips' sold garments the candidate region keeps
    rounds: int = 2  # coordinate-ascent rounds (stops early when a round changes nothing)
    min_gain: float = 0.0  # a setting leaves its held value only when the VAL score rises by more than this
    vote_rules: list[str] = field(default_factory=lambda: ["written/greedy"])
    # matcher.voting rule/assign pairs the vote coordinate tries, e.g. [written/greedy, set/global, original/greedy]
    # (docs/METHOD.md); more pairs measured no gain on unseen data (docs/RESULTS.md), so the reference reading only
    max_val_images: int = 200  # detector AP after each training epoch, on this many validation images
    worn: bool = True  # train the worn scorer (detector.worn) where TRAIN's frames annotate worn and alone garments
    worn_cutoffs: list[float] = field(default_factory=lambda: [0.1, 0.3, 0.5, 0.7, 0.9])  # frame_min_worn tried (and 0)
    holdout: bool = True  # also calibrate on all VAL roots but one and score the one left out (parts of the root
    # with one root): the held-out estimate of the unseen score (the VAL score of the chosen settings is optimistic)
    holdout_parts: int = 2  # with one VAL root: cut it into this many parts (items with their clips), each scored
    # at the settings calibrated on the others (0 or 1: no estimate with one root)
    holdout_cuts: int = 3  # ... over this many different cuts (the estimate's mean; one cut is noisy)
    holdout_min_clips: int = 4  # ... when each part keeps at least this many clips that sell a listed item
    train_calibration: str = "auto"  # TRAIN's clips also calibrate (detected and embedded like VAL, cut into
    # parts): auto = with at most train_max_val_roots --val roots (one or two roots alone chose worse: docs/RESULTS.md)
    # | always | never
    train_max_val_roots: int = 2  # ... auto adds TRAIN's parts while VAL has at most this many roots
    train_parts: int = 2  # ... each TRAIN root cut into this many parts (items with the clips that sell them),
    # each matched on its own as a VAL root is
    train_max_clips: int = 100  # ... at most this many clips of each TRAIN root (a seeded draw, with their items)
    tta_scales: list[float] = field(default_factory=list)  # a candidate embedder.extract.scales_tta: extra crop
    # sizes averaged in at inference, as multiples of the embedder's training scale (e.g. [1.333]: 96 -> 128); fit
    # calibrates with and without them and keeps them only when the held-out estimate is higher ([]: not tried)


@dataclass
class LiveMatchConfig:
    """The whole run's config; each stage's section is added by the package that owns it."""

    data: DataConfig = field(default_factory=DataConfig)
    weights: WeightsConfig = field(default_factory=WeightsConfig)
    media: MediaConfig = field(default_factory=MediaConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    embedder: EmbedderConfig = field(default_factory=EmbedderConfig)
    matcher: MatcherConfig = field(default_factory=MatcherConfig)
    run: RunConfig = field(default_factory=RunConfig)
    fit: FitConfig = field(default_factory=FitConfig)


def load_config(path=None, overrides=(), schema: type = LiveMatchConfig, layers=()):
    """Build ``schema``'s defaults, merge the mappings in ``layers`` (e.g. a checkpoint's own
    sections), the YAML file at ``path`` (if any), then the dotted ``overrides``
    (``["media.backend=pyav", ...]``). Returns an instance of ``schema`` (plain dataclasses all
    the way down, every value type-checked). Relative weights paths in the file are read against
    the file's folder when they exist there (a fit output folder works from anywhere), else
    against the current directory."""
    cfg = OmegaConf.structured(schema)
    try:
        for layer in layers:
            cfg = OmegaConf.merge(cfg, layer)
        if path is not None:
            cfg = OmegaConf.merge(cfg, _read_yaml(Path(path)))
    except OmegaConfBaseException as e:
        where = f" in {path}" if path is not None else ""
        raise ConfigError(f"invalid config{where}: key {getattr(e, 'full_key', None)!r}: {_reason(e)}") from None
    for item in overrides:  # one at a time: an error names the override that caused it
        cfg = _override(cfg, item)
    out = OmegaConf.to_object(cfg)
    if isinstance(out, LiveMatchConfig):
        _check_choices(out, path, overrides)
        if path is not None:
            _resolve_weights(out.weights, Path(path).parent)
    return out


# fit.recipe -> the embedder and detector recipes under configs/ it trains from.
FIT_RECIPES = {"lite0": ("embedder/lite0.yaml", "detector/lite0.yaml"),
               "tiny": ("embedder/tiny.yaml", "detector/tiny.yaml"),
               "reference": ("embedder/reference_b5a.yaml", "detector/reference_vovnet99.yaml")}
FIT_CHOICES = {"recipe": tuple(FIT_RECIPES), "split_by": ("auto", "", *SPLITS),
               "train_calibration": ("auto", "always", "never")}


def _override(cfg, item: str):
    """``cfg`` with one dotted override ``key=value`` merged; a bad one is a ``ConfigError`` that
    quotes it, says it came from the command line and what the key takes."""
    if "=" not in item:
        raise ConfigError(f"invalid override {item!r} on the command line: write key=value, e.g. media.backend=pyav")
    key = item.split("=", 1)[0].strip()
    try:
        return OmegaConf.merge(cfg, OmegaConf.from_dotlist([item]))
    except OmegaConfBaseException as e:
        try:
            node = OmegaConf.select(cfg, key, throw_on_missing=False)
        except OmegaConfBaseException:
            node = None
        if node is None and not _has_key(cfg, key):
            raise ConfigError(f"invalid override {item!r} on the command line: no key {key!r} "
                              "(`livematch config` lists them)") from None
        kind = type(node).__name__
        takes = (f"a section: set its keys, e.g. {key}.{next(iter(node))}=..." if OmegaConf.is_dict(node) and len(node)
                 else f"a list, e.g. {key}=[...]" if OmegaConf.is_list(node)
                 else f"one of {', '.join(m.value for m in type(node))}" if isinstance(node, Enum)
                 else f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}, e.g. {key}={node!r}")
        raise ConfigError(f"invalid override {item!r} on the command line: {key} takes {takes} "
                          f"({_reason(e)})") from None


def _has_key(cfg, key: str) -> bool:
    node = cfg
    for part in key.split("."):
        if not OmegaConf.is_dict(node) or part not in node:
            return False
        node = node[part]
    return True


def _check_choices(cfg: LiveMatchConfig, path, overrides=()) -> None:
    """Settings that take one of a few words (each stage's ``CHOICES``) fail at load, naming the
    key, the value, the choices and where the value came from (the command line or the file):
    a typo never costs a run."""
    from detector.config import CHOICES as DETECTOR
    from embedder.config import CHOICES as EMBEDDER
    from matcher.config import CHOICES as MATCHER_CONFIG
    from matcher.voting import CHOICES as VOTING
    MATCHER = {**MATCHER_CONFIG, **VOTING}
    for section, choices in (("detector", DETECTOR), ("embedder", EMBEDDER), ("matcher", MATCHER),
                             ("fit", FIT_CHOICES)):
        for key, allowed in choices.items():
            value = getattr(cfg, section)
            for part in key.split("."):
                value = getattr(value, part)
            if value not in allowed:
                given = any(o.split("=", 1)[0].strip() == f"{section}.{key}" for o in overrides)
                where = " on the command line" if given else f" in {path}" if path is not None else ""
                raise ConfigError(f"invalid config{where}: {section}.{key} is {value!r}; choose one of "
                                  f"{', '.join(repr(a) if not a else a for a in allowed)}")


def _resolve_weights(weights: WeightsConfig, folder: Path) -> None:
    def resolve(p: str) -> str:
        """Relative to the config's folder; a path found only relative to the working directory
        stays as written (older configs); one found nowhere names where the config points."""
        if p and not Path(p).is_absolute() and ((folder / p).exists() or not Path(p).exists()):
            return os.path.normpath(folder / p)
        return p
    weights.detector = resolve(weights.detector)
    weights.embedders = [resolve(p) for p in weights.embedders]
    weights.worn = resolve(weights.worn)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a mapping of sections, got {type(data).__name__}")
    return data


def _reason(e: OmegaConfBaseException) -> str:
    return str(e).splitlines()[0]


def to_yaml(cfg) -> str:
    """A config (dataclass instance) as YAML, to save beside checkpoints and outputs."""
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


# What a checkpoint knows best about running it: the sizes it was trained at. A run takes these from
# its checkpoints unless its config file or an override sets them.
CHECKPOINT_SETTINGS = {"detector": {"infer": ("photo_short_side", "frame_short_side")},
                       "embedder": {"extract": ("scale",), "data": ("crop_margin",)}}


def run_config(path=None, overrides=(), detector=None, embedders=()) -> LiveMatchConfig:
    """The config ``livematch run`` and the Python API run with: defaults <- each model
    checkpoint's own input sizes and crop settings (``CHECKPOINT_SETTINGS``; the first embedder's
    for an ensemble) <- the file at ``path`` <- ``overrides``. ``detector`` / ``embedders``
    (else the config's ``weights``) name the checkpoints."""
    from ground.checkpoint import read_config
    first = load_config(path, overrides)
    found = {"detector": detector or first.weights.detector,
             "embedder": (list(embedders or ()) or first.weights.embedders or [""])[0]}
    schemas = {"detector": DetectorConfig, "embedder": EmbedderConfig}
    layers = []
    for package, folder in found.items():
        if not folder:
            continue
        saved = read_config(folder, schemas[package])
        layers.append({package: {part: {name: getattr(getattr(saved, part), name) for name in names}
                                 for part, names in CHECKPOINT_SETTINGS[package].items()}})
    return load_config(path, overrides, layers=layers) if layers else first
