import numpy as np
import pytest
import torch

from detector.checkpoint import load_detector
from detector.data import DetectionDataset, detection_samples, split_by_source
from detector.infer import predict
from detector.model import build_detector
from detector.train import train_detector
from ground.dataset import load_dataset
from ground.errors import TrainingError
from ground.media import read_photo
from ground.summary import RunSummary
from livematch.config import load_config

OVERRIDES = [
    "detector.model.backbone=timm:mobilenetv3_small_050",
    "detector.model.fpn_channels=32",
    "detector.model.representation_size=64",
    "detector.model.rpn_pre_nms_top_n_train=200",
    "detector.model.rpn_post_nms_top_n_train=100",
    "detector.model.rpn_pre_nms_top_n_test=100",
    "detector.model.rpn_post_nms_top_n_test=50",
    "detector.model.box_batch_size_per_image=64",
    "detector.model.anchor_sizes=[16,32,64,128,256]",
    "detector.train.short_sides=[128,160]",
    "detector.train.batch_size=4",
    "detector.train.workers=0",
    "detector.train.lr=0.01",
    "detector.train.warmup_steps=2",
    "detector.infer.frame_short_side=160",
]


@pytest.fixture(scope="module")
def samples(sample_root, tmp_path_factory):
    cfg = load_config(None, OVERRIDES)
    summary = RunSummary()
    data = detection_samples(
        load_dataset(sample_root, probe_media=False),
        ["garment"],
        tmp_path_factory.mktemp("frames"),
        summary,
    )
    return cfg.detector, data, summary


def test_samples_cover_photos_and_annotated_frames(samples, sample_root):
    _, data, summary = samples
    ds = load_dataset(sample_root, probe_media=False)
    assert len(data) == len(ds.photos()) + sum(len(v.frames) for v in ds.videos.values())
    assert all(len(s.boxes) == len(s.labels) and (s.labels == 1).all() for s in data)
    train, val = split_by_source(data, 0.3)
    assert train and val and not {s.source for s in train} & {s.source for s in val}
    assert split_by_source(list(reversed(data)), 0.3)[1] == list(
        reversed(val)
    )  # stable under order


def test_hflip_mirrors_the_boxes(samples):
    _, data, _ = samples
    s = next(d for d in data if len(d.boxes))
    image, target = DetectionDataset([s], hflip=1.0)[0]
    w = image.shape[2]
    np.testing.assert_allclose(target["boxes"][:, [0, 2]].numpy(), w - s.boxes[:, [2, 0]])
    np.testing.assert_allclose(
        image.numpy(), (read_photo(s.path)[:, ::-1].transpose(2, 0, 1) / 255.0), atol=1e-6
    )


def test_training_lowers_the_loss_and_checkpoints_round_trip(samples, tmp_path):
    cfg, data, _ = samples
    cfg.train.epochs = 3
    small = data[:24]
    result = train_detector(cfg, small, [], tmp_path / "run", progress=False)
    losses = [r["loss"] for r in result.history]
    assert losses[-1] < losses[0]
    model, saved = load_detector(result.checkpoint)
    image = read_photo(small[0].path)
    a, b = predict(model, [image], 160, 0.0)[0], predict(result.model.eval(), [image], 160, 0.0)[0]
    assert len(b.boxes)  # the trained model finds something at threshold 0
    torch.manual_seed(cfg.train.seed)  # the initial weights, as train_detector built them
    start = build_detector(cfg.model).roi_heads.box_predictor.cls_score.weight
    trained = result.model.roi_heads.box_predictor.cls_score.weight.detach().cpu()
    assert (trained - start).abs().max() > 1e-4  # the optimizer moved the head
    np.testing.assert_allclose(
        a.boxes, b.boxes, atol=1e-3
    )  # the checkpoint holds the model training ended with
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-4)
    assert saved.model.backbone == cfg.model.backbone


def test_resume_continues_the_schedule(samples, tmp_path):
    cfg, data, _ = samples
    cfg.train.epochs = 2
    first = train_detector(cfg, data[:12], [], tmp_path / "run", progress=False, max_steps=3)
    assert first.history[-1]["epoch"] == 1
    resumed = train_detector(cfg, data[:12], data[12:16], tmp_path / "run", progress=False)
    assert [r["epoch"] for r in resumed.history] == [2]
    assert resumed.history[0]["step"] == 3 + 3  # 12 images / batch 4 = 3 steps per epoch
    assert "AP50" in resumed.history[0]


def test_a_resumed_training_ends_where_an_uninterrupted_one_does(samples, tmp_path):
    cfg, data, _ = samples
    cfg.train.epochs = 2
    whole = train_detector(cfg, data[:12], [], tmp_path / "whole", progress=False)
    train_detector(
        cfg, data[:12], [], tmp_path / "cut", progress=False, max_steps=3
    )  # killed after epoch 1
    resumed = train_detector(cfg, data[:12], [], tmp_path / "cut", progress=False)
    a, b = whole.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys()
    for name in a:  # weights, and the optimizer / scheduler state that produced them
        torch.testing.assert_close(a[name].float(), b[name].float(), rtol=1e-4, atol=1e-5, msg=name)
    assert whole.history[-1]["lr"] == pytest.approx(resumed.history[-1]["lr"])


def test_empty_training_set_is_an_error(samples, tmp_path):
    cfg, _, _ = samples
    with pytest.raises(TrainingError, match="no training images"):
        train_detector(cfg, [], [], tmp_path)
