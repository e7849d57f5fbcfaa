import json

import numpy as np
import pytest

from ground.dataset import load_dataset
from ground.metric import evaluate, load_result
from livematch.cli import main
from livematch.commands.match import run_match
from livematch.config import load_config
from livematch.sampledata.features import simulate_crops
from matcher.crops import CropTable, FeatureError
from matcher.store import FeatureStore, load_store, save_store

FRAMES = load_config().media.infer_frames.indices()


@pytest.fixture(scope="module")
def store_dir(classic_root, tmp_path_factory):
    """Simulated clean features of the classic sample (the varied one has clips that sell
    nothing, which a folder without a clip may claim even with perfect features)."""
    out = tmp_path_factory.mktemp("features")
    save_store(
        out,
        simulate_crops(load_dataset(classic_root, probe_media=False), FRAMES, dim=64, noise=0.5),
    )
    return out


def test_simulated_store_has_every_annotated_crop(classic_root, store_dir):
    ds = load_dataset(classic_root, probe_media=False)
    store = load_store(store_dir)
    assert len(store.shop) == ds.summary.counts["photo boxes"]
    assert set(store.video.frame) <= set(FRAMES) and set(store.video.frame) <= set(
        range(0, 361, 40)
    )
    assert store.shop.dim == store.video.dim == 64 and store.dropped == 0


def test_result_round_trips_through_the_evaluator(classic_root, store_dir, tmp_path):
    cfg = load_config(
        None, ["matcher.voting.item_box=nearest", "matcher.voting.frame_box=nearest"]
    ).matcher
    result = run_match(store_dir, tmp_path, cfg)
    ds = load_dataset(classic_root, probe_media=False)
    score = evaluate(load_result(tmp_path / "result.json"), ds)
    assert score.score == pytest.approx(
        1.0
    )  # clean features + ground-truth boxes: every level right
    sold = {v.video_id for v in ds.videos.values() if v.sold_item in ds.items}
    assert set(result.matches) == sold
    details = json.loads((tmp_path / "match_details.json").read_text())
    assert set(details["videos"]) == set(ds.videos)


def test_dimension_mismatch_between_shop_and_video_is_an_error(tmp_path):
    a = CropTable(["000001"], ["0"], [-1], [[0, 0, 5, 5]], [1.0], np.ones((1, 8), np.float32))
    b = CropTable(["123456"], [""], [80], [[0, 0, 5, 5]], [1.0], np.ones((1, 16), np.float32))
    save_store(tmp_path, FeatureStore(a, b))
    with pytest.raises(FeatureError, match="8-d but video features are 16-d"):
        load_store(tmp_path)
    with pytest.raises(FeatureError, match="does not exist"):
        load_store(tmp_path / "nope")


def test_empty_gallery_gives_no_match(tmp_path):
    a = CropTable(["000001"], ["0"], [-1], [[0, 0, 5, 5]], [1.0], np.ones((1, 8), np.float32))
    save_store(tmp_path, FeatureStore(a, CropTable.empty(8)))
    result = run_match(tmp_path, tmp_path / "out", load_config().matcher)
    assert result.matches == {} and json.loads((tmp_path / "out" / "result.json").read_text()) == {}


def test_cli_match_and_calibrate(classic_root, store_dir, tmp_path, capsys):
    assert (
        main(
            [
                "match",
                "--features",
                str(store_dir),
                "--out",
                str(tmp_path / "m"),
                "--gt",
                str(classic_root),
                "matcher.rerank.method=aqe",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "videos matched" in out and "score" in out
    override = tmp_path / "calibrated.yaml"
    assert (
        main(
            [
                "calibrate",
                "--features",
                str(store_dir),
                "--gt",
                str(classic_root),
                "--out",
                str(override),
            ]
        )
        == 0
    )
    assert "best of" in capsys.readouterr().out
    cfg = load_config(override)
    assert 0 < cfg.matcher.voting.keep_fraction <= 1 and cfg.matcher.voting.max_distance > 0


def test_cli_simulate_features(sample_root, tmp_path, capsys):
    assert (
        main(["simulate-features", "--gt", str(sample_root), "--out", str(tmp_path), "--dim", "32"])
        == 0
    )
    assert load_store(tmp_path).shop.dim == 32
