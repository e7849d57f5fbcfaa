"""fit's held-out estimate: what the calibrated pipeline will score on new data, with its
uncertainty.

Only VAL is ever held out: the models trained on TRAIN's clips, so their distances there are
tighter than on anything new, and a setting chosen or scored on them says little about new data.
The calibration procedure is cross-validated over VAL (:func:`plan`): with two VAL roots each root
is held out in turn; with three or more, each root is cut into ``parts`` parts (each catalogue item
with the clips that sell it) and each part is held out; with one root it is cut into parts
``cuts`` ways. Each held-out split is scored at the settings the calibration chooses
on everything else it would use (the other VAL splits, and TRAIN's parts when
``fit.train_calibration`` adds them), so the estimate measures the procedure that writes the
pipeline, on clips it never saw.

The score is pooled: each held-out clip's counts (:func:`ground.metric.clip_counts`) summed, over
the cuts too. Its interval is a percentile bootstrap over VAL clips, and two estimates made on the
same clips are compared paired (:func:`compare`): a candidate setting is kept only when the whole
interval of its difference lies above zero.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ground.metric import clip_counts, score_of_counts
from livematch.calibration import Procedure, Splits, coordinate_ascent, folds


@dataclass
class Estimate:
    """The held-out estimate: ``score`` pooled over every held-out clip, its bootstrap interval
    ``low``-``high`` over the ``clips`` VAL clips (``selling`` of them sell a listed item); each
    held-out split's own score (``per_split``) and the settings calibrated without it; ``by``
    ``roots`` (VAL roots left out one at a time), ``root parts`` (each root's ``parts`` parts left
    out one at a time) or ``parts`` (one VAL root cut ``cuts`` ways into ``parts`` parts);
    ``train_parts``: TRAIN's parts, in every calibration and never held out.
    ``units``: each held-out clip's summed counts, what the intervals resample."""

    score: float
    low: float
    high: float
    clips: int
    selling: int
    per_split: list[float]
    settings: list[dict]
    by: str = "roots"
    train_parts: int = 0
    parts: int = 0
    cuts: int = 0
    units: dict[str, list[int]] = field(default_factory=dict, repr=False)

    def brief(self) -> dict:
        """The number with its interval and clips (a candidate's record keeps these)."""
        return {"score": self.score, "low": self.low, "high": self.high, "clips": self.clips}

    def text(self) -> str:
        """``0.9300 (0.8500-0.9800, 20 clips)``: the number with its interval."""
        return interval_text(self.brief())

    def method(self) -> str:
        """One sentence on how it was made."""
        train = f" and TRAIN's clips ({self.train_parts} parts)" if self.train_parts else ""
        if self.by == "parts":
            return (
                f"VAL cut {self.cuts} times into {self.parts} parts, each catalogue item with the "
                f"clips that sell it, each part scored at the settings calibrated on the other "
                f"parts{train}; the parts share one root's conditions: more --val roots give a "
                "better one"
            )
        if self.by == "root parts":
            return (
                f"each VAL root cut into {self.parts} parts, each part scored at the settings "
                f"calibrated on the other roots and its root's other parts{train}"
            )
        return f"each VAL root scored at the settings calibrated on the other roots{train}"

    def to_dict(self) -> dict:
        """For fit.json: everything but the per-clip counts."""
        return {k: v for k, v in asdict(self).items() if k != "units"}


@dataclass
class Verdict:
    """A candidate against the held setting: the paired difference of their estimates over the
    same clips (``difference``, its interval ``low``-``high``), whether it is ``kept``, and why."""

    difference: float | None
    low: float | None
    high: float | None
    kept: bool
    why: str


def plan(val: list, parts: int, procedure: Procedure):
    """How VAL is held out, as ``(by, folds)``: each fold a list of ``(origin, held, rest)``, the
    held-out split, the VAL splits that calibrate without it, and the VAL root it comes from.

    - ``roots`` (two VAL roots, up to ``procedure.part_roots - 1``): each root held out whole;
    - ``root parts`` (``procedure.part_roots`` roots or more): each root cut into ``parts`` parts,
      each part held out, calibrated on the other roots and its root's other parts (a calibration
      on one root fewer chose worse settings than the final one on all of them);
    - ``parts`` (one root): the root cut into ``parts`` parts, ``procedure.cuts`` ways.

    ``(None, why)`` when VAL is too small to estimate from: fewer than ``2 *
    procedure.min_clips`` selling clips, or (one root) a part with fewer than ``min_clips``."""
    selling = sum(len(v.truth) for v in val)
    need = 2 * procedure.min_clips
    if selling < need:
        roots = f"{len(val)} VAL root{'s' if len(val) != 1 else ''}"
        return None, (
            f"{roots} with {selling} clips that sell a listed item: too few to estimate from "
            f"(at least {need}); add a --val root"
        )
    if len(val) >= procedure.part_roots and parts >= 2:
        cut = [folds(v, parts, 0) for v in val]
        if all(len(p.truth) >= procedure.min_clips for c in cut for p in c):
            return "root parts", [_root_parts(val, cut)]
    if len(val) > 1:
        return "roots", [[(k, v, val[:k] + val[k + 1 :]) for k, v in enumerate(val)]]
    cuts = [folds(val[0], parts, seed) for seed in range(procedure.cuts)] if parts >= 2 else []
    if not cuts or any(len(p.truth) < procedure.min_clips for cut in cuts for p in cut):
        return None, (
            f"one VAL root with {selling} clips that sell a listed item: too few to cut into "
            f"fit.parts={parts} parts of {procedure.min_clips} or more; add a --val root"
        )
    return "parts", [[(0, p, c[:k] + c[k + 1 :]) for k, p in enumerate(c)] for c in cuts]


