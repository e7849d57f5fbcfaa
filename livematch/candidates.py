"""fit's candidates: options tried on top of the calibrated pipeline, one loop for all of them.

Each :class:`Candidate` sets one config key. fit calibrates again with it (on the crop rows already
made when it changes only the search, on rows embedded again when it changes the features), and
keeps it only when its held-out estimate beats the held setting's by more than the uncertainty of
their difference (:func:`livematch.estimate.compare`, paired over the same VAL clips); otherwise
the simpler setting stays. Adding a candidate is one entry in :func:`candidates`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from omegaconf import OmegaConf

from ground.errors import ConfigError
from livematch.calibration import Calibration, Procedure
from livematch.estimate import compare, interval_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    """An option fit tries: config ``key`` set to ``value`` (the start of its calibration when
    ``calibrated`` names the setting it tunes); ``label`` says it for people; ``rows``: empty when
    it calibrates the crop rows already made (it changes the search, not the features), else the
    folder under ``OUT/calibration`` where VAL (and TRAIN's parts) are embedded again with it."""

    key: str
    value: object
    label: str
    rows: str = ""
    #: the :class:`~livematch.calibration.Setting` field the calibration tunes from ``value`` (its
    #: chosen value is the candidate's; 0 there means the simpler setting)
    calibrated: str = ""


def dba_k(cfg) -> int:
    """The database-side augmentation ``cfg`` searches with (0: none)."""
    return int(cfg.matcher.rerank.dba_k) if cfg.matcher.rerank.dba_k > 1 else 0


def tta_sizes(scale: int, multiples) -> list[int]:
    """The extra test-time crop sizes ``fit.tta_scales`` asks for, as multiples of ``scale``."""
    if any(m <= 0 for m in multiples):
        raise ConfigError(
            "fit.tta_scales must be positive multiples of the embedder's scale, got "
            f"{list(multiples)}"
        )
    return [round(scale * m) for m in multiples]


def text_start(weights) -> float:
    """The text weight the text candidate starts its calibration from: the middle of the positive
    ``Procedure.text_weights`` (the calibration then sweeps them all, and 0)."""
    positive = sorted(float(w) for w in weights if w > 0)
    return positive[len(positive) // 2] if positive else 0.0


def candidates(cfg, procedure: Procedure, text: bool = False) -> list[Candidate]:
    """What fit tries, in order: database-side augmentation with each k of ``procedure.dba_k``
    (1 and less: none) other than the configured one, ``fit.tta_scales`` when it lists any, then
    the words (``text``: VAL has titles and transcripts; ``procedure.text_weights`` lists one and
    the config does not vote with text already)."""
    out = [
        Candidate("matcher.rerank.dba_k", int(k), f"database-side augmentation k = {int(k)}")
        for k in dict.fromkeys(procedure.dba_k)
        if int(k) > 1 and int(k) != dba_k(cfg)
    ]
    if cfg.fit.tta_scales:
        sizes = tta_sizes(cfg.embedder.extract.scale, cfg.fit.tta_scales)
        out.append(
            Candidate(
                "embedder.extract.scales_tta",
                sizes,
                f"crops also embedded at {sizes} px (fit.tta_scales {list(cfg.fit.tta_scales)})",
                "tta",
            )
        )
    weight = text_start(procedure.text_weights)
    if text and weight > 0 and not cfg.matcher.voting.text_weight:
        out.append(
            Candidate(
                "matcher.voting.text_weight",
                weight,
                "item titles against clip transcripts beside the pictures "
                f"(weight calibrated over {[0.0, *sorted(procedure.text_weights)]})",
                calibrated="text_weight",
            )
        )
    return out


def has_text(stores) -> bool:
    """Whether any of the crop-row ``stores`` holds both titles and transcripts."""
    return any(s.titles and s.transcripts for s in stores)


def with_value(cfg, key: str, value):
    """A copy of config ``cfg`` with dotted ``key`` set to ``value``."""
    from livematch.config import load_config

    conf = OmegaConf.structured(cfg)
    OmegaConf.update(conf, key, value, merge=False)
    return load_config(None, layers=[conf])


def _brief(estimate) -> dict | None:
    return None if estimate is None else estimate.brief()


def try_candidates(
    cfg, found: Calibration, rows, rows_for, choose, procedure: Procedure, text: bool = False
):
    """Each of :func:`candidates` against the calibration held so far (``found`` on ``rows`` at
    first): ``rows_for(cfg, folder)`` makes a candidate's own crop rows (``None`` on torchrun ranks
    other than 0), ``choose(cfg, rows)`` calibrates. Returns ``(cfg, calibration, records)``, one
    record per candidate (what :func:`candidate_line` says), or ``None`` on ranks other than 0."""
    records = []
    for cand in candidates(cfg, procedure, text):
        other = with_value(cfg, cand.key, cand.value)
        mine = rows if not cand.rows else rows_for(other, cand.rows)
        if mine is None:
            return None
        trial = choose(other, mine)
        verdict, value = judged(cand, trial, found, procedure)
        records.append(
            {
                "key": cand.key,
                "value": value,
                "label": cand.label,
                "estimate": _brief(trial.estimate),
                "against": _brief(found.estimate),
                "difference": verdict.difference,
                "low": verdict.low,
                "high": verdict.high,
                "kept": verdict.kept,
                "why": verdict.why,
            }
        )
        log.info("%s", candidate_line(records[-1]))
        if verdict.kept:
            cfg, found, rows = other, trial, mine
    return cfg, found, records


def judged(cand: Candidate, trial: Calibration, found: Calibration, procedure: Procedure):
    """The verdict on ``trial`` against ``found`` (:func:`livematch.estimate.compare`) and the
    candidate's value as calibrated: a calibration that tuned it back to 0 keeps the simpler
    setting whatever the estimates say."""
    verdict = compare(trial.estimate, found.estimate, procedure)
    if not cand.calibrated:
        return verdict, cand.value
    value = getattr(trial.chosen, cand.calibrated)
    if not value:
        why = f"its calibration chose {cand.calibrated} = 0 (off): the simpler setting stays"
        verdict = replace(verdict, kept=False, why=why)
    return verdict, value


def candidate_line(record: dict) -> str:
    """One candidate's record as one sentence: the CLI, ``pipeline.yaml`` and ``fit.html`` say it
    alike."""
    return (
        f"candidate {record['label']} ({record['key']}={record['value']}): held-out estimate "
        f"{interval_text(record['estimate'])} against {interval_text(record['against'])} "
        f"without; {record['why']}"
    )
