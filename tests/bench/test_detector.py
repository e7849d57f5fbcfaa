"""bench.detector at toy size: inference batch 1 against batched, and a train step of each
recipe variant against the earlier tiny recipe, on frames it makes."""

import json
import math

import pytest

from bench import detector


def positive(x) -> bool:
    return math.isfinite(x) and x > 0


@pytest.mark.slow
def test_the_detector_bench_times_inference_at_toy_size(tmp_path, capsys):
    out = detector.main(["--toy", "--out", str(tmp_path / "detector.json")])
    assert list(out["recipes"]) == ["tiny"] and out["images"] == detector.TOY["images"]
    row = out["recipes"]["tiny"]
    assert row["short_side"] == detector.TOY["short_side"]
    assert positive(row["batch1_ips"]) and positive(row["batch2_ips"])
    assert row["batched_vs_batch1"] == pytest.approx(row["batch2_ips"] / row["batch1_ips"])
    assert json.loads((tmp_path / "detector.json").read_text()) == out
    assert f"(x{row['batched_vs_batch1']:.2f})" in capsys.readouterr().out


@pytest.mark.slow
def test_the_detector_bench_times_train_steps_at_toy_size(tmp_path, capsys):
    out = detector.main(["--toy", "--train-step", "--out", str(tmp_path / "steps.json")])
    assert set(out["seconds_per_step"]) == set(detector.STEP_VARIANTS)
    assert all(positive(s) for s in out["seconds_per_step"].values())
    assert out["speedup_vs_earlier"]["earlier tiny"] == 1.0
    assert all(positive(r) for r in out["speedup_vs_earlier"].values())
    assert json.loads((tmp_path / "steps.json").read_text()) == out
    printed = capsys.readouterr().out
    assert printed.count("faster than the earlier tiny recipe") == len(detector.STEP_VARIANTS)
