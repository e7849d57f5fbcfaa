"""How far fit's held-out estimate is from the score on unseen data,
over draws of the sample generator.

    python -m bench.estimate                      # ten draws, about 50 minutes on 2 cores
    python -m bench.estimate --toy                # tiny roots, the test's size

The models are given (by default the committed demo's, ``configs/pipeline/demo.yaml``: trained on
sample data of ``--train-seed``, so TRAIN's clips are clips the models trained on, as in a user's
fit). The bench writes the sample roots it needs under ``--work`` (TRAIN, each draw's VAL roots,
the unseen ``--test`` roots), detects and embeds each once as fit does (its crop rows), then, for
each draw of VAL roots, runs fit's calibration stage (:mod:`livematch.fit.calibrate`, with the
candidates of :mod:`livematch.candidates`) and scores the pipeline it keeps on the unseen roots.
Beside the estimate it prints two other numbers a user could read: the VAL score the calibration
reached on its own clips (in sample), and the estimate fit printed until the estimate held VAL out
(``previous``: with one VAL root, VAL scored at settings calibrated on TRAIN's clips alone; the mean
of the per-split scores; candidates kept on any higher number). The ratio printed is the previous
estimate's mean error over this one's, measured in the same run. Writes ``--json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

DRAWS = (  # VAL seeds of each draw
    (41,),
    (42,),
    (43,),
    (44,),
    (45, 46),
    (41, 42, 43),
    (44, 45, 46),
    (42, 43, 45),
    (41, 45, 46),
    (43, 44, 46),
)
TEST = (51, 52, 53, 54, 55, 56)  # unseen roots: every draw's pipeline is scored on them
TOY = {
    "draws": ((61,), (61, 62)),
    "test": (63,),
    "size": {"items": 5, "videos": 4, "width": 320, "height": 180, "frames": 200},
    "overrides": [
        "detector.infer.photo_short_side=128",
        "detector.infer.frame_short_side=128",
        "media.infer_frames.step=100",
        "embedder.extract.scale=64",
    ],
    "procedure": ["rounds=1", "min_clips=1", "bootstrap=200"],
}


def _root(work: Path, name: str, seed: int, size: dict) -> Path:
    """The sample root ``name`` of ``seed`` under ``work/data`` (written once)."""
    from livematch.sampledata.generate import SampleConfig, generate_dataset

    root = work / "data" / name
    if not (root / "video").is_dir():
        generate_dataset(
            root, SampleConfig(seed=seed, workers=2, **size), overwrite=True, progress=False
        )
    return root


class Rows:
    """Each root's crop rows (fit's :func:`~livematch.fit.calibrate.validation_rows`, cached under
    ``work/rows``) and its dataset, with the scorers fit builds on them."""

    def __init__(self, cfg, work: Path, detector: Path, embedders: list[Path]):
        from detector.model import class_names

        self.cfg, self.work, self.detector, self.embedders = cfg, work, detector, embedders
        self.classes = class_names(cfg.detector.model)
        self.cache: dict[Path, tuple] = {}

    def __call__(self, root: Path):
        from ground.dataset import load_dataset
        from livematch.fit.calibrate import validation_rows

        if root not in self.cache:
            store = validation_rows(
                self.cfg,
                [root],
                self.detector,
                self.embedders,
                self.work / "rows" / root.name,
                False,
            )
            self.cache[root] = (store, load_dataset([root], probe_media=True))
        return self.cache[root]

    def score(self, root: Path, cfg, setting) -> tuple[float, dict]:
        """The contest score ``setting`` gives on ``root`` with ``cfg``'s search (what ``run``
        scores), and whether each clip got its item right (item level: the sold item, or no
        answer for a clip that sells none listed)."""
        from ground.metric import evaluate
        from livematch.fit.calibrate import scorer

        store, ds = self(root)
        cal = scorer(cfg.matcher, self.classes, store, ds)
        pred = cal.result(setting)
        right = {
            f"{root.name}/{v}": (pred[v]["item_id"] if v in pred else None) == cal.truth.get(v)
            for v in ds.videos
        }
        return evaluate(pred, ds, cal.truth).score, right


def base_config(pipeline: Path, train_root: Path, roots: list[Path], work: Path, overrides=()):
    """fit's configuration for calibrating the models ``pipeline`` names (as ``livematch fit
    --detector D --embedder E`` builds it): the recipe, the checkpoints' settings, the worn scorer,
    the annotated grid of the roots."""
    from ground.dataset import annotation_grid, load_dataset
    from livematch.config import given_keys, load_config, use_checkpoints
    from livematch.fit.inputs import fit_config, use_annotation_grid

    given = load_config(pipeline)
    train = load_dataset([train_root], probe_media=True)
    cfg = fit_config([train_root], roots, work, {}, None, list(overrides), None, train)
    detector, embedders = Path(given.weights.detector), [Path(e) for e in given.weights.embedders]
    use_checkpoints(cfg, detector, embedders[0], given_keys(None, overrides))
    cfg.weights.worn = given.weights.worn
    cfg.embedder.extract.scales_tta = []
    use_annotation_grid(
        cfg, annotation_grid([train, *(load_dataset([r], probe_media=False) for r in roots)])
    )
    return cfg, train, detector, embedders


def previous_estimate(found, procedure) -> float | None:
    """The estimate fit printed before it held VAL out: with one VAL root and TRAIN's parts, VAL
    scored at the settings calibrated on TRAIN's parts alone; otherwise the mean of the held-out
    splits' own scores (the same calibrations as the estimate's)."""
    from livematch.calibration import Splits, coordinate_ascent

    val, parts = found.val.calibrators, found.train_parts
    if len(val) == 1 and parts:
        chosen, _ = coordinate_ascent(
            Splits(parts), found.start, found.grids, procedure.rounds, margin=procedure.min_gain
        )
        return val[0].score(chosen)
    return float(np.mean(found.estimate.per_split)) if found.estimate else None


def _estimate_row(found) -> dict:
    """A calibration's estimate, interval and in-sample score, as the table shows them."""
    est = found.estimate
    return {
        "train_parts": len(found.train_parts),
        "estimate": est.score if est else None,
        "low": est.low if est else None,
        "high": est.high if est else None,
        "clips": est.clips if est else 0,
        "no_estimate": found.no_estimate,
        "in_sample": found.val.score(found.chosen),
    }


