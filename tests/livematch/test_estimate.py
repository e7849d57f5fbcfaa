"""fit's held-out estimate (livematch.estimate) on built cases: what is held out, what calibrates,
the pooled score and its interval, and the paired rule that keeps a candidate."""

# ruff: noqa: F811 - the tests take the imported fixture `hijacked` as their argument

from dataclasses import replace

import numpy as np
import pytest

from ground.metric import clip_counts, score_of_counts
from livematch.calibration import Procedure, Splits, SplitScorer, coordinate_ascent, folds
from livematch.estimate import Estimate, compare, estimate_line, holdout_estimate, plan
from matcher.config import MatcherConfig
from matcher.store import FeatureStore
from tests.livematch.test_fit import START, hijacked  # noqa: F401  (a fixture)

ONE = Procedure(rounds=1, min_clips=1, bootstrap=300)
GRIDS = {"frame_threshold": [0.0, 0.4, 0.7]}


def scorers(hijacked):
    """Split a has distractors that only a threshold of 0.4 drops; split b has none."""
    ds, store, sizes = hijacked
    clean = FeatureStore(store.shop, store.video[store.video.scores > 0.5])
    return (
        SplitScorer(store, ["product", "other"], sizes, ds, MatcherConfig()),
        SplitScorer(clean, ["product", "other"], sizes, ds, MatcherConfig()),
    )


def pooled(pairs) -> float:
    """The score of several (scorer, setting) results pooled clip by clip."""
    rows = [r for cal, s in pairs for r in clip_counts(cal.result(s), cal.gt, cal.truth).values()]
    return float(score_of_counts(np.sum(rows, axis=0)))


def test_each_val_root_is_scored_at_the_settings_calibrated_on_the_others(hijacked):
    a, b = scorers(hijacked)
    joint, _ = coordinate_ascent(Splits([a, b]), START, GRIDS, rounds=1)
    assert joint.frame_threshold == 0.4
    held, why = holdout_estimate([a, b], START, GRIDS, ONE)
    assert why is None and held.by == "roots" and held.train_parts == 0
    assert [s["frame_threshold"] for s in held.settings] == [0.0, 0.4]  # b alone keeps the start
    assert held.per_split == [a.score(START), b.score(joint)]
    assert held.score == pytest.approx(
        pooled([(a, START), (b, joint)])
    )  # every held-out clip, pooled
    assert held.score < Splits([a, b]).score(joint) - 0.1  # the in-sample score is optimistic here
    assert held.clips == len(a.gt.videos) + len(b.gt.videos) and held.selling == len(a.truth) + len(
        b.truth
    )
    assert held.low <= held.score <= held.high and held.high - held.low > 0.05
    again, _ = holdout_estimate([a, b], START, GRIDS, ONE)
    assert (again.low, again.high) == (held.low, held.high)  # the same draws on every run
    assert (
        f"{held.score:.4f} ({held.low:.4f}-{held.high:.4f}, {held.clips} clips)"
        in estimate_line(held)
    )


def test_one_val_root_is_cut_into_parts_and_trains_parts_calibrate_but_are_never_held_out(hijacked):
    """One VAL root with TRAIN's parts: each part of VAL is scored at the settings calibrated on
    the other part and TRAIN's parts, never at settings calibrated on TRAIN alone (the models have
    seen TRAIN's clips)."""
    a, b = scorers(hijacked)
    two = replace(ONE, cuts=2)
    held, _ = holdout_estimate([b], START, GRIDS, two, parts=2, always=[a])
    assert held.by == "parts" and (held.parts, held.cuts, held.train_parts) == (2, 2, 1)
    for cut in range(2):
        p, q = folds(b, 2, seed=cut)
        on_q, _ = coordinate_ascent(Splits([q, a]), START, GRIDS, rounds=1)
        on_p, _ = coordinate_ascent(Splits([p, a]), START, GRIDS, rounds=1)
        assert held.settings[2 * cut]["frame_threshold"] == on_q.frame_threshold
        assert held.per_split[2 * cut : 2 * cut + 2] == pytest.approx(
            [p.score(on_q), q.score(on_p)]
        )
    assert held.clips == len(b.gt.videos)  # only VAL's clips are held out, each once per cut
    assert all(sum(row[:2]) for row in held.units.values())
    assert (
        "and TRAIN's clips (1 parts)" in held.method()
        and "VAL cut 2 times into 2 parts" in held.method()
    )


