"""bench.first_pass at toy size: it writes its own sample root, then detects and embeds it with
the demo pipeline twice and compares the passes."""

import json
import math

import pytest

from bench import first_pass


@pytest.mark.slow
def test_the_first_pass_bench_makes_its_root_and_compares_the_passes(tmp_path, capsys):
    work, path = tmp_path / "work", tmp_path / "first_pass.json"
    out = first_pass.main(["--toy", "--device", "cpu", "--work", str(work), "--json", str(path)])
    assert out["device"] == "cpu" and len(out["passes"]) == first_pass.TOY["passes"]
    first, later = out["passes"]
    assert first["shop_crops"] > 0 and first["video_crops"] > 0
    # the same inputs give the same crops every pass
    assert (first["shop_crops"], first["video_crops"]) == (
        later["shop_crops"],
        later["video_crops"],
    )
    ratio = out["first_over_later"]
    assert math.isfinite(ratio) and ratio > 0
    assert ratio == pytest.approx(
        (first["catalogue_s"] + first["clips_s"]) / (later["catalogue_s"] + later["clips_s"])
    )
    assert json.loads(path.read_text()) == out
    assert f"x{ratio:.1f}" in capsys.readouterr().out
    assert (work / "data" / "seed30" / "video").is_dir()  # the bench made its own data
