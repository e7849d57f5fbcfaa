"""The vote swept: every point of a grid of the voting constants scored on a validation split by
a score function (the contest score, supplied by the caller: the matcher itself knows no ground
truth)."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np

from matcher.config import VotingConfig
from matcher.crops import CropTable
from matcher.result import to_result
from matcher.text import TextScores
from matcher.voting import ASSIGN, RULES, MatchResult, accepts, check_voting, match_catalogue

DEFAULT_GRID = {
    "keep_fraction": [0.1, 0.2, 0.28, 0.4, 0.6, 0.8, 1.0],
    "vote_fraction": [0.25, 0.5, 0.75, 1.0],
}


def _cut(result: MatchResult, cfg: VotingConfig) -> MatchResult:
    """The same result with pairs beyond ``cfg.max_distance`` dropped (identical to greedy voting
    with that cut: it applies after each video has kept its nearest folder)."""
    kept = {v: m for v, m in result.matches.items() if accepts(m.distance, cfg)}
    return MatchResult(kept, result.claims, result.rejected)


def distance_grid(result: MatchResult, steps: int = 12) -> list[float]:
    """Candidate cut-offs: quantiles of the matched pairs' distances, plus no cut at all."""
    d = np.array([m.distance for m in result.matches.values()])
    if not len(d):
        return [float("inf")]
    qs = np.unique(np.round(np.quantile(d, np.linspace(0.1, 1.0, steps)), 4))
    return [float(q) for q in qs] + [float("inf")]


def sweep_votes(
    shop: CropTable,
    video: CropTable,
    dist: np.ndarray,
    rows: np.ndarray,
    score_fn,
    base: VotingConfig | None = None,
    grid: dict | None = None,
    text: TextScores | None = None,
) -> list[dict]:
    """Score every (keep_fraction, vote_fraction, max_distance) combination; returns the table
    rows ``{keep_fraction, vote_fraction, max_distance, score, matches}``, best first (ties:
    the grid's earlier values, i.e. the more conservative setting). ``base`` gives every other
    voting choice (rule, assignment, evidence, text weight); ``text``: the title / transcript
    similarities the vote adds (:func:`matcher.voting.match_catalogue`)."""
    base, grid = base or VotingConfig(), {**DEFAULT_GRID, **(grid or {})}
    check_voting(base)
    if not RULES[base.rule].fractions:  # a rule without kept / vote fractions: a row per cut-off
        grid = {
            **grid,
            "keep_fraction": [base.keep_fraction],
            "vote_fraction": [base.vote_fraction],
        }
    table = []
    for keep, vote in itertools.product(grid["keep_fraction"], grid["vote_fraction"]):
        cfg = replace(base, keep_fraction=keep, vote_fraction=vote, max_distance=float("inf"))
        full = match_catalogue(shop, video, dist, rows, cfg, text)
        cuts = grid.get("max_distance") or distance_grid(full)
        for cut in cuts:
            at_cut = replace(cfg, max_distance=cut)
            # a joint (global) assignment changes with the cut (a pair beyond it frees both
            # sides): re-solve
            result = (
                match_catalogue(shop, video, dist, rows, at_cut, text)
                if ASSIGN[base.assign].joint
                else _cut(full, at_cut)
            )
            table.append(
                {
                    "keep_fraction": keep,
                    "vote_fraction": vote,
                    "max_distance": cut,
                    "score": float(score_fn(to_result(result))),
                    "matches": len(result.matches),
                }
            )
    order = sorted(range(len(table)), key=lambda i: (-table[i]["score"], i))
    return [table[i] for i in order]
