"""How well fit's held-out estimates foretell the score on unseen data.

    python -m bench.holdout --fit runs/fit_s12 \
        --val data/val21=runs/fit_s12/calibration/val_run --val data/val22=runs/fit_s12/calibration/val_run1 ... \
        --test data/seed31=runs/abl_wornclf/seed31 ...

Each ``DATA=RUN`` is an annotated root and a folder of its crop rows detected with the fit's
models at the lowest threshold, every class, the whole frame (fit's ``calibration/val_run*``, or
``bench.fit_ablation``'s ``--work`` folders for unseen roots). For each ``--val`` root alone, as a
user with one VAL root would run fit: the in-sample score of the settings calibrated on it, the
held-out estimate over its parts (:func:`livematch.calibration.holdout_estimate`) and the score of those settings on
the ``--test`` roots; then the same for all ``--val`` roots together with the leave-one-root-out
estimate; with ``--train``, TRAIN's parts join each calibration as ``fit.train_calibration`` says
(``-o fit.train_calibration=always`` etc. to try the others); with ``--baseline``,
a pipeline's own settings scored as they are; ``--rotate [N]``: each ``--val`` root alone (each
combination of N roots) as VAL, scored on the others, without and with TRAIN's parts (and with
``--baseline``, calibration started from the baseline's settings). Prints the table and
each estimate's mean error, writes ``bench/results/holdout.json``.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np


def main(argv=None) -> dict:
    from detector.model import class_names
    from ground.dataset import load_dataset
    from ground.io import write_json
    from bench import procedure
    from livematch.calibration import (SplitScorer, Setting, Splits, coordinate_ascent, fit_grids, holdout_estimate,
                                       setting_of, train_splits, uses_train)
    from livematch.config import load_config
    from livematch.config import use_checkpoints
    from matcher.store import load_store
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", type=Path, required=True, help="A livematch fit output folder.")
    parser.add_argument("--val", action="append", required=True, help="DATA=RUN: a VAL root and its crop rows.")
    parser.add_argument("--test", action="append", default=[], help="DATA=RUN: an unseen root and its crop rows.")
    parser.add_argument("--rotate", type=int, nargs="?", const=1, default=0, metavar="N", help="Each --val root "
                        "alone (or each combination of N roots) as VAL, scored on the other --val roots and the "
                        "--test roots, calibrated on it alone and with TRAIN's parts (--train): what "
                        "fit.train_calibration buys a user with N VAL roots; with --baseline also the baseline's "
                        "settings as they are and calibration started from them instead of the checkpoint's.")
    parser.add_argument("--shard", default="0/1", metavar="K/N", help="With --rotate: only the K-th of every N "
                        "combinations (0-based), to share the work among N processes (their --json files hold the rows).")
    parser.add_argument("--train", action="append", default=[], help="DATA=RUN: a TRAIN root and its crop rows; "
                        "they calibrate too where fit.train_calibration says so (by default with one or two VAL roots).")
    parser.add_argument("--baseline", type=Path, help="Also score this pipeline YAML's settings as they are "
                        "(e.g. configs/pipeline/demo.yaml): what calibrating is measured against.")
    parser.add_argument("-o", "--override", action="append", default=[], help="KEY=VALUE over the fit's "
                        "pipeline.yaml, e.g. fit.train_calibration=always.")
    parser.add_argument("-p", "--procedure", action="append", default=[], help="KEY=VALUE of fit's search "
                        "(livematch.calibration.Procedure), e.g. min_gain=0.01, rounds=1, cuts=5.")
    parser.add_argument("--json", type=Path, default=Path("bench/results/holdout.json"))
    args = parser.parse_args(argv)
    proc = procedure(args.procedure)
    logging.getLogger().setLevel(logging.ERROR)
    record = json.loads((args.fit / "fit.json").read_text())
    start = Setting(**{k: tuple(v) if isinstance(v, list) else v for k, v in record["start"].items()})
    cfg = load_config(args.fit / "pipeline.yaml", args.override)
    use_checkpoints(cfg, cfg.weights.detector, cfg.weights.embedders[0])
    classes = class_names(cfg.detector.model)

    def calibrator(spec: str) -> tuple[str, SplitScorer]:
        data, _, run = spec.partition("=")
        gt = load_dataset([data])  # probed: the region test needs each clip's frame size
        sizes = {v.video_id: v.size for v in gt.videos.values() if v.size}
        return Path(data).name, SplitScorer(load_store(Path(run) / "features"), classes, sizes, gt, cfg.matcher)

    vals, test = dict(map(calibrator, args.val)), Splits([calibrator(s)[1] for s in args.test])
    parts = train_splits([calibrator(s)[1] for s in args.train], cfg.fit.parts)
    grids = fit_grids(cfg, classes, record.get("region_learned"), proc.vote_rules)
    f = cfg.fit
    base = setting_of(load_config(args.baseline)) if args.baseline else None
    if args.rotate:
        k, _, n = args.shard.partition("/")
        result = rotation(vals, test.calibrators, parts, start, grids, proc, base, args.rotate, (int(k), int(n or 1)))
        write_json(args.json, {"fit": str(args.fit), "train": args.train, **result})
        return result
    if not test.calibrators:
        parser.error("--test is needed (or --rotate)")
    rows = []
    together = [("all", Splits(list(vals.values())))] if len(vals) > 1 else []
    for name, cal in [*((n, Splits([c])) for n, c in vals.items()), *together]:
        train = parts if uses_train(f, len(cal.calibrators), proc) else []  # as fit calibrates and estimates
        chosen, _ = coordinate_ascent(Splits(cal.calibrators + train), start, grids, proc.rounds, margin=proc.min_gain)
        held = holdout_estimate(cal.calibrators, start, grids, f.parts, train, proc) if f.holdout else None
        row = {"val": name, "train_parts": len(train), "in_sample": cal.score(chosen),
               "estimate": held.score if held else None,
               "by": held.by if held else None, "per_split": held.per_split if held else [],
               "unseen": test.score(chosen)}
        rows.append(row)
        print(f"VAL {name:<8}{' + TRAIN' if train else ''} in-sample {row['in_sample']:.4f}  estimate "
              + (f"{row['estimate']:.4f} ({row['by']})" if held else "none") + f"  unseen {row['unseen']:.4f}",
              flush=True)
    if base is not None:
        rows.append({"val": f"baseline {args.baseline}", "in_sample": None, "estimate": None, "by": None,
                     "per_split": [c.score(base) for c in vals.values()], "unseen": test.score(base)})
        print(f"baseline {args.baseline}: VAL " + " ".join(f"{x:.4f}" for x in rows[-1]["per_split"])
              + f"  unseen {rows[-1]['unseen']:.4f}")
    gap = {k: float(np.mean([r[k] - r["unseen"] for r in rows if r[k] is not None])) for k in ("in_sample", "estimate")}
    print(f"mean above the unseen score: in-sample {gap['in_sample']:+.4f}, estimate {gap['estimate']:+.4f}")
    result = {"fit": str(args.fit), "test": args.test, "rows": rows, "mean_gap": gap}
    write_json(args.json, result)
    return result


def rotation(vals: dict, extra: list, parts: list, start, grids, proc, base=None, size: int = 1,
             shard: tuple[int, int] = (0, 1)) -> dict:
    """Each combination of ``size`` VAL roots calibrates (alone, and with TRAIN's ``parts``); scored
    on the other roots and ``extra``. With ``base`` (a baseline setting) also that setting as it
    is and calibration (with TRAIN's parts) started from it. ``shard`` (k, n) keeps every n-th
    combination from the k-th. Returns the rows and their means."""
    from itertools import combinations

    from livematch.calibration import Splits, coordinate_ascent
    rows = []
    for names in list(combinations(vals, size))[shard[0]::shard[1]]:
        cals = [vals[n] for n in names]
        unseen = Splits([c for n, c in vals.items() if n not in names] + extra)
        row = {"val": "+".join(names)}
        for tag, train, begin in (("alone", [], start), ("with_train", parts, start),
                                  *((("from_baseline", parts, base),) if base is not None else ())):
            if tag == "with_train" and not parts:  # no TRAIN: the same calibration as alone
                row[tag] = row["alone"]
                continue
            chosen, _ = coordinate_ascent(Splits(cals + train), begin, grids, proc.rounds, margin=proc.min_gain)
            row[tag] = unseen.score(chosen)
        if base is not None:
            row["baseline"] = unseen.score(base)
        rows.append(row)
        print(f"VAL {row['val']:<8} " + "  ".join(f"{k} {v:.4f}" for k, v in row.items() if k != "val"), flush=True)
    means = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "val"}
    up = sum(r["with_train"] > r["alone"] + 1e-9 for r in rows)
    down = sum(r["with_train"] < r["alone"] - 1e-9 for r in rows)
    print("mean " + "  ".join(f"{k} {v:.4f}" for k, v in means.items())
          + f"; with TRAIN's {len(parts)} parts higher on {up} of {len(rows)}, lower on {down}")
    return {"size": size, "rows": rows, "mean": means, "higher": up, "lower": down}


if __name__ == "__main__":
    main()
