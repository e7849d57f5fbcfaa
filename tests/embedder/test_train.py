from dataclasses import replace

import pytest
import torch

from embedder.augment import build_augment
from embedder.checkpoint import load_embedder
from embedder.config import AugmentConfig, EmbedderConfig
from embedder.data import CropDataset
from embedder.evaluate import evaluate_crops
from embedder.train import TrainingError, train
from ground.checkpoint import CheckpointError
from ground.summary import RunSummary
from livematch.commands.embed import labelled_crops
from livematch.config import load_config

OVERRIDES = [
    "embedder.model.backbone=mobilenetv3_small_050",
    "embedder.model.embedding_dim=32",
    "embedder.data.scales=[64]",
    "embedder.data.batch_size=16",
    "embedder.data.workers=0",
    "embedder.data.p_identities=4",
    "embedder.data.k_per_identity=4",
    "embedder.loss.xbm_memory=64",
    "embedder.loss.xbm_start=4",
    "embedder.optim.lr=3e-3",
    "embedder.optim.warmup_steps=2",
    "embedder.extract.scale=64",
]


@pytest.fixture(scope="module")
def setup(sample_root, tmp_path_factory):
    cache = tmp_path_factory.mktemp("crops")
    cfg = load_config(None, OVERRIDES + [f"embedder.data.cache_dir={cache}"])
    summary = RunSummary()
    crops = labelled_crops([sample_root], cfg, summary, progress=False)
    return cfg.embedder, crops, summary


def no_augment(cfg: EmbedderConfig) -> EmbedderConfig:
    for k in vars(cfg.augment):
        setattr(cfg.augment, k, 0.0)
    return cfg


def test_training_crops_follow_the_rules(setup):
    _, crops, summary = setup
    assert crops and all(c.instance_id > 0 for c in crops)
    assert {c.frame for c in crops if not c.is_shop} <= set(range(80, 361, 40))
    labels = {c.label for c in crops}
    assert labels == set(range(len(labels)))
    per_id = {}
    for c in crops:
        per_id.setdefault(c.instance_id, []).append(c)
    assert min(len(v) for v in per_id.values()) >= 2  # single-crop identities dropped
    assert any(c.is_shop for c in crops) and any(not c.is_shop for c in crops)
    assert summary.counts["training crops"] >= len(crops)


def test_a_few_epochs_lower_the_loss(setup, tmp_path):
    cfg, crops, _ = setup
    cfg = no_augment(cfg)
    cfg.optim.epochs = 4
    cfg.loss.xbm = False
    result = train(cfg, crops, tmp_path / "run", progress=False)
    losses = [r["loss"] for r in result.history]
    assert losses[-1] < 0.8 * losses[0]
    assert (tmp_path / "run" / "log.csv").read_text().count("\n") == 5


def test_checkpoint_round_trip_and_resume(setup, tmp_path):
    cfg, crops, _ = setup
    cfg = no_augment(cfg)
    cfg.optim.epochs = 2
    first = train(cfg, crops, tmp_path / "run", progress=False, max_steps=3)
    model, saved_cfg = load_embedder(first.checkpoint)
    images = torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8)
    trained = first.model.eval()  # what training ended with, in memory: the checkpoint must hold it
    torch.testing.assert_close(model.embed(images), trained.embed(images))
    assert saved_cfg.model.backbone == cfg.model.backbone
    resumed = train(cfg, crops, tmp_path / "run", progress=False)  # picks up at epoch 2
    assert [r["epoch"] for r in resumed.history] == [2]
    assert resumed.history[0]["step"] > 3


def test_a_resumed_training_ends_where_an_uninterrupted_one_does(setup, tmp_path):
    cfg, crops, _ = setup
    cfg = replace(cfg, augment=AugmentConfig())  # with every augmentation: its draws are seeded too
    cfg.optim.epochs = 2
    whole = train(cfg, crops, tmp_path / "whole", progress=False)
    steps = whole.history[0]["step"]
    train(cfg, crops, tmp_path / "cut", progress=False, max_steps=steps)  # killed after epoch 1
    resumed = train(cfg, crops, tmp_path / "cut", progress=False)
    a, b = whole.model.state_dict(), resumed.model.state_dict()
    for name in a:
        torch.testing.assert_close(a[name].float(), b[name].float(), rtol=1e-4, atol=1e-5, msg=name)
    assert whole.history[-1]["loss"] == pytest.approx(resumed.history[-1]["loss"], rel=1e-4)


