"""Glue of the ``livematch match`` and ``calibrate`` commands: a feature store
(:mod:`matcher.store`) in, result.json, match_details.json or a calibration table out."""

from __future__ import annotations

import logging

from ground.dataset import Dataset
from matcher.config import MatcherConfig
from matcher.rerank import search_store
from matcher.result import write_outputs
from matcher.store import load_store, store_text
from matcher.voting import NO_CUT, MatchResult, match_catalogue

log = logging.getLogger(__name__)


def run_match(features, out, cfg: MatcherConfig) -> MatchResult:
    """Match a feature store and write ``result.json`` and ``match_details.json`` under ``out``."""
    store = load_store(features)
    dist, rows = search_store(store, cfg)
    result = match_catalogue(
        store.shop, store.video, dist, rows, cfg.voting, store_text(store, cfg)
    )
    write_outputs(out, result)
    return result


def calibrate_store(features, gt: Dataset, cfg: MatcherConfig, out=None) -> list[dict]:
    """Grid-search the voting constants for the contest score on an annotated split; with ``out``,
    write the best as a YAML override (``matcher.voting.*``). Returns the table, best first."""
    import yaml

    from ground.io import atomic_write_text
    from ground.metric import evaluate
    from matcher.sweep import sweep_votes

    store = load_store(features)
    dist, rows = search_store(store, cfg)
    table = sweep_votes(
        store.shop,
        store.video,
        dist,
        rows,
        lambda pred: evaluate(pred, gt).score,
        cfg.voting,
        text=store_text(store, cfg),
    )
    if out is not None:
        best = {k: table[0][k] for k in ("keep_fraction", "vote_fraction", "max_distance")}
        best["max_distance"] = min(best["max_distance"], NO_CUT)
        atomic_write_text(
            out,
            f"# livematch calibrate: score {table[0]['score']:.4f} on {len(gt.videos)} "
            f"clips\n" + yaml.safe_dump({"matcher": {"voting": best}}, sort_keys=False),
        )
    return table