def run_draw(seeds, rows: Rows, cfg, train_ds, train_rows, tests, procedure, log) -> dict:
    """fit's calibration stage on the draw's VAL roots ``seeds`` and the score of what it keeps on
    ``tests``."""
    from livematch.calibration import uses_train
    from livematch.candidates import candidates, has_text, judged, with_value
    from livematch.fit.calibrate import choose_settings

    roots = [rows.work / "data" / f"seed{s}" for s in seeds]
    stores, splits = zip(*(rows(r) for r in roots))
    train = train_rows if uses_train(cfg.fit, len(roots), procedure) else []
    t0 = time.perf_counter()

    def choose(c):
        found = choose_settings(c, list(stores), train_ds, list(splits), False, train, procedure)
        scored = [rows.score(t, c, found.chosen) for t in tests]
        right = {k: v for _, r in scored for k, v in r.items()}
        unseen = float(np.mean([score for score, _ in scored]))
        return found, unseen, previous_estimate(found, procedure), right

    plain = choose(cfg)
    kept, now, before = plain, [], plain
    for cand in candidates(cfg, procedure, has_text(stores)):
        trial = choose(with_value(cfg, cand.key, cand.value))
        verdict, value = judged(cand, trial[0], kept[0], procedure)  # fit's rule, as fit applies it
        now.append(
            {
                "candidate": cand.label,
                "key": cand.key,
                "kept": verdict.kept,
                "why": verdict.why,
                "value": value,
                **effect(kept, trial),
            }
        )
        kept = trial if verdict.kept else kept
        before = (
            trial
            if (trial[2] is not None and before[2] is not None and trial[2] > before[2])
            else before
        )
    found, unseen, *_ = kept
    row = {"val": list(seeds), "unseen": unseen, "candidates": now, **_estimate_row(found)}
    row.update(previous=before[2], previous_unseen=before[1], seconds=time.perf_counter() - t0)
    est = found.estimate
    log.info(
        "draw %s: estimate %s, unseen %.4f", seeds, est.text() if est else found.no_estimate, unseen
    )
    return row


