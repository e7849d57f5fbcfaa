"""bench.pipeline at toy size: it writes its own sample roots and runs ``livematch run`` on them
in child processes, default against naive and small against large, or config against config."""

import json
import math

import pytest

from bench import pipeline


def positive(x) -> bool:
    return math.isfinite(x) and x > 0


@pytest.mark.slow
def test_the_pipeline_bench_makes_its_roots_and_compares_the_runs(tmp_path, capsys):
    work, path = tmp_path / "work", tmp_path / "pipeline.json"
    out = pipeline.main(["--toy", "--work", str(work), "--out", str(path)])
    runs = out["runs"]
    assert runs["naive"]["clips"] == runs["default"]["clips"] == pipeline.TOY["small"]
    assert runs["large"]["clips"] == pipeline.TOY["large"]
    assert runs["naive"]["crops"] == runs["default"]["crops"] > 0  # the same clips, same crops
    assert all(positive(r) for r in out["ratios"].values())
    assert all(0 < r["model_s"] < r["wall_s"] for r in runs.values())
    assert json.loads(path.read_text()) == out
    printed = capsys.readouterr().out
    assert f"x{out['ratios']['naive_vs_default_wall']:.2f} wall time" in printed
    assert (work / "data" / "clips2" / "video").is_dir()  # the bench made its own data


@pytest.mark.slow
def test_the_pipeline_bench_compares_configs_on_the_same_clips(tmp_path, capsys):
    config = str(pipeline.CONFIG)
    args = ["--toy", "--work", str(tmp_path / "work"), "--out", str(tmp_path / "compare.json")]
    out = pipeline.main([*args, "--compare", config])
    assert list(out) == [config]
    row = out[config]
    assert row["clips"] == pipeline.TOY["small"] and positive(row["clips_per_min"])
    assert row["speed_vs_first"] == 1.0 and 0 < row["model_share"] < 1
    assert json.loads((tmp_path / "compare.json").read_text()) == out
    assert "x1.00 vs the first" in capsys.readouterr().out
