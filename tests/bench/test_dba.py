"""bench.dba at toy size: it makes its own gallery, augments each filtered gallery both ways and
finds the same rows."""

import json
import math

import pytest

from bench import dba


@pytest.mark.slow
def test_the_dba_bench_makes_its_gallery_and_both_ways_agree(tmp_path, capsys):
    out = dba.main(["--toy", "--out", str(tmp_path / "dba.json")])
    assert out["video_crops"] == dba.TOY["crops"] and out["dim"] == dba.TOY["dim"]
    assert out["filters"] >= 2 and out["rows_augmented"] > 0
    assert math.isfinite(out["speedup"]) and out["speedup"] > 0
    assert out["max_abs_difference"] < 1e-5  # the lists give what a new search gives
    assert json.loads((tmp_path / "dba.json").read_text()) == out
    printed = capsys.readouterr().out
    assert f"x{out['speedup']:.1f}" in printed and f"{out['video_crops']} video crops" in printed
