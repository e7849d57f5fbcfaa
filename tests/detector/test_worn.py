"""The worn scorer: context crops, training on a built case, checkpoints, annotated samples."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from detector.config import WornConfig
from detector.worn import context_crop, fit_worn, load_worn, score_worn, worn_samples
from ground.dataset import load_dataset
from ground.errors import DatasetError
from livematch.export import export_checkpoint
from tests.conftest import all_worn


def test_context_crop_widens_the_box_and_marks_it():
    image = np.zeros((200, 300, 3), np.uint8)
    image[50:150, 100:200] = (200, 30, 30)  # the box
    image[20:50, 130:170] = (30, 200, 30)  # something just above it
    crop = context_crop(image, (100, 50, 200, 150), size=66, context=0.5)
    assert crop.shape == (66, 66, 4) and crop.dtype == np.uint8
    mask = crop[..., 3] > 0
    assert (
        mask[16:50, 16:50].all() and not mask[:15].any() and not mask[:, 51:].any()
    )  # the middle half
    assert tuple(crop[33, 33, :3]) == (200, 30, 30)
    assert crop[8, 33, 1] == 200  # the context above the box is in the crop
    edge = context_crop(image, (0, 0, 100, 100), size=64, context=0.5)
    assert (edge[:10, :10, :3] == 0).all()  # outside the image: black


def _scene(rng, worn: bool):
    """A garment box on a grey backdrop; worn ones have a skin-coloured head above them."""
    image = np.full((160, 160, 3), 90, np.uint8)
    x, y = int(rng.integers(30, 70)), int(rng.integers(50, 80))
    image[y : y + 60, x : x + 50] = rng.integers(0, 255, 3)
    if worn:
        image[y - 25 : y - 3, x + 15 : x + 35] = (230, 180, 150)
    return image, (x, y, x + 50, y + 60)


def test_the_scorer_learns_a_built_case_and_its_checkpoint_scores_the_same(tmp_path):
    cfg = WornConfig(size=32, widths=[8, 16], epochs=6, batch_size=32, lr=1e-2)
    rng = np.random.default_rng(0)
    scenes = [_scene(rng, k % 2 == 0) for k in range(240)]
    crops = np.stack([context_crop(im, box, cfg.size, cfg.context) for im, box in scenes])
    targets = np.array([k % 2 == 0 for k in range(240)], np.float32)
    result = fit_worn(cfg, crops, targets, tmp_path / "worn", progress=False)
    test = [_scene(rng, k % 2 == 0) for k in range(60)]
    model = result.model.eval()
    probs = np.concatenate([score_worn(model, cfg, im, [box]) for im, box in test])
    assert roc_auc_score([k % 2 == 0 for k in range(60)], probs) > 0.95
    export_checkpoint(result.checkpoint, tmp_path / "exported")
    loaded, loaded_cfg = load_worn(tmp_path / "exported")
    assert loaded_cfg == cfg
    again = np.concatenate([score_worn(loaded, loaded_cfg, im, [box]) for im, box in test])
    np.testing.assert_allclose(again, probs, atol=2e-3)  # fp16 export
    assert len(score_worn(loaded, loaded_cfg, test[0][0], [])) == 0


def test_samples_follow_the_display_field_and_need_both_kinds(sample_root, tmp_path):
    cfg = WornConfig(size=32, copies=2)
    ds = load_dataset(sample_root, probe_media=False)
    crops, targets = worn_samples(ds, cfg)
    anns = [a for v in ds.videos.values() for frame in (v.frames or {}).values() for a in frame]
    assert crops.shape == (2 * len(anns), 32, 32, 4)
    assert targets.sum() == 2 * sum(a.display == 0 for a in anns) and 0 < targets.mean() < 1
    root = all_worn(sample_root, tmp_path / "worn_only")
    with pytest.raises(DatasetError, match=f"{root}.*both worn"):
        worn_samples(load_dataset(root, probe_media=False), cfg)


def test_a_pretrained_backbone_scorer_starts_from_imagenet_and_reloads_without_the_package(
    tmp_path, monkeypatch
):
    """detector.worn.backbone / weights: a timm backbone with a 4-channel stem adapted from the
    packaged ImageNet file; its checkpoint reloads from its own weights, never the package's."""
    import torch

    from detector.worn import TimmWorn, build_worn
    from ground import pretrained
    from ground.checkpoint import save_checkpoint

    cfg = WornConfig(backbone="tf_efficientnet_lite0", weights="imagenet")
    model = build_worn(cfg).eval()
    stem = pretrained.resolve_weights("imagenet", "tf_efficientnet_lite0")["conv_stem.weight"]
    assert isinstance(model, TimmWorn) and model.net.conv_stem.weight.shape[1] == 4
    assert torch.allclose(
        model.net.conv_stem.weight[:, :3] * 4 / 3, stem
    )  # timm's channel adaptation
    save_checkpoint(tmp_path / "worn", {"model": model}, cfg, {"kind": "worn", "epoch": 1})

    def offline(source, arch):
        assert not source, "a checkpoint must not read the packaged weights"

    monkeypatch.setattr(pretrained, "resolve_weights", offline)
    loaded, _ = load_worn(tmp_path / "worn")
    x = torch.rand(2, 4, 64, 64)
    assert torch.allclose(loaded(x), model(x), atol=1e-5)
