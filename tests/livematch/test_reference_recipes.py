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


@pytest.mark.parametrize(
    "name, backbone, epochs, batch, memory, gem_trainable, seed",
    [
        ("reference_b5a", "tf_efficientnet_b5", 10, 32, 0, False, 12536),
        ("reference_b5b", "tf_efficientnet_b5", 10, 32, 0, False, 45678),
        ("reference_b6", "tf_efficientnet_b6", 7, 32, 256, True, 12536),
        ("reference_b7", "tf_efficientnet_b7", 7, 24, 512, False, 12536),
    ],
)
def test_embedder_recipes_are_the_authors_scripts(
    name, backbone, epochs, batch, memory, gem_trainable, seed
):
    """metric_sub/src_train/train_net_<name>.py, value by value (docs/METHOD.md)."""
    cfg = load_config(CONFIGS / "embedder" / f"{name}.yaml").embedder
    m, loss, data, o = cfg.model, cfg.loss, cfg.data, cfg.optim
    assert m.backbone.split(".")[0] == backbone and (m.pool, m.gem_p, m.gem_trainable) == (
        "gem",
        3.0,
        gem_trainable,
    )
    assert (loss.head, loss.scale) == ("arcface", 30.0) and math.isclose(
        math.radians(loss.margin), 0.30, abs_tol=1e-3
    )
    assert loss.xbm == bool(memory) and (
        not memory or (loss.xbm_loss, loss.xbm_memory, loss.xbm_start) == ("head", memory, 0)
    )
    assert (o.optimizer, o.lr, o.weight_decay, o.head_lr_mult) == ("adamw", 3.5e-4, 0.0, 1.0)
    assert (o.warmup_fraction, o.warmup_factor, o.decay, o.clip_grad, o.epochs, o.seed) == (
        0.025,
        0.0,
        "cosine",
        0,
        epochs,
        seed,
    )
    assert (data.batch_size, data.p_identities, data.k_per_identity) == (batch, 0, 0)
    assert data.aspect_buckets == pytest.approx(
        [0.25, 0.335, 0.415, 0.5, 0.572, 0.669, 0.8, 1.0, 1.25, 1.496, 1.748, 2.0], abs=1e-3
    )
    assert o.select == "last" and cfg.extract.scale == data.scales[0] == 288


@pytest.mark.parametrize(
    "stage, steps, batch, lr, decay, warmup, sides, max_size",
    [
        ("", 60000, 4, 0.003, "none", 1000, (414, 576), 800),
        ("_stage2", 60000, 2, 0.003, "cosine", 0, (540, 800), 1100),
        ("_stage3", 125000, 2, 0.0003, "cosine", 0, (540, 800), 1100),
    ],
)
def test_detector_recipes_are_the_authors_configs(
    stage, steps, batch, lr, decay, warmup, sides, max_size
):
    """bbox_sub/config/one_cls_faster_rcnn_V_99_FPN{,_2,_3}.yaml over detectron2's defaults."""
    cfg = load_config(CONFIGS / "detector" / f"reference_vovnet99{stage}.yaml").detector
    m, t = cfg.model, cfg.train
    assert m.backbone == "timm:ese_vovnet99b" and m.class_agnostic and not m.split_by
    assert (m.rpn_pre_nms_top_n_train, m.rpn_post_nms_top_n_train, m.box_batch_size_per_image) == (
        2000,
        1000,
        512,
    )
    assert (t.steps, t.batch_size, t.lr, t.decay, t.warmup_steps, t.clip_grad) == (
        steps,
        batch,
        lr,
        decay,
        warmup,
        0,
    )
    assert (min(t.short_sides), max(t.short_sides), m.max_size) == (*sides, max_size)
    assert (t.momentum, t.weight_decay) == (0.9, 1e-4)
    assert (cfg.infer.photo_threshold, cfg.infer.frame_threshold, cfg.infer.frame_short_side) == (
        0.9,
        0.95,
        608,
    )


def test_embedder_head_is_linear_then_batchnorm():
    from embedder.model import build_embedder

    model = build_embedder(load_config(None, ["embedder.model.backbone=resnet18"]).embedder.model)
    assert isinstance(model.fc, torch.nn.Linear) and model.fc.out_features == 512
    assert isinstance(model.bn, torch.nn.BatchNorm1d)
