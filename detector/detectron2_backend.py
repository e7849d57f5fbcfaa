"""Optional detectron2 backend (the reference solution's framework), behind the torchvision
calling convention: ``model(list of (3, H, W) float RGB in [0, 1])`` returns, in eval mode, one
``{"boxes", "scores", "labels"}`` per image in that image's pixels. Inference only: train with
detectron2's own tools and point ``model.detectron2_weights`` at the result.

detectron2 is not on PyPI: build it from its source repository (facebookresearch/detectron2)
with ``pip install --no-build-isolation <source>`` after torch, plus ``fvcore``,
``iopath<0.1.10`` and ``setuptools<81``. Nothing else in LiveMatch imports it.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from detector.config import DetModelConfig
from ground.errors import LiveMatchError

INSTALL = (
    "detectron2 is not installed; build it from its source repository "
    "(facebookresearch/detectron2): pip install --no-build-isolation <source folder>, "
    "with torch installed first and fvcore, 'iopath<0.1.10', 'setuptools<81'; "
    "or use detector.model.backend=torchvision"
)


class DetectorBackendError(LiveMatchError):
    """The requested detector backend cannot be used here."""


def available() -> bool:
    try:
        import detectron2  # noqa: F401
    except ImportError:
        return False
    return True


class _Resize:
    """Stands in for torchvision's transform: ``predict`` sets ``min_size`` / ``max_size``."""

    def __init__(self, min_size: int, max_size: int):
        self.min_size, self.max_size = (min_size,), max_size


class Detectron2Detector(nn.Module):
    def __init__(self, d2_model: nn.Module, min_size: int, max_size: int):
        super().__init__()
        self.model = d2_model
        self.transform = _Resize(min_size, max_size)

    @torch.no_grad()
    def forward(self, images, targets=None):
        if targets is not None:
            raise DetectorBackendError(
                "the detectron2 backend is inference-only here; train with detectron2's tools"
            )
        import torch.nn.functional as F

        inputs = []
        for im in images:
            h, w = im.shape[1:]
            scale = min(self.transform.min_size[0] / min(h, w), self.transform.max_size / max(h, w))
            resized = F.interpolate(
                im[None], scale_factor=scale, mode="bilinear", align_corners=False
            )[0]
            bgr = (resized.flip(0) * 255.0).clamp(0, 255)  # detectron2 models default to BGR 0-255
            inputs.append({"image": bgr, "height": h, "width": w})
        outputs = self.model(inputs)
        return [
            {
                "boxes": o["instances"].pred_boxes.tensor,
                "scores": o["instances"].scores,
                "labels": o["instances"].pred_classes + 1,
            }
            for o in outputs
        ]


def load_detectron2_weights(model: nn.Module, path) -> None:
    """Weights of a detectron2 model from ``.safetensors`` or a ``.pth`` written by detectron2's
    trainer (``{"model": state_dict, ...}``), read with ``torch.load(weights_only=True)``.
    Pickled ``.pkl`` files (the model zoo's Detectron1 conversions) are refused: unpickling can
    run code. Convert such a file once, where it is trusted, to ``.pth`` or ``.safetensors``."""
    from ground.checkpoint import load_state, load_weights

    path = Path(path)
    if not path.is_file():
        raise DetectorBackendError(f"{path}: detectron2 weights file not found")
    if path.suffix == ".safetensors":
        return load_weights(model, path, "detectron2 model")
    if path.suffix not in (".pth", ".pt"):
        raise DetectorBackendError(
            f"{path}: detectron2 weights must be .safetensors or .pth (a .pkl is "
            f"unpickled by detectron2, which can run code; convert it once to .pth)"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  (pickle refuses non-tensor objects with many types)
        raise DetectorBackendError(
            f"{path}: not a plain weights file ({type(e).__name__}: {e})"
        ) from None
    state = state.get("model", state) if isinstance(state, dict) else state
    if not isinstance(state, dict):
        raise DetectorBackendError(f"{path}: holds no state dict")
    load_state(model, state, path, "detectron2 model")


def build_detectron2(cfg: DetModelConfig) -> Detectron2Detector:
    """A detectron2 model from ``detectron2_config`` (+ ``detectron2_weights``), eval mode."""
    if not available():
        raise DetectorBackendError(INSTALL)
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model

    if not cfg.detectron2_config:
        raise DetectorBackendError(
            "detector.model.detectron2_config must name a detectron2 YAML config file"
        )
    d2 = get_cfg()
    d2.merge_from_file(cfg.detectron2_config)
    d2.MODEL.DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
    model = build_model(d2)
    if cfg.detectron2_weights:
        load_detectron2_weights(model, cfg.detectron2_weights)
    return Detectron2Detector(model.eval(), cfg.min_size, cfg.max_size).eval()
