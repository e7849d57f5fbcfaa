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

from detector.config import SPLITS, DetectorConfig
from embedder.config import EmbedderConfig
from ground.errors import ConfigError
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

    #: written by run into OUT/config.yaml: what it ran on
    roots: list[str] = field(default_factory=list)
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

    #: DataLoader processes decoding photos and clips while the models compute; 0 = in process
    workers: int = 2
    prefetch: int = 2  # items / clips each worker decodes ahead
    #: decoded images of several items / clips gathered for one pass of the models
    batch_images: int = 16
    dist_timeout_min: int = 720  # how long rank 0 waits for the slowest rank before merging
    #: return freed heap to the system after each pass (glibc); keeps memory flat
    trim_memory: bool = True


@dataclass
class FinetuneConfig:
    """``livematch fit --init-from``: how long and how fast the shipped models are adapted."""

    #: embedder fine-tuning epochs (0: keep the --init-from embedder as it is)
    embedder_epochs: int = 10
    embedder_lr: float = 5.0e-4  # embedder fine-tuning learning rate
    #: detector fine-tuning epochs (0: keep the --init-from detector as it is)
    detector_epochs: int = 2
    detector_lr: float = 0.01  # detector fine-tuning learning rate


_THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
_CUTOFFS = (0.1, 0.3, 0.5, 0.7, 0.9)
_TRUST = (0.5, 0.7, 0.8, 0.9, 0.95)


@dataclass
class FitConfig:
    """What ``livematch fit`` trains and how it calibrates the inference settings on VAL
    (docs/FIT.md). How the calibration searches, estimates and decides (rounds, vote rules, cuts
    of a root, the estimate's interval) is :class:`livematch.calibration.Procedure`, which fit
    passes explicitly (the benchmarks vary it)."""

    #: models trained without --init-from: lite0 (CPU, ImageNet start) | tiny | reference (GPU)
    recipe: str = "lite0"
    #: detector classes: auto | display (worn / alone) | instance (product / other) | "" (one)
    split_by: str = "auto"
    #: with --init-from: epochs and lr
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    #: photo / frame thresholds tried
    thresholds: list[float] = field(default_factory=lambda: list(_THRESHOLDS))
    worn: bool = True  # train the worn scorer where TRAIN's frames annotate worn and alone garments
    #: worn cut-offs tried (and 0: off)
    worn_cutoffs: list[float] = field(default_factory=lambda: list(_CUTOFFS))
    #: detector scores tried for frame_trust_worn
    worn_trust: list[float] = field(default_factory=lambda: list(_TRUST))
    #: print the held-out estimate: each VAL split scored at settings calibrated without it
    holdout: bool = True
    #: a root that is cut (one VAL root for the estimate, TRAIN's roots) is cut into this many parts
    parts: int = 2
    #: TRAIN's clips calibrate too: auto (with one or two --val roots) | always | never
    train_calibration: str = "auto"
    #: test-time crop sizes tried (x train scale), kept if better
    tta_scales: list[float] = field(default_factory=list)


# fit.* keys that are gone, and what to do instead: a config or override naming one fails with this.
RETIRED = {
    "fit.min_gain": "fit moves a setting on any VAL gain",
    "fit.vote_rules": "fit calibrates the written/greedy vote",
    "fit.rounds": (
        "fit runs two rounds of coordinate ascent, stopping early when a round changes nothing"
    ),
    "fit.region_coverage": "the frame region keeps 98% of TRAIN's sold garments",
    "fit.max_val_images": "set detector.train.max_val_images",
    "fit.holdout_parts": "use fit.parts",
    "fit.train_parts": "use fit.parts",
    "fit.holdout_cuts": "one VAL root is cut three ways",
    "fit.holdout_min_clips": "a part needs 5 clips that sell a listed item",
    "fit.train_max_val_roots": "fit.train_calibration=auto adds TRAIN with one or two --val roots",
    "fit.train_max_clips": "at most 100 clips of each TRAIN root calibrate",
    "fit.finetune.warmup_steps": "set embedder.optim.warmup_steps / detector.train.warmup_steps",
}


def _retired(key: str, where: str) -> None:
    if key in RETIRED:
        raise ConfigError(f"invalid config{where}: {key} was removed on 2026-12-04: {RETIRED[key]}")


def _dotted_keys(data: dict, prefix: str = "") -> list[str]:
    """Every key of a nested YAML mapping, dotted (``fit``, ``fit.parts``, ...)."""
    keys = []
    for k, v in data.items():
        keys.append(f"{prefix}{k}")
        if isinstance(v, dict):
            keys += _dotted_keys(v, f"{prefix}{k}.")
    return keys