def effect(held, trial) -> dict:
    """What a candidate does on the unseen roots, tried or kept: the unseen score without and
    with it, and the clips whose item it makes right (fixed) or wrong (caused)."""
    before, after = held[3], trial[3]
    return {
        "unseen_without": held[1],
        "unseen_with": trial[1],
        "fixed": sum(after[k] and not before[k] for k in before),
        "caused": sum(before[k] and not after[k] for k in before),
        "wrong_without": sum(not v for v in before.values()),
        "test_clips": len(before),
    }


def candidate_summary(rows: list[dict]) -> dict:
    """Each candidate over the draws: mean unseen score without and with it (and their spread
    over the draws), how often it was kept, the clips it fixed and caused."""
    out = {}
    for key in dict.fromkeys(c["key"] for r in rows for c in r["candidates"]):
        tried = [c for r in rows for c in r["candidates"] if c["key"] == key]
        gain = [c["unseen_with"] - c["unseen_without"] for c in tried]
        out[key] = {
            "draws": len(tried),
            "kept": sum(c["kept"] for c in tried),
            "unseen_without": float(np.mean([c["unseen_without"] for c in tried])),
            "unseen_with": float(np.mean([c["unseen_with"] for c in tried])),
            "gain": float(np.mean(gain)),
            "gain_sd": float(np.std(gain, ddof=1)) if len(gain) > 1 else None,
            "draws_better": sum(g > 0 for g in gain),
            "fixed": sum(c["fixed"] for c in tried),
            "caused": sum(c["caused"] for c in tried),
            "wrong_without": sum(c["wrong_without"] for c in tried),
        }
    return out


def summary(rows: list[dict]) -> dict:
    """Mean and worst absolute error of each number against the unseen score of its own pipeline,
    and how many intervals covered the unseen score."""

    def errors(key, truth):
        return [abs(r[key] - r[truth]) for r in rows if r[key] is not None]

    out = {}
    for name, key, truth in (
        ("estimate", "estimate", "unseen"),
        ("in sample", "in_sample", "unseen"),
        ("previous", "previous", "previous_unseen"),
    ):
        e = errors(key, truth)
        out[name] = {
            "mean": float(np.mean(e)) if e else None,
            "worst": float(max(e)) if e else None,
            "draws": len(e),
        }
    inside = [r["low"] <= r["unseen"] <= r["high"] for r in rows if r["estimate"] is not None]
    out["covered"] = f"{sum(inside)} of {len(inside)}"
    # what a perfect estimator of the procedure's score would still miss by, from its VAL clips'
    # sampling alone: E|N(0, sd^2)| = sd * sqrt(2 / pi), sd read off each 90 % interval
    sd = [(r["high"] - r["low"]) / (2 * 1.645) for r in rows if r["estimate"] is not None]
    out["sampling_floor"] = float(np.mean(sd) * math.sqrt(2 / math.pi)) if sd else None
    est, prev = out["estimate"]["mean"], out["previous"]["mean"]
    out["ratio"] = prev / est if est and prev is not None else None
    out["candidates"] = candidate_summary(rows)
    return out


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def table(rows: list[dict], summ: dict) -> str:
    lines = [
        f"{'VAL seeds':<12} {'TRAIN':>5} {'estimate (interval, clips)':<28} {'unseen':>6} "
        f"{'error':>6} {'in sample':>9} {'previous':>8} {'its unseen':>10} candidates kept"
    ]
    for r in rows:
        est = (
            f"{r['estimate']:.3f} ({r['low']:.3f}-{r['high']:.3f}, {r['clips']})"
            if r["estimate"] is not None
            else "none"
        )
        err = abs(r["estimate"] - r["unseen"]) if r["estimate"] is not None else None
        kept = ", ".join(c["candidate"] for c in r["candidates"] if c["kept"]) or "none"
        lines.append(
            f"{','.join(map(str, r['val'])):<12} {r['train_parts']:>5} {est:<28} "
            f"{r['unseen']:>6.3f} {_fmt(err):>6} {r['in_sample']:>9.3f} {_fmt(r['previous']):>8} "
            f"{r['previous_unseen']:>10.3f} {kept}"
        )
    for name in ("estimate", "in sample", "previous"):
        s = summ[name]
        lines.append(
            f"{name:<10} mean error {_fmt(s['mean'])}, worst {_fmt(s['worst'])} over {s['draws']} "
            "draws"
        )
    lines.append(
        f"intervals covering the unseen score: {summ['covered']}; previous / estimate mean error: "
        f"x{_fmt(summ['ratio'])}; the VAL clips' sampling alone: mean error "
        f"{_fmt(summ['sampling_floor'])}"
    )
    for key, c in summ["candidates"].items():
        lines.append(
            f"{key}: unseen {c['unseen_without']:.3f} without, {c['unseen_with']:.3f} with "
            f"(gain {c['gain']:+.3f}, sd {_fmt(c['gain_sd'])} over {c['draws']} draws, better in "
            f"{c['draws_better']}); kept in {c['kept']}; wrong items fixed {c['fixed']}, caused "
            f"{c['caused']} of {c['wrong_without']} wrong without"
        )
    return "\n".join(lines)


