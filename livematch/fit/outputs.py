"""fit's outputs: ``OUT/pipeline.yaml`` for ``livematch run``, ``OUT/fit.json``, ``OUT/fit.html``
(:mod:`livematch.fit_report`) and the :class:`FitReport` the command prints."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from ground.io import atomic_write_text, write_json
from livematch.calibration import Calibration, describe, get_value
from livematch.candidates import candidate_line, dba_k
from livematch.config import LiveMatchConfig
from livematch.estimate import Estimate, estimate_line
from matcher.voting import NO_CUT


@dataclass
class FitReport:
    """What fit chose and how long each stage took."""

    pipeline: Path
    setting: dict
    val_score: float
    start_score: float
    seconds: dict[str, float] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    holdout: Estimate | None = None  # the held-out estimate: what to expect on new data
    no_estimate: str = ""  # why there is none
    #: parts of TRAIN's clips that calibrated beside VAL (fit.train_calibration)
    train_parts: int = 0
    #: each option tried and whether it was kept
    candidates: list[dict] = field(default_factory=list)

    def lines(self) -> list[str]:
        """What ``livematch fit`` prints at the end."""
        out = [f"skipped (already trained): {', '.join(self.skipped)}"] if self.skipped else []
        out.append(
            "seconds per stage: " + ", ".join(f"{k} {v:.0f}" for k, v in self.seconds.items())
        )
        out.append(
            f"validation score {self.start_score:.4f} at the starting settings -> "
            f"{self.val_score:.4f}"
        )
        if self.train_parts:
            out.append(
                f"TRAIN's clips calibrated too ({self.train_parts} parts, each matched on its own; "
                "fit.train_calibration: by default with one or two --val roots)"
            )
        out += [candidate_line(record) for record in self.candidates]
        out.append(estimate_line(self.holdout, self.no_estimate))
        out.append(
            f"wrote {self.pipeline} and {self.pipeline.parent / 'fit.html'}; run it with\n"
            f"  livematch run --config {self.pipeline} --data ROOT --out RUN"
        )
        return out


def _relative(path: Path, base: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(base.resolve()))
    except ValueError:
        return str(Path(path).resolve())


def _pipeline_body(out: Path, cfg: LiveMatchConfig, chosen, detector, embedders) -> dict:
    """pipeline.yaml's settings: the weights (relative to ``out``), the models' inference sizes,
    what fit learned from the data, the kept candidates and every calibrated setting."""
    extract, rerank = cfg.embedder.extract, cfg.matcher.rerank
    tta = {"scales_tta": list(extract.scales_tta)} if extract.scales_tta else {}
    dba = {"rerank": {"dba_k": dba_k(cfg), "alpha": float(rerank.alpha)}} if dba_k(cfg) else {}
    worn = {"worn": _relative(cfg.weights.worn, out)} if cfg.weights.worn else {}
    body = {
        "weights": {
            "detector": _relative(detector, out),
            "embedders": [_relative(e, out) for e in embedders],
            **worn,
        },
        "detector": {
            "infer": {
                "photo_short_side": cfg.detector.infer.photo_short_side,
                "frame_short_side": cfg.detector.infer.frame_short_side,
            }
        },
        "embedder": {
            "data": {"crop_margin": cfg.embedder.data.crop_margin},
            "extract": {"scale": extract.scale, **tta},
        },
        "media": {
            "backend": cfg.media.backend.value,
            "infer_frames": asdict(cfg.media.infer_frames),
        },
        "matcher": {"voting": {"annotation_step": cfg.matcher.voting.annotation_step}, **dba},
    }
    for section, part in chosen.overrides().items():
        for name, values in part.items():
            body.setdefault(section, {}).setdefault(name, {}).update(values)
    return body


def _pipeline_comments(cfg: LiveMatchConfig, scores: dict, val_roots) -> list[str]:
    """pipeline.yaml's opening comments: what calibrated it, the scores of each choice, the
    held-out estimate and each candidate's sentence."""
    parts = scores.get("train_parts", 0)
    lines = [
        f"# Written by `livematch fit` on {time.strftime('%Y-%m-%d %H:%M')}; calibrated on "
        f"{', '.join(map(str, val_roots))}"
        + (f" and {parts} parts of TRAIN's clips (fit.train_calibration)" if parts else "")
        + " by the contest score.",
        f"# VAL score: {scores['start']:.4f} at the starting settings -> {scores['chosen']:.4f} "
        "chosen.",
        f"# {estimate_line(scores.get('holdout'), scores.get('no_estimate', ''))}",
        (
            "# Calibration score (mean over the VAL roots and TRAIN's parts) of each choice"
            if parts
            else "# VAL score of each choice"
        )
        + " (the other settings as chosen; curves in fit.html):",
    ]
    lines += [
        f"#   {name} = {describe(value, name)}: {score:.4f} (best alternative {alt})"
        for name, value, score, alt in scores["rows"]
    ]
    lines += [f"# {candidate_line(record)}." for record in scores.get("candidates") or []]
    lines.append(
        f"# Annotated frames every {cfg.matcher.voting.annotation_step} frames (learned from TRAIN "
        "and VAL): evidence frames are moved onto that grid."
    )
    lines.append("# Use: livematch run --config <this file> --data ROOT --out RUN")
    return lines


