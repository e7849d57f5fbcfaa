"""bench.embedder at toy size: it writes its own sample roots; extraction with the committed demo
embedder, then the modes that take ImageNet backbones as they are or train."""

import json
import math

import pytest

from bench import embedder


def positive(x) -> bool:
    return math.isfinite(x) and x > 0


@pytest.mark.slow
def test_the_embedder_bench_extracts_with_the_demo_embedder_at_toy_size(tmp_path, capsys):
    work, path = tmp_path / "work", tmp_path / "embedder.json"
    out = embedder.main(["--toy", "--work", str(work), "--out", str(path)])
    e = out["extraction"]
    assert e["checkpoint"] == str(embedder.CHECKPOINT) and e["crops"] > 0
    assert e["tta_scales"] == [round(e["scale"] * 1.333)]
    for name in ("buckets", "pad_square", "buckets_tta"):
        assert 0 <= e[f"{name}_top1"] <= 1 and positive(e[f"{name}_crops_per_s"])
    assert positive(e["throughput_buckets_vs_pad"]) and positive(e["throughput_tta_vs_buckets"])
    assert e["buckets_top1"] > 0  # the trained embedder finds some item's clip
    assert json.loads(path.read_text()) == out
    assert f"x{e['throughput_buckets_vs_pad']:.2f}" in capsys.readouterr().out
    assert (work / "data" / "val" / "video").is_dir()  # the bench made its own data


@pytest.mark.slow
def test_the_embedder_bench_runs_its_frozen_and_training_modes_at_toy_size(tmp_path, capsys):
    path = tmp_path / "embedder.json"
    args = ["--toy", "--work", str(tmp_path / "work"), "--out", str(path)]
    modes = ["--frozen", "tf_efficientnet_lite0@64", "--val-every", "2", "--ablation"]
    out = embedder.main([*args, *modes])
    assert "extraction" not in out  # modes named, no --checkpoint: those modes alone
    frozen = out["frozen"]["tf_efficientnet_lite0@64"]
    assert 0 <= frozen["top1"] <= 1 and frozen["crops_per_s_vs_first"] == 1.0
    every = out["val_every"]
    assert every["every 1"]["validations"] == 2 and every["every 2"]["validations"] == 1
    assert positive(every["speedup"]) and every["same_weights"] is True
    assert list(out["ablation"]) == list(embedder.VARIANTS)
    for r in out["ablation"].values():
        assert 0 <= r["top1"] <= 1 and positive(r["seconds_vs_reference"])
    assert json.loads(path.read_text()) == out
    assert f"x{every['speedup']:.2f} the speed" in capsys.readouterr().out