def _check_retired(data: dict, where: str) -> None:
    """A YAML mapping naming a :data:`RETIRED` key fails with what to do instead."""
    for key in _dotted_keys(data):
        _retired(key, where)


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
            data = _read_yaml(Path(path))
            _check_retired(data, f" in {path}")
            cfg = OmegaConf.merge(cfg, data)
    except OmegaConfBaseException as e:
        where = f" in {path}" if path is not None else ""
        raise ConfigError(
            f"invalid config{where}: key {getattr(e, 'full_key', None)!r}: {_reason(e)}"
        ) from None
    for item in overrides:  # one at a time: an error names the override that caused it
        cfg = _override(cfg, item)
    out = OmegaConf.to_object(cfg)
    if isinstance(out, LiveMatchConfig):
        _check_choices(out, path, overrides)
        _check_text(out.matcher, path)
        if path is not None:
            _resolve_weights(out.weights, Path(path).parent)
    return out


# fit.recipe -> the embedder and detector recipes under configs/ it trains from.
FIT_RECIPES = {
    "lite0": ("embedder/lite0.yaml", "detector/lite0.yaml"),
    "tiny": ("embedder/tiny.yaml", "detector/tiny.yaml"),
    "reference": ("embedder/reference_b5a.yaml", "detector/reference_vovnet99.yaml"),
}
FIT_CHOICES = {
    "recipe": tuple(FIT_RECIPES),
    "split_by": ("auto", "", *SPLITS),
    "train_calibration": ("auto", "always", "never"),
}


def _override(cfg, item: str):
    """``cfg`` with one dotted override ``key=value`` merged; a bad one is a ``ConfigError`` that
    quotes it, says it came from the command line and what the key takes."""
    if "=" not in item:
        raise ConfigError(
            f"invalid override {item!r} on the command line: write key=value, e.g. "
            "media.backend=pyav"
        )
    key = item.split("=", 1)[0].strip()
    _retired(key, f" on the command line ({item!r})")
    try:
        return OmegaConf.merge(cfg, OmegaConf.from_dotlist([item]))
    except OmegaConfBaseException as e:
        try:
            node = OmegaConf.select(cfg, key, throw_on_missing=False)
        except OmegaConfBaseException:
            node = None
        if node is None and not _has_key(cfg, key):
            raise ConfigError(
                f"invalid override {item!r} on the command line: no key {key!r} "
                "(`livematch config` lists them)"
            ) from None
        kind = type(node).__name__
        takes = (
            f"a section: set its keys, e.g. {key}.{next(iter(node))}=..."
            if OmegaConf.is_dict(node) and len(node)
            else f"a list, e.g. {key}=[...]"
            if OmegaConf.is_list(node)
            else f"one of {', '.join(m.value for m in type(node))}"
            if isinstance(node, Enum)
            else f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}, e.g. {key}={node!r}"
        )
        raise ConfigError(
            f"invalid override {item!r} on the command line: {key} takes {takes} ({_reason(e)})"
        ) from None


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
    from matcher import CHOICES as MATCHER

    for section, choices in (
        ("detector", DETECTOR),
        ("embedder", EMBEDDER),
        ("matcher", MATCHER),
        ("fit", FIT_CHOICES),
    ):
        for key, allowed in choices.items():
            value = getattr(cfg, section)
            for part in key.split("."):
                value = getattr(value, part)
            if value not in allowed:
                given = any(o.split("=", 1)[0].strip() == f"{section}.{key}" for o in overrides)
                where = (
                    " on the command line" if given else f" in {path}" if path is not None else ""
                )
                raise ConfigError(
                    f"invalid config{where}: {section}.{key} is {value!r}; choose one of "
                    f"{', '.join(repr(a) if not a else a for a in allowed)}"
                )


def _check_text(matcher, path) -> None:
    """The words' settings in range: ``voting.text_weight`` >= 0, ``1 <= text.ngram_min <=
    text.ngram_max``."""
    where = f" in {path}" if path is not None else ""
    text, weight = matcher.text, matcher.voting.text_weight
    if weight < 0:
        raise ConfigError(
            f"invalid config{where}: matcher.voting.text_weight is {weight}; use 0 (pictures "
            "alone) or a positive weight"
        )
    if not 1 <= text.ngram_min <= text.ngram_max:
        raise ConfigError(
            f"invalid config{where}: matcher.text.ngram_min {text.ngram_min} / ngram_max "
            f"{text.ngram_max}; need 1 <= ngram_min <= ngram_max"
        )


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
        raise ConfigError(
            f"{path}: a config must be a mapping of sections, got {type(data).__name__}"
        )
    return data


