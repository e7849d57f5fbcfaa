"""bench.estimate at toy size: it writes its sample roots, calibrates each draw as fit does, and
reports each estimate against the unseen score of its own pipeline."""

import json

import pytest

from bench import estimate


@pytest.mark.slow
def test_the_estimate_bench_runs_at_toy_size_and_reports_each_draw(tmp_path, capsys):
    out = estimate.main(
        ["--toy", "--work", str(tmp_path / "work"), "--json", str(tmp_path / "estimate.json")]
    )
    rows = out["draws"]
    assert [r["val"] for r in rows] == [list(d) for d in estimate.TOY["draws"]]
    for r in rows:
        assert (
            0 <= r["unseen"] <= 1 and r["train_parts"] >= 1
        )  # one or two VAL roots: TRAIN's parts calibrate
        assert r["estimate"] is None or r["low"] <= r["estimate"] <= r["high"]
        assert (
            r["previous"] is not None
            and r["candidates"][0]["candidate"] == "database-side augmentation k = 2"
        )
        # the sample data has words: the text candidate is tried, and what it did is counted
        text = r["candidates"][1]
        assert text["key"] == "matcher.voting.text_weight" and text["test_clips"] == 4
        assert (
            text["fixed"] <= text["wrong_without"] and text["caused"] <= 4 - text["wrong_without"]
        )
    summary = out["summary"]
    errors = [abs(r["estimate"] - r["unseen"]) for r in rows if r["estimate"] is not None]
    assert summary["estimate"]["draws"] == len(errors)
    if errors:
        assert summary["estimate"]["worst"] == pytest.approx(max(errors))
        widths = [r["high"] - r["low"] for r in rows if r["estimate"] is not None]
        assert summary["sampling_floor"] == pytest.approx(
            sum(widths) / len(widths) / 3.29 * 0.7979, rel=1e-3
        )
    assert (
        json.loads((tmp_path / "estimate.json").read_text())["summary"]["covered"]
        == summary["covered"]
    )
    words = summary["candidates"]["matcher.voting.text_weight"]
    assert words["draws"] == len(rows) and words["fixed"] == sum(
        r["candidates"][1]["fixed"] for r in rows
    )
    printed = capsys.readouterr().out
    assert "matcher.voting.text_weight: unseen" in printed
    assert "mean error" in printed and "previous / estimate mean error" in printed
    assert (tmp_path / "work" / "data" / "seed63" / "video").is_dir()  # the bench made its own data