def arguments(argv=None) -> argparse.Namespace:
    """The command line, with ``--toy``'s sizes, overrides and procedure applied."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pipeline",
        type=Path,
        default=Path("configs/pipeline/demo.yaml"),
        help="The models to calibrate (its weights); its settings are not used.",
    )
    parser.add_argument(
        "--work", type=Path, default=Path("runs/bench_estimate"), help="Sample roots and crop rows."
    )
    parser.add_argument(
        "--train-seed", type=int, default=20, help="TRAIN's seed (the demo's models trained on 20)."
    )
    parser.add_argument(
        "--draws",
        default=";".join(",".join(map(str, d)) for d in DRAWS),
        help="VAL seeds of each draw: '41;42;45,46'.",
    )
    parser.add_argument(
        "--test", default=",".join(map(str, TEST)), help="Seeds of the unseen roots."
    )
    parser.add_argument(
        "--toy", action="store_true", help="Tiny roots and searches: the test's size."
    )
    parser.add_argument(
        "-o", "--override", action="append", default=[], help="KEY=VALUE over fit's config."
    )
    parser.add_argument(
        "-p", "--procedure", action="append", default=[], help="KEY=VALUE of fit's Procedure."
    )
    parser.add_argument("--json", type=Path, default=Path("bench/results/estimate.json"))
    args = parser.parse_args(argv)
    args.draws = [tuple(int(s) for s in d.split(",")) for d in args.draws.split(";")]
    args.test, args.size, args.train_size = [int(s) for s in args.test.split(",")], {}, {}
    args.train_size = {"items": 60, "videos": 50}
    if args.toy:
        args.draws, args.test, args.size = list(TOY["draws"]), list(TOY["test"]), TOY["size"]
        args.train_size = {**TOY["size"], "videos": 6}
        args.override = TOY["overrides"] + args.override
        args.procedure = TOY["procedure"] + args.procedure
    return args


def main(argv=None) -> dict:
    from bench import procedure as parse_procedure
    from ground.io import write_json
    from livematch.fit.calibrate import train_rows

    args = arguments(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    log = logging.getLogger("bench.estimate")
    log.setLevel(logging.INFO)
    proc = parse_procedure(args.procedure)
    train_root = _root(args.work, "train", args.train_seed, args.train_size)
    seeds = sorted({s for d in args.draws for s in d} | set(args.test))
    roots = {s: _root(args.work, f"seed{s}", s, args.size) for s in seeds}
    cfg, train_ds, detector, embedders = base_config(
        args.pipeline, train_root, list(roots.values()), args.work, args.override
    )
    rows = Rows(cfg, args.work, detector, embedders)
    for root in roots.values():
        rows(root)
    train_run = args.work / "rows" / "train"
    trained = train_rows(cfg, [train_root], detector, embedders, train_run, False, proc)
    tests = [roots[t] for t in args.test]
    results = [run_draw(d, rows, cfg, train_ds, trained, tests, proc, log) for d in args.draws]
    summ = summary(results)
    print(table(results, summ))
    out = {"draws": results, "summary": summ, "test": args.test, "train_seed": args.train_seed}
    out.update(pipeline=str(args.pipeline), procedure=vars(replace(proc)))
    write_json(args.json, json.loads(json.dumps(out, default=list)))
    return out


if __name__ == "__main__":
    main()
