"""fit's candidates (livematch.candidates): one loop tries each, keeps it by the paired rule of
livematch.estimate, and says the same sentence everywhere."""

from dataclasses import replace

import pytest

from livematch.calibration import Calibration, Procedure
from livematch.candidates import candidate_line, candidates, try_candidates, with_value
from livematch.config import load_config
from tests.livematch.test_estimate import clips, estimate

PROC = Procedure(bootstrap=300)


def calibration(units, chosen=None) -> Calibration:
    return Calibration(None, chosen, [], None, None, estimate(units), [])


def loop(cfg, estimates: dict, procedure=PROC):
    """try_candidates with the calibration of each config rigged: ``estimates`` maps a config's
    (dba_k, tta sizes) to its clips; records which rows each calibration used."""
    seen = []

    def rows_for(c, folder):
        seen.append(("embedded", folder, list(c.embedder.extract.scales_tta)))
        return f"rows:{folder}"

    def choose(c, rows):
        seen.append(("calibrated", rows, int(c.matcher.rerank.dba_k)))
        return calibration(
            estimates[(int(c.matcher.rerank.dba_k), tuple(c.embedder.extract.scales_tta))]
        )

    plain = choose(cfg, "rows:")
    return try_candidates(cfg, plain, "rows:", rows_for, choose, procedure), seen


def test_a_clearly_better_candidate_is_kept_and_a_tie_refused():
    cfg = load_config(None, ["fit.tta_scales=[1.5]"])
    size = round(1.5 * cfg.embedder.extract.scale)
    weak, strong = clips([k % 2 == 0 for k in range(30)]), clips([True] * 30)
    (kept_cfg, found, records), seen = loop(
        cfg, {(0, ()): weak, (2, ()): strong, (2, (size,)): strong}
    )
    assert [r["key"] for r in records] == ["matcher.rerank.dba_k", "embedder.extract.scales_tta"]
    assert records[0]["kept"] and records[0]["low"] > 0 and records[0]["value"] == 2
    assert (
        not records[1]["kept"] and records[1]["difference"] == 0
    )  # tta ties the held DBA: not kept
    assert kept_cfg.matcher.rerank.dba_k == 2 and kept_cfg.embedder.extract.scales_tta == []
    assert found.estimate.score == pytest.approx(1.0)
    # DBA calibrates the rows already made; the scales embed them again, over the kept DBA
    assert seen == [
        ("calibrated", "rows:", 0),
        ("calibrated", "rows:", 2),
        ("embedded", "tta", [size]),
        ("calibrated", "rows:tta", 2),
    ]
    line = candidate_line(records[0])
    assert line.startswith(
        "candidate database-side augmentation k = 2 (matcher.rerank.dba_k=2): held-out estimate"
    )
    assert "1.0000 (1.0000-1.0000, 30 clips) against 0.5000" in line and line.endswith(": kept")
    assert "the simpler setting stays" in candidate_line(records[1])


def test_no_estimate_keeps_the_simpler_setting_and_no_candidate_means_no_loop():
    cfg = load_config(None)
    plain = Calibration(None, None, [], None, None, None, [], "too few")
    out = try_candidates(
        cfg, plain, "rows", None, lambda c, r: calibration(clips([True] * 30)), PROC
    )
    assert (
        out[0].matcher.rerank.dba_k == 0 and not out[2][0]["kept"] and out[2][0]["against"] is None
    )
    assert "no held-out estimate" in candidate_line(out[2][0])
    assert candidates(cfg, Procedure(dba_k=())) == [] and candidates(cfg, PROC)[0].value == 2
    assert (
        candidates(with_value(cfg, "matcher.rerank.dba_k", 2), PROC) == []
    )  # configured already: nothing to try
    assert with_value(cfg, "matcher.rerank.dba_k", 2) is not cfg and cfg.matcher.rerank.dba_k == 0


def test_the_words_are_a_candidate_only_with_text_and_kept_by_the_same_rule():
    from livematch.calibration import Setting

    cfg = load_config(None)
    none = Procedure(dba_k=(), bootstrap=300)
    assert candidates(cfg, none) == [] and candidates(cfg, none, text=True)[0].value == 0.2
    assert candidates(cfg, Procedure(dba_k=(), text_weights=()), text=True) == []
    weak, strong = clips([k % 2 == 0 for k in range(30)]), clips([True] * 30)
    point = Setting(0.1, 0.1, (), (), "confidence", "confidence", 0.3, 0.5, 1.0)

    def choose(c, rows, tuned=0.3):
        on = c.matcher.voting.text_weight > 0
        return calibration(strong if on else weak, replace(point, text_weight=tuned if on else 0))

    kept_cfg, found, records = try_candidates(
        cfg, choose(cfg, "rows"), "rows", None, choose, none, text=True
    )
    assert records[0]["key"] == "matcher.voting.text_weight" and records[0]["kept"]
    assert (
        records[0]["value"] == 0.3 == found.chosen.text_weight
    )  # the weight its calibration chose
    assert "=0.3)" in candidate_line(records[0])
    tie = try_candidates(
        cfg, choose(cfg, "rows"), "rows", None, lambda c, r: choose(cfg, r), none, text=True
    )
    assert not tie[2][0]["kept"] and tie[0].matcher.voting.text_weight == 0  # a tie: words off
    off = try_candidates(
        cfg, choose(cfg, "rows"), "rows", None, lambda c, r: choose(c, r, 0.0), none, text=True
    )
    assert not off[2][0]["kept"] and "chose text_weight = 0" in off[2][0]["why"]
    assert try_candidates(cfg, choose(cfg, "rows"), "rows", None, choose, none)[2] == []
