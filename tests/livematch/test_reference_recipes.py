"""The reference method's numbers (the 7th-place solution's write-up) pinned, so that
an edit of a default or a recipe cannot drift from them silently."""
import math
from pathlib import Path

import pytest
import torch

from livematch.config import load_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_defaults_are_the_reference_values():
    cfg = load_config()
    assert cfg.media.infer_frames.indices() == list(range(80, 381, 20))  # 16 frames 80..380
    assert cfg.media.train_frames.indices() == list(range(80, 361, 40))
    inf = cfg.detector.infer
    assert (inf.photo_threshold, inf.frame_threshold, inf.frame_short_side) == (0.9, 0.95, 608)
    model, loss = cfg.embedder.model, cfg.embedder.loss
    assert (model.pool, model.embedding_dim, loss.head, loss.xbm) == ("gem", 512, "arcface", True)
    assert math.isclose(math.radians(loss.margin), 0.5, abs_tol=1e-3)
    vote = cfg.matcher.voting
    assert (vote.keep_fraction, vote.vote_fraction, vote.max_distance) == (0.28, 0.5, 1.12)
    assert (vote.item_box, vote.frame_box) == ("confidence", "confidence")


@pytest.mark.parametrize("name, backbone, scale", [("reference_b5", "tf_efficientnet_b5", 448),
                                                   ("reference_b6", "tf_efficientnet_b6", 480),
                                                   ("reference_b7", "tf_efficientnet_b7", 512)])
def test_embedder_recipes(name, backbone, scale):
    cfg = load_config(CONFIGS / "embedder" / f"{name}.yaml").embedder
    assert cfg.model.backbone.split(".")[0] == backbone and cfg.extract.scale == scale
    assert (cfg.model.pool, cfg.model.embedding_dim, cfg.loss.head, cfg.loss.xbm) == ("gem", 512, "arcface", True)


def test_detector_recipe_is_vovnet99_fpn():
    cfg = load_config(CONFIGS / "detector" / "reference_vovnet99.yaml").detector
    assert cfg.model.backbone == "timm:ese_vovnet99b"
    assert (cfg.infer.photo_threshold, cfg.infer.frame_threshold, cfg.infer.frame_short_side) == (0.9, 0.95, 608)


def test_embedder_head_is_linear_then_batchnorm():
    from embedder.model import build_embedder
    model = build_embedder(load_config(None, ["embedder.model.backbone=resnet18"]).embedder.model)
    assert isinstance(model.fc, torch.nn.Linear) and model.fc.out_features == 512
    assert isinstance(model.bn, torch.nn.BatchNorm1d)