def _reason(e: OmegaConfBaseException) -> str:
    return str(e).splitlines()[0]


def to_yaml(cfg) -> str:
    """A config (dataclass instance) as YAML, to save beside checkpoints and outputs."""
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


# What a checkpoint supplies, the one rule for every command: its ``model`` section always (the
# weights are that model: architecture, classes, input normalisation), and the sizes it was trained
# at unless the config file or a command-line override sets them.
CHECKPOINT_SETTINGS = {
    "detector": {"infer": ("photo_short_side", "frame_short_side")},
    "embedder": {"extract": ("scale",), "data": ("crop_margin",)},
}


def given_keys(path=None, overrides=()) -> set[str]:
    """The dotted keys that the YAML file at ``path`` and the ``overrides`` set (a section set
    whole counts for every key under it)."""
    keys = {o.split("=", 1)[0].strip() for o in overrides or ()}
    return keys | set(_dotted_keys(_read_yaml(Path(path)))) if path is not None else keys


def use_checkpoints(
    cfg: LiveMatchConfig, detector=None, embedder=None, given=frozenset()
) -> LiveMatchConfig:
    """Set in ``cfg`` what the checkpoint folders ``detector`` / ``embedder`` supply
    (:data:`CHECKPOINT_SETTINGS`): their model sections, and their trained sizes except the keys
    in ``given`` (:func:`given_keys`). Returns ``cfg``."""
    from ground.checkpoint import read_config

    schemas = {"detector": DetectorConfig, "embedder": EmbedderConfig}
    for package, folder in (("detector", detector), ("embedder", embedder)):
        if not folder:
            continue
        saved, target = read_config(folder, schemas[package]), getattr(cfg, package)
        target.model = saved.model
        for part, names in CHECKPOINT_SETTINGS[package].items():
            for name in names:
                if not {f"{package}.{part}.{name}", f"{package}.{part}", package} & set(given):
                    setattr(getattr(target, part), name, getattr(getattr(saved, part), name))
    return cfg


def run_config(path=None, overrides=(), detector=None, embedders=()) -> LiveMatchConfig:
    """The config ``livematch run`` and the Python API run with: ``path`` and ``overrides`` over
    the defaults, then what the checkpoints supply (:func:`use_checkpoints`; the first embedder's
    for an ensemble). ``detector`` / ``embedders`` (else the config's ``weights``) name them."""
    cfg = load_config(path, overrides)
    embedder = (list(embedders or ()) or cfg.weights.embedders or [""])[0]
    return use_checkpoints(
        cfg, detector or cfg.weights.detector, embedder, given_keys(path, overrides)
    )


def field_notes(schema: type) -> dict[str, str]:
    """The one-line meaning of each field of dataclass ``schema``: the comment on its line in
    the source (a comment continued on the next lines is cut at the first line); for a field
    whose line has none, the ``#:`` comment lines right above it, joined (a note too long for
    the line)."""
    import inspect
    import re

    try:
        source = inspect.getsource(schema)
    except (OSError, TypeError):
        return {}
    notes, above = {}, []
    for line in source.splitlines():
        m = re.match(r"\s+(\w+): [^#]*#\s*(.+)$", line)
        if m:
            notes[m.group(1)] = m.group(2).strip()
        elif c := re.match(r"\s*#:\s*(.*)$", line):
            above.append(c.group(1).strip())
            continue
        elif above and (f := re.match(r"\s+(\w+): ", line)):
            notes[f.group(1)] = " ".join(above)
        above = []
    return notes


def annotated_yaml(cfg, indent: int = 0) -> str:
    """A config (dataclass instance) as YAML with each key's meaning (:func:`field_notes`) as an
    end-of-line comment: what ``livematch config`` prints."""
    from dataclasses import fields, is_dataclass

    notes, lines, pad = field_notes(type(cfg)), [], "  " * indent
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        note = f"  # {notes[f.name]}" if f.name in notes else ""
        if is_dataclass(value):
            lines.append(f"{pad}{f.name}:{note}")
            lines.append(annotated_yaml(value, indent + 1))
            continue
        plain = (
            OmegaConf.to_container(OmegaConf.create({"v": value}))["v"]
            if isinstance(value, (list, dict))
            else (value.value if isinstance(value, Enum) else value)
        )
        text = yaml.safe_dump(plain, default_flow_style=True, width=10**6).strip()
        text = text[:-4].rstrip() if text.endswith("\n...") else text.removesuffix("...").strip()
        lines.append(f"{pad}{f.name}: {text}{note}")
    return "\n".join(lines)