def write_pipeline(
    out: Path, cfg: LiveMatchConfig, chosen, scores: dict, detector, embedders, val_roots
) -> Path:
    """``OUT/pipeline.yaml``: the weights (relative to it), the models' inference settings and
    every calibrated setting, with the validation score of each choice in comments."""
    body = _pipeline_body(out, cfg, chosen, detector, embedders)
    text = yaml.safe_dump(body, sort_keys=False, allow_unicode=True)
    lines = _pipeline_comments(cfg, scores, val_roots)
    return atomic_write_text(out / "pipeline.yaml", "\n".join(lines) + "\n" + text)


def _choice_rows(sweeps, chosen) -> list[tuple]:
    """Per swept setting (last round): its chosen value, its score, the best other value and
    score."""
    last = {s.name: s for s in sweeps}  # each setting's curve of its last round
    rows = []
    for name, s in last.items():
        pairs = list(zip(s.values, s.scores))
        value = (
            (
                chosen.keep_fraction,
                chosen.vote_fraction,
                min(chosen.max_distance, NO_CUT),
                chosen.rule,
                chosen.assign,
            )
            if name == "vote"
            else get_value(chosen, name)
        )
        same = (
            (lambda v, value=value: v == value or (v[:2], v[3:]) == (value[:2], value[3:]))
            if name == "vote"
            else value.__eq__
        )
        mine = max((sc for v, sc in pairs if same(v)), default=float("nan"))
        others = [(sc, v) for v, sc in pairs if v != value]
        alt = f"{describe(max(others)[1], name)}: {max(others)[0]:.4f}" if others else "none"
        rows.append((name, value, mine, alt))
    return rows


def _fit_record(job, cfg, found: Calibration, scores: dict, levels: list, seconds, skipped) -> dict:
    """``OUT/fit.json``: what fit chose, its scores and estimate, the candidates, every sweep."""
    held, parts = found.estimate, found.train_parts
    return {
        "train_roots": [str(r) for r in job.train_roots],
        "val_roots": [str(r) for r in job.val_roots],
        "setting": asdict(found.chosen),
        "start": asdict(found.start),
        "val_score": scores["chosen"],
        "start_score": scores["start"],
        "holdout": held.to_dict() if held else None,
        "no_estimate": found.no_estimate,
        "val": levels,
        "train_parts": len(parts),
        "candidates": scores["candidates"],
        "region_learned": found.region,
        "annotation_step": cfg.matcher.voting.annotation_step,
        "seconds": seconds,
        "skipped": skipped,
        "evaluations": found.val.evaluations + sum(p.evaluations for p in parts),
        "sweeps": [asdict(s) for s in found.sweeps],
    }


def write_outputs(
    job, cfg: LiveMatchConfig, found: Calibration, seconds: dict, skipped: list, candidates: list
) -> FitReport:
    """``OUT/pipeline.yaml``, ``OUT/fit.json`` and ``OUT/fit.html`` from the calibration
    ``found`` of the job (``cfg``: its config with the kept candidates)."""
    from livematch.fit_report import write_fit_report

    start, chosen, cal, held = found.start, found.chosen, found.val, found.estimate
    scores = {
        "start": cal.score(start),
        "chosen": cal.score(chosen),
        "rows": _choice_rows(found.sweeps, chosen),
        "holdout": held,
        "no_estimate": found.no_estimate,
        "train_parts": len(found.train_parts),
        "candidates": candidates,
    }
    out, roots = job.out, job.val_roots
    path = write_pipeline(out, cfg, chosen, scores, job.detector, job.embedders, roots)
    levels = [e.to_dict() for e in cal.evaluation(chosen)]
    write_json(out / "fit.json", _fit_record(job, cfg, found, scores, levels, seconds, skipped))
    page = (chosen, start, scores, found.sweeps, job.splits[0], found.region, levels, roots)
    write_fit_report(out / "fit.html", *page)
    return FitReport(
        path,
        asdict(chosen),
        scores["chosen"],
        scores["start"],
        seconds,
        skipped,
        held,
        found.no_estimate,
        len(found.train_parts),
        candidates,
    )