def test_a_crops_augmentation_depends_on_its_draw_alone(setup):
    _, crops, _ = setup
    first, second = (
        CropDataset(crops, build_augment(AugmentConfig())) for _ in range(2)
    )  # two pipelines
    item = (0, (64, 64), 12345)
    image = first[item][0]
    assert torch.equal(second[item][0], image) and torch.equal(first[item][0], image)
    assert not all(torch.equal(first[(0, (64, 64), draw)][0], image) for draw in range(1, 6))


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(setup, tmp_path, monkeypatch):
    cfg, crops, _ = setup
    cfg.optim.epochs = 2
    train(cfg, crops, tmp_path / "run", progress=False, max_steps=2)
    good = (tmp_path / "run" / "last" / "model.safetensors").read_bytes()
    cfg.optim.epochs = 3
    monkeypatch.setattr(
        "embedder.losses.EmbeddingLoss.forward",
        lambda self, e, y, step=0: (e.sum() * float("nan"), {"margin": 0.0, "xbm": 0.0}),
    )
    with pytest.raises(TrainingError, match="last good checkpoint kept"):
        train(cfg, crops, tmp_path / "run", progress=False)
    assert (tmp_path / "run" / "last" / "model.safetensors").read_bytes() == good


def test_fine_tune_and_architecture_mismatch(setup, tmp_path):
    cfg, crops, _ = setup
    cfg.optim.epochs = 1
    base = train(cfg, crops, tmp_path / "base", progress=False, max_steps=1)
    subset = [c for c in crops if c.label < 5]
    tuned = train(
        cfg, subset, tmp_path / "tuned", init_from=base.checkpoint, progress=False, max_steps=1
    )
    assert tuned.checkpoint.exists()
    other = load_config(None, OVERRIDES + ["embedder.model.backbone=resnet18"]).embedder
    with pytest.raises(CheckpointError, match="mobilenetv3_small_050.*resnet18"):
        train(other, crops, tmp_path / "x", init_from=base.checkpoint, progress=False, max_steps=1)


def test_retrieval_evaluation_runs_on_crops(setup, tmp_path):
    cfg, crops, _ = setup
    cfg.optim.epochs = 1
    run = train(cfg, crops, tmp_path / "run", val_crops=crops, progress=False, max_steps=2)
    assert (tmp_path / "run" / "best").exists() and run.checkpoint.name == "best"
    metrics = evaluate_crops(load_embedder(run.checkpoint)[0], crops, cfg)
    assert metrics["queries"] > 0
    for key in ("top1", "recall5", "map10"):  # best/ holds the model that scored what the log says
        assert metrics[key] == pytest.approx(run.history[-1][key], abs=1e-3)


@pytest.mark.parametrize("select", ["map10", "last"])
def test_best_checkpoint_is_the_selected_epoch(setup, tmp_path, select):
    import copy
    import json

    cfg, crops, _ = setup
    cfg = copy.deepcopy(cfg)
    cfg.optim.epochs, cfg.optim.select = 2, select
    subset = [c for c in crops if c.label < 6]
    run = train(cfg, subset, tmp_path / select, val_crops=subset, progress=False)
    chosen = json.loads((run.checkpoint / "meta.json").read_text())["epoch"]
    scores = [row.get(select, 0.0) for row in run.history]
    assert len(scores) == 2
    expected = 2 if select == "last" else 1 + scores.index(max(scores))  # the first of equal scores
    assert run.checkpoint.name == "best" and chosen == expected


def test_unknown_selection_rule_is_refused(setup, tmp_path):
    import copy

    cfg = copy.deepcopy(setup[0])
    cfg.optim.select = "loss"
    with pytest.raises(TrainingError, match="optim.select.*top1, map10, last"):
        train(cfg, setup[1], tmp_path / "x", progress=False, max_steps=1)