def _root_parts(val: list, cut: list) -> list:
    """Each part of each root held out, calibrated on the other roots and its root's other parts."""
    fold = []
    for r, parts in enumerate(cut):
        others = val[:r] + val[r + 1 :]
        fold += [(r, p, others + parts[:k] + parts[k + 1 :]) for k, p in enumerate(parts)]
    return fold


def holdout_estimate(
    val: list, start, grids: dict, procedure: Procedure, parts: int = 2, always=()
):
    """The held-out estimate (module docstring) of calibrating from ``start`` on ``grids``:
    ``val``: each VAL root's :class:`~livematch.calibration.SplitScorer`; ``always``: TRAIN's
    parts, in every calibration and never held out. Returns ``(estimate, None)``, or ``(None,
    why)`` when VAL is too small (:func:`plan`)."""
    by, cuts = plan(val, parts, procedure)
    if by is None:
        return None, cuts
    always, per_split, settings, units = list(always), [], [], {}
    for fold in cuts:
        for origin, held, rest in fold:
            chosen, _ = coordinate_ascent(
                Splits(list(rest) + always),
                start,
                grids,
                procedure.rounds,
                margin=procedure.min_gain,
            )
            counts = clip_counts(held.result(chosen), held.gt, held.truth)
            per_split.append(float(score_of_counts(np.sum(list(counts.values()), axis=0))))
            settings.append(asdict(chosen))
            for clip, row in counts.items():
                units[f"{origin}/{clip}"] = list(np.add(units.get(f"{origin}/{clip}", 0), row))
    rows = np.array(list(units.values()), np.int64)
    low, high = np.quantile(_resampled(rows, score_of_counts, procedure), _tails(procedure))
    cut = by != "roots"
    return Estimate(
        float(score_of_counts(rows.sum(axis=0))),
        float(low),
        float(high),
        len(rows),
        sum(len(v.truth) for v in val),
        per_split,
        settings,
        by,
        len(always),
        parts if cut else 0,
        len(cuts) if cut else 0,
        {k: [int(x) for x in v] for k, v in units.items()},
    ), None


def interval_text(brief: dict | None) -> str:
    """An :meth:`Estimate.brief` as ``0.9300 (0.8500-0.9800, 20 clips)``; ``none`` for none."""
    if brief is None:
        return "none"
    return f"{brief['score']:.4f} ({brief['low']:.4f}-{brief['high']:.4f}, {brief['clips']} clips)"


def _tails(procedure: Procedure) -> list[float]:
    return [(1 - procedure.confidence) / 2, (1 + procedure.confidence) / 2]


def _resampled(rows: np.ndarray, statistic, procedure: Procedure) -> np.ndarray:
    """``statistic`` of ``procedure.bootstrap`` resamples of ``rows`` (clips drawn with
    replacement, summed): the same draws for every call (seed 0), so two estimates on the same
    clips are resampled alike."""
    rng = np.random.default_rng(0)
    draws = rng.integers(0, len(rows), (procedure.bootstrap, len(rows)))
    return statistic(rows[draws].sum(axis=1))


def compare(candidate: Estimate | None, held: Estimate | None, procedure: Procedure) -> Verdict:
    """Whether ``candidate``'s estimate beats ``held``'s by more than the uncertainty of their
    difference: paired over the same held-out clips, kept when the ``procedure.confidence``
    interval of the difference lies wholly above zero; otherwise the held (simpler) setting
    stays."""
    if candidate is None or held is None:
        return Verdict(
            None, None, None, False, "no held-out estimate to compare by: the simpler setting stays"
        )
    if list(candidate.units) != list(held.units):
        return Verdict(
            None,
            None,
            None,
            False,
            "the estimates were made on different clips: the simpler setting stays",
        )
    cand = np.array(list(candidate.units.values()), np.int64)
    base = np.array(list(held.units.values()), np.int64)
    width = cand.shape[1]
    both = np.concatenate([cand, base], axis=1)
    diffs = _resampled(
        both, lambda r: score_of_counts(r[..., :width]) - score_of_counts(r[..., width:]), procedure
    )
    low, high = (float(v) for v in np.quantile(diffs, _tails(procedure)))
    difference = candidate.score - held.score
    kept = low > 0
    level = f"{procedure.confidence:.0%}"
    said = (
        f"{difference:+.4f} ({level} interval {low:+.4f} to {high:+.4f}, paired over the same "
        "clips)"
    )
    why = (
        f"higher by {said}: kept"
        if kept
        else f"lower by {said}: not kept"
        if high < 0
        else f"{said}: within the uncertainty, the simpler setting stays"
    )
    return Verdict(difference, low, high, kept, why)


def estimate_line(held, why: str = "") -> str:
    """The held-out estimate as one sentence (``held``: an :class:`~livematch.estimate.Estimate`,
    or ``None`` with ``why``): the CLI, ``pipeline.yaml`` and ``fit.html`` say it alike."""
    if held is None:
        return (
            f"No held-out estimate ({why or 'none made'}): the VAL score is optimistic (it was "
            "chosen on those clips); score a third annotated split with run --gt"
        )
    return (
        f"Held-out estimate {held.text()}: {held.method()}. Expect about this on new data of the "
        f"same kind (the interval: {held.clips} clips resampled); the VAL score is optimistic, it "
        "was chosen on those clips"
    )
