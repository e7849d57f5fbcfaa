"""The detect / embed commands end to end on the small sample set, with tiny models."""

import json
import re

import pytest

from ground.dataset import load_dataset
from livematch.cli import main
from livematch.commands.detect import evaluate_detector_on
from livematch.config import load_config
from matcher.store import load_store
from tests.detector.test_train import OVERRIDES as DET
from tests.embedder.test_train import OVERRIDES as EMB


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")


def test_detect_train_eval_predict(sample_root, runs, capsys):
    cache = f"detector.train.cache_dir={runs / 'frames'}"
    assert (
        main(
            [
                "detect",
                "train",
                "--data",
                str(sample_root),
                "--out",
                str(runs / "det"),
                *DET,
                "detector.train.epochs=1",
                "detector.train.val_fraction=0.3",
                cache,
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "checkpoint:" in out and "validation AP50" in out
    assert (
        main(
            [
                "detect",
                "eval",
                "--checkpoint",
                str(runs / "det" / "last"),
                "--data",
                str(sample_root),
                "--json",
                str(runs / "ap.json"),
                cache,
            ]
        )
        == 0
    )
    metrics = json.loads((runs / "ap.json").read_text())
    direct = evaluate_detector_on(
        runs / "det" / "last", [sample_root], load_config(None, [*DET, cache])
    )
    assert metrics["images"] == direct["images"] > 0
    assert (metrics["AP"], metrics["AP50"]) == pytest.approx((direct["AP"], direct["AP50"]))
    assert (
        main(
            [
                "detect",
                "predict",
                "--checkpoint",
                str(runs / "det" / "last"),
                "--data",
                str(sample_root),
                "--out",
                str(runs / "boxes"),
                "detector.infer.photo_threshold=0.0",
                "detector.infer.frame_threshold=0.0",
                "media.infer_frames.step=100",
            ]
        )
        == 0
    )
    photos = list((runs / "boxes" / "photos").glob("*.json"))
    videos = list((runs / "boxes" / "videos").glob("*.json"))
    assert len(photos) == 8 and len(videos) == 6
    frames = json.loads(videos[0].read_text())
    assert sorted(map(int, frames)) == [80, 180, 280, 380]
    row = next(r for rows in frames.values() for r in rows)
    assert len(row) == 6 and row[0] < row[2] and row[1] < row[3]
    assert (
        main(
            [
                "detect",
                "predict",
                "--checkpoint",
                str(runs / "det" / "last"),
                "--data",
                str(sample_root),
                "--out",
                str(runs / "left"),
                "detector.infer.frame_threshold=0.0",
                "media.infer_frames.step=100",
                "detector.infer.frame_region=[0.0,0.0,0.5,1.0]",
            ]
        )
        == 0
    )
    width = {v.video_id: v.size[0] for v in load_dataset(sample_root).videos.values()}
    centres = {
        f.stem: [
            (r[0] + r[2]) / 2 / width[f.stem]
            for rows in json.loads(f.read_text()).values()
            for r in rows
        ]
        for f in (runs / "boxes" / "videos").glob("*.json")
    }
    left = {
        f.stem: [
            (r[0] + r[2]) / 2 / width[f.stem]
            for rows in json.loads(f.read_text()).values()
            for r in rows
        ]
        for f in (runs / "left" / "videos").glob("*.json")
    }
    assert all(sorted(left[v]) == sorted(c for c in centres[v] if c <= 0.5) for v in centres)
    assert sum(map(len, left.values())) < sum(map(len, centres.values()))


def test_detect_fine_tune_into_two_classes(sample_root, runs, capsys):
    cache = f"detector.train.cache_dir={runs / 'frames'}"
    if not (runs / "det" / "last").exists():
        assert (
            main(
                [
                    "detect",
                    "train",
                    "--data",
                    str(sample_root),
                    "--out",
                    str(runs / "det"),
                    *DET,
                    "detector.train.epochs=1",
                    cache,
                ]
            )
            == 0
        )
    assert (
        main(
            [
                "detect",
                "train",
                "--data",
                str(sample_root),
                "--out",
                str(runs / "split"),
                "--init-from",
                str(runs / "det" / "last"),
                *DET,
                "detector.model.split_by=instance",
                "detector.train.epochs=1",
                "detector.train.val_fraction=0.3",
                cache,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "detect",
                "eval",
                "--checkpoint",
                str(runs / "split" / "last"),
                "--data",
                str(sample_root),
                "--json",
                str(runs / "ap2.json"),
                cache,
            ]
        )
        == 0
    )
    assert "AP50 by class: product" in capsys.readouterr().out
    metrics = json.loads((runs / "ap2.json").read_text())
    assert metrics["classes"] == ["product", "other"] and len(metrics["AP50_by_class"]) == 2
    assert all(
        ap >= 0 for ap in metrics["AP50_by_class"]
    )  # both classes have ground truth in the sample
    assert (
        main(
            [
                "detect",
                "predict",
                "--checkpoint",
                str(runs / "split" / "last"),
                "--data",
                str(sample_root),
                "--out",
                str(runs / "boxes2"),
                "detector.infer.frame_threshold=0.0",
                "media.infer_frames.step=100",
                "detector.infer.frame_classes=[other]",
            ]
        )
        == 0
    )
    labels = {
        r[5]
        for f in (runs / "boxes2" / "videos").glob("*.json")
        for rows in json.loads(f.read_text()).values()
        for r in rows
    }
    assert labels == {2}


def test_embed_train_eval_extract_then_match(sample_root, runs, capsys, monkeypatch):
    cache = f"embedder.data.cache_dir={runs / 'crops'}"
    common = [*EMB, cache, "embedder.optim.epochs=1"]
    assert (
        main(["embed", "train", "--out", str(runs / "emb"), *common]) == 2
    )  # no roots: a usage error
    assert "--data" in capsys.readouterr().err
    assert (
        main(
            [
                "embed",
                "train",
                "--data",
                str(sample_root),
                "--val",
                str(sample_root),
                "--out",
                str(runs / "emb"),
                *common,
            ]
        )
        == 0
    )
    logged = float(re.search(r"best validation top-1 ([0-9.]+)", capsys.readouterr().out).group(1))
    assert (
        main(
            [
                "embed",
                "eval",
                "--checkpoint",
                str(runs / "emb" / "best"),
                "--data",
                str(sample_root),
                "--json",
                str(runs / "top1.json"),
                *common,
            ]
        )
        == 0
    )
    # the saved best/ re-evaluated through the command reproduces the top-1 its epoch logged
    assert json.loads((runs / "top1.json").read_text())["top1"] == pytest.approx(logged, abs=1e-4)
    ckpt = str(runs / "emb" / "best")
    # a repeated --checkpoint evaluates the ensemble (it used to keep the last one silently)
    import embedder.evaluate

    seen, evaluate_crops = [], embedder.evaluate.evaluate_crops
    monkeypatch.setattr(
        embedder.evaluate, "evaluate_crops", lambda m, *a: seen.append(m) or evaluate_crops(m, *a)
    )
    assert (
        main(
            [
                "embed",
                "eval",
                "--checkpoint",
                ckpt,
                "--checkpoint",
                str(runs / "emb" / "last"),
                "--data",
                str(sample_root),
                "--json",
                str(runs / "pair.json"),
                *common,
            ]
        )
        == 0
    )
    assert len(seen[0]) == 2 and 0 <= json.loads((runs / "pair.json").read_text())["top1"] <= 1
    import embedder.extract

    scaled, embed_images = [], embedder.extract.embed_images
    monkeypatch.setattr(
        embedder.extract, "embed_images", lambda *a: scaled.append(a[5]) or embed_images(*a)
    )
    assert (
        main(
            [
                "embed",
                "extract",
                "--checkpoint",
                ckpt,
                "--checkpoint",
                ckpt,
                "--data",
                str(sample_root),
                "--out",
                str(runs / "features"),
                *common,
            ]
        )
        == 0
    )
    store = load_store(runs / "features")
    assert store.shop.dim == 64 and len(store.video) > 0  # two 32-d models ensembled
    from embedder.checkpoint import load_embedder

    own = load_embedder(ckpt, "cpu")[1].extract.scale
    assert scaled and all(
        s == [own, own] for s in scaled
    )  # each member at its scale, as `livematch run`
    assert (
        main(
            [
                "match",
                "--features",
                str(runs / "features"),
                "--out",
                str(runs / "match"),
                "--gt",
                str(sample_root),
            ]
        )
        == 0
    )
    assert (runs / "match" / "result.json").exists() and "score" in capsys.readouterr().out


def test_model_commands_default_to_the_checkpoints_inference_settings(tmp_path):
    from detector.config import DetectorConfig
    from ground.checkpoint import save_checkpoint
    from livematch.cli import _checkpoint_cfg

    saved = DetectorConfig()
    saved.infer.frame_short_side, saved.infer.photo_short_side, saved.infer.photo_threshold = (
        320,
        288,
        0.7,
    )
    save_checkpoint(tmp_path / "ckpt", {}, saved, {})
    cfg = _checkpoint_cfg(
        tmp_path / "ckpt", None, ["detector.infer.photo_threshold=0.5"], "detector"
    )
    assert (cfg.detector.infer.frame_short_side, cfg.detector.infer.photo_short_side) == (320, 288)
    assert cfg.detector.infer.photo_threshold == 0.5  # an explicit override wins
    # the checkpoint supplies its sizes, not its thresholds (livematch.config.CHECKPOINT_SETTINGS:
    # one rule)
    assert (
        _checkpoint_cfg(tmp_path / "ckpt", None, [], "detector").detector.infer.photo_threshold
        == 0.9
    )
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("detector:\n  infer:\n    frame_short_side: 608\n")
    assert (
        _checkpoint_cfg(tmp_path / "ckpt", recipe, [], "detector").detector.infer.frame_short_side
        == 608
    )
    from embedder.config import EmbedderConfig

    emb = EmbedderConfig()
    emb.extract.scale = 96
    save_checkpoint(tmp_path / "emb", {}, emb, {})
    assert _checkpoint_cfg(tmp_path / "emb", None, [], "embedder").embedder.extract.scale == 96