def test_with_three_val_roots_each_roots_parts_are_held_out_in_turn(hijacked):
    """Three or more VAL roots (Procedure.part_roots): each root cut into parts, each part scored
    at the settings calibrated on the other roots and its root's other parts; with fewer, or when
    a part would be too small, whole roots are held out."""
    a, b = scorers(hijacked)
    val = [a, b, b]
    held, _ = holdout_estimate(val, START, GRIDS, ONE, parts=2)
    assert held.by == "root parts" and (held.parts, held.cuts) == (2, 1) and len(held.settings) == 6
    for r, root in enumerate(val):
        p, q = folds(root, 2, seed=0)
        others = val[:r] + val[r + 1 :]
        on_q, _ = coordinate_ascent(Splits(others + [q]), START, GRIDS, rounds=1)
        assert held.settings[2 * r]["frame_threshold"] == on_q.frame_threshold
        assert held.per_split[2 * r] == pytest.approx(p.score(on_q))
    assert held.clips == sum(len(v.gt.videos) for v in val)  # each clip once, per root
    assert "each VAL root cut into 2 parts" in held.method()
    assert holdout_estimate(val, START, GRIDS, replace(ONE, part_roots=4))[0].by == "roots"
    whole = holdout_estimate(val, START, GRIDS, replace(ONE, min_clips=len(a.truth)))[0]
    assert whole.by == "roots"  # parts of 2 selling clips would be under min_clips: whole roots


def test_a_val_too_small_gets_no_estimate_and_says_what_to_do(hijacked):
    a, _ = scorers(hijacked)
    need = replace(ONE, min_clips=len(a.truth))  # twice the selling clips there are
    held, why = holdout_estimate([a], START, GRIDS, need)
    assert held is None and "too few to estimate from" in why and "add a --val root" in why
    assert f"with {len(a.truth)} clips" in why and "No held-out estimate (" in estimate_line(
        None, why
    )
    assert len(a.truth) == 4
    by, why = plan(
        [a], 3, replace(ONE, min_clips=2)
    )  # enough clips, but three parts of 2 cannot be cut
    assert by is None and "too few to cut into fit.parts=3 parts of 2 or more" in why
    assert plan([a], 1, ONE)[0] is None  # fit.parts=1 cannot cut


def estimate(units: dict) -> Estimate:
    rows = np.array(list(units.values()))
    score = float(score_of_counts(rows.sum(axis=0)))
    return Estimate(score, score, score, len(rows), len(rows), [score], [{}], units=units)


def clips(correct: list[bool]) -> dict:
    """Selling clips each with an entry, right at every level or wrong."""
    return {f"0/c{k}": [1, 1, *([int(ok)] * 3)] for k, ok in enumerate(correct)}


def test_a_candidate_is_kept_only_above_the_uncertainty_of_the_paired_difference():
    proc = Procedure(bootstrap=500)
    base = [k % 2 == 0 for k in range(30)]
    held = estimate(clips(base))
    better = compare(estimate(clips([True] * 30)), held, proc)  # fixes 15 clips, breaks none
    assert (
        better.kept
        and better.low > 0
        and better.difference == pytest.approx(0.5)
        and "kept" in better.why
    )
    tie = compare(estimate(clips(base)), held, proc)
    assert not tie.kept and tie.difference == 0 and "simpler setting stays" in tie.why
    swapped = compare(
        estimate(clips([not ok for ok in base])), held, proc
    )  # as many fixed as broken
    assert (
        not swapped.kept
        and swapped.low < 0 < swapped.high
        and "within the uncertainty" in swapped.why
    )
    one_more = clips(base)
    one_more["0/c1"] = [1, 1, 1, 1, 1]  # one clip fixed of 30: higher, but inside the uncertainty
    small = compare(estimate(one_more), held, proc)
    assert small.difference > 0 and not small.kept and small.low <= 0
    worse = compare(estimate(clips([False] * 30)), held, proc)
    assert not worse.kept and worse.high < 0 and "lower by" in worse.why
    assert not compare(None, held, proc).kept and not compare(held, None, proc).kept
    other = estimate({f"1/{k}": v for k, v in clips([True] * 30).items()})
    assert not compare(other, held, proc).kept  # not the same clips: nothing to pair
