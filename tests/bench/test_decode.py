"""bench.decode at toy size: it renders its own clips, reads the schedule with decord and PyAV,
decodes every frame with OpenCV, and compares them."""

import json
import math

import pytest

from bench import decode


@pytest.mark.slow
def test_the_decode_bench_renders_its_clips_and_times_each_reader(tmp_path, capsys):
    out = decode.main(["--toy", "--out", str(tmp_path / "decode.json")])
    assert set(out["clips"]) == {name for name, _, _ in decode.CLIPS}
    for row in out["clips"].values():
        ratios = row["ratio_vs_opencv_every_frame"]
        assert all(math.isfinite(r) and r > 0 for r in ratios.values())
        decoded = row["frames_decoded"]
        assert decoded["opencv_every_frame"] == out["frames"]  # every frame of the clip
        assert 0 < decoded["decord_schedule"] == decoded["pyav_schedule"] < out["frames"]
    assert json.loads((tmp_path / "decode.json").read_text()) == out
    printed = capsys.readouterr().out
    ratio = out["clips"]["h264_gop50"]["ratio_vs_opencv_every_frame"]["pyav_schedule"]
    assert f"pyav x{ratio:.2f}" in printed
