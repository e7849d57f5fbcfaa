"""Two-class detectors (``model.split_by``): garments split by instance_id or by display,
fine-tuning from a one-class checkpoint, and keeping only some classes at inference."""

import numpy as np
import pytest
import torch

from detector.checkpoint import init_detector
from detector.config import SPLITS, DetectorConfig, DetInferConfig, DetModelConfig
from detector.data import detection_samples
from detector.infer import kept_labels, predict
from detector.model import build_detector, class_ids, class_names
from detector.train import train_detector
from ground.checkpoint import CheckpointError, save_checkpoint
from ground.dataset import load_dataset
from ground.errors import ConfigError
from ground.summary import RunSummary

SMALL = dict(
    backbone="timm:mobilenetv3_small_050",
    fpn_channels=32,
    representation_size=64,
    rpn_pre_nms_top_n_test=100,
    rpn_post_nms_top_n_test=50,
    min_size=128,
    max_size=256,
)


@pytest.mark.parametrize(
    "split, first",
    [("instance", lambda a: a.instance_id > 0), ("display", lambda a: a.display == 0)],
)
def test_classes_follow_the_split(sample_root, tmp_path, split, first):
    ds = load_dataset(sample_root, probe_media=False)
    data = detection_samples(
        ds, class_names(DetModelConfig(split_by=split)), tmp_path, RunSummary()
    )
    anns = [a for p in ds.photos() for a in p.annotations]
    anns += [a for v in ds.videos.values() for frame in v.frames.values() for a in frame]
    labels = np.concatenate([s.labels for s in data])
    assert labels.tolist() == [1 if first(a) else 2 for a in anns]
    assert (labels == 1).any() and (labels == 2).any()  # the sample clips have racks of other items


def test_class_names_and_ids():
    assert class_names(DetModelConfig(split_by="instance")) == ["product", "other"]
    assert class_names(DetModelConfig(split_by="display")) == ["worn", "alone"]
    with pytest.raises(ConfigError, match="class_agnostic"):
        class_names(DetModelConfig(split_by="display", class_agnostic=False))
    with pytest.raises(ConfigError, match="split_by is 'colour'"):
        class_names(DetModelConfig(split_by="colour"))
    assert class_ids(["product", "other"], ["other"], "x") == [2]
    assert class_ids(["product", "other"], [], "x") is None
    with pytest.raises(ConfigError, match="detector.infer.frame_classes.*garment"):
        kept_labels(DetModelConfig(split_by="display"), DetInferConfig(frame_classes=["garment"]))
    assert kept_labels(
        DetModelConfig(split_by="display"), DetInferConfig(frame_classes=["worn"])
    ) == (None, [1])


def test_predict_keeps_only_the_asked_labels():
    torch.manual_seed(0)
    model = build_detector(DetModelConfig(split_by="display", **SMALL)).eval()
    frame = (np.random.default_rng(0).random((160, 240, 3)) * 255).astype(np.uint8)
    every = predict(model, [frame], 128, 0.0)[0]
    assert set(every.labels.tolist()) == {1, 2}
    for label in (1, 2):
        only = predict(model, [frame], 128, 0.0, labels=[label])[0]
        assert len(only) == (every.labels == label).sum() and (only.labels == label).all()


def test_fine_tuning_from_a_one_class_checkpoint_keeps_all_but_the_class_head(tmp_path):
    torch.manual_seed(0)
    one = build_detector(DetModelConfig(**SMALL))
    save_checkpoint(
        tmp_path / "one", {"model": one}, DetectorConfig(model=DetModelConfig(**SMALL)), {}
    )
    cfg = DetectorConfig(model=DetModelConfig(split_by="display", **SMALL))
    two = build_detector(cfg.model)
    fresh_head = {
        k: v.clone()
        for k, v in two.state_dict().items()
        if k.startswith("roi_heads.box_predictor.")
    }
    fresh = init_detector(two, tmp_path / "one", cfg)
    assert (
        sorted(fresh) == sorted(fresh_head) and len(fresh) == 4
    )  # cls_score and bbox_pred, weight and bias
    theirs, ours = one.state_dict(), two.state_dict()
    for k, v in ours.items():
        torch.testing.assert_close(v, fresh_head[k] if k in fresh_head else theirs[k])
    other = DetectorConfig(model=DetModelConfig(**{**SMALL, "backbone": "timm:resnet18"}))
    with pytest.raises(CheckpointError, match="does not fit"):
        init_detector(build_detector(other.model), tmp_path / "one", other)
    with pytest.raises(CheckpointError, match="missing"):
        init_detector(two, tmp_path / "nowhere", cfg)


def test_training_from_init_starts_where_the_checkpoint_is(sample_root, tmp_path):
    torch.manual_seed(0)
    base = DetectorConfig(model=DetModelConfig(**SMALL))
    base.train.short_sides, base.train.workers, base.train.epochs = [128], 0, 1
    ds = load_dataset(sample_root, probe_media=False)
    data = detection_samples(ds, ["garment"], tmp_path / "frames", RunSummary())[:8]
    first = train_detector(base, data, [], tmp_path / "one", progress=False)
    cfg = DetectorConfig(model=DetModelConfig(split_by="display", **SMALL), train=base.train)
    split = detection_samples(ds, list(SPLITS["display"]), tmp_path / "frames", RunSummary())[:8]
    scratch = train_detector(cfg, split, [], tmp_path / "scratch", progress=False, max_steps=1)
    tuned = train_detector(
        cfg, split, [], tmp_path / "tuned", progress=False, max_steps=1, init_from=first.checkpoint
    )
    # the trained RPN and box regression carry over: the first step's losses are lower than from
    # scratch
    assert tuned.history[0]["loss_objectness"] < scratch.history[0]["loss_objectness"]
