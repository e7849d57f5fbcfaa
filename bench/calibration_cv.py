"""Which calibration choices transfer to unseen data: cross-validation over annotated roots.

    python -m bench.calibration_cv --fit runs/fit_demo \
        --root data/val21=runs/fit_demo/calibration/val_run ... --root data/seed31=runs/abl_ft/seed31 ... \
        --partitions 6 --val-size 3

Each ``--root DATA=RUN`` is an annotated root and a ``livematch run`` folder of its crop rows
detected with the fit's models at the lowest threshold, every class, the whole frame (fit's
``calibration/val_run*`` or ``bench.fit_ablation``'s ``--work`` folders). For each of
``--partitions`` random draws, ``--val-size`` roots play VAL: fit's coordinate ascent runs on
them under each strategy (``--strategy NAME=RULE/ASSIGN,...``: the vote rules offered) and the
chosen setting is scored on every other root. Then, at the fit's own chosen setting, the vote
cut-offs alone are re-chosen on the fit's VAL roots under each rule / assignment and scored on the
rest. Prints both tables and writes ``bench/results/calibration_cv.json``.
"""
from __future__ import annotations

import argparse
import json
import logging
import random
from dataclasses import replace
from pathlib import Path

import numpy as np

DEFAULT_STRATEGIES = ["written=written/greedy", "set=written/greedy,set/greedy,set/global",
                      "all=" + ",".join(f"{r}/{a}" for r in ("written", "original", "set") for a in ("greedy", "global"))]


def main(argv=None) -> dict:
    from detector.model import class_names
    from livematch.calibration import (PROCEDURE, SplitScorer, Splits, _vote_step, coordinate_ascent,
                                       default_grids, vote_rules)
    from livematch.config import load_config
    from ground.dataset import load_dataset
    from ground.regions import learn_frame_region
    from livematch.config import use_checkpoints
    from ground.io import write_json
    from matcher.store import load_store
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", type=Path, required=True, help="A livematch fit output folder.")
    parser.add_argument("--root", action="append", required=True, help="DATA=RUN: annotated root and its crop rows.")
    parser.add_argument("--train", type=Path, action="append", default=[], help="TRAIN roots (the frame region).")
    parser.add_argument("--strategy", action="append", help="NAME=RULE/ASSIGN,... (default: written, set, all).")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--val-size", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=Path("bench/results/calibration_cv.json"))
    args = parser.parse_args(argv)
    logging.getLogger().setLevel(logging.ERROR)
    record = json.loads((args.fit / "fit.json").read_text())
    from bench.fit_ablation import as_setting
    start, chosen = as_setting(record["start"]), as_setting(record["setting"])
    cfg = load_config(args.fit / "pipeline.yaml")
    use_checkpoints(cfg, cfg.weights.detector, cfg.weights.embedders[0])
    classes = class_names(cfg.detector.model)
    cals = {}
    for spec in args.root:
        data, _, run = spec.partition("=")
        gt = load_dataset([data])  # probed: the region test needs each clip's frame size
        store = load_store(Path(run) / "features")
        cals[Path(data).name] = SplitScorer(store, classes, {v.video_id: v.size for v in gt.videos.values()},
                                           gt, cfg.matcher)
    region = None
    if args.train:
        region = tuple(learn_frame_region(args.train, PROCEDURE.region_coverage)["region"])
    strategies = dict(s.split("=", 1) for s in (args.strategy or DEFAULT_STRATEGIES))
    names, rng = list(cals), random.Random(args.seed)
    table = {k: [] for k in strategies}
    for _ in range(args.partitions):
        val_names = sorted(rng.sample(names, args.val_size))
        val, test = Splits([cals[n] for n in val_names]), [cals[n] for n in names if n not in val_names]
        for name, rules in strategies.items():
            grids = default_grids(cfg.fit.thresholds, classes, region, rules.split(","))
            s, _ = coordinate_ascent(val, start, grids, PROCEDURE.rounds)
            score = float(np.mean([c.score(s) for c in test]))
            table[name].append({"val": val_names, "val_score": val.score(s), "test_score": score,
                                "rule": s.rule, "assign": s.assign})
            print(f"VAL {','.join(val_names)} {name:>8}: VAL {val.score(s):.4f} test {score:.4f} ({s.rule}/{s.assign})",
                  flush=True)
    print(f"{'strategy':<10}{'mean test':>10}{'sd':>8}")
    for name, rows in table.items():
        scores = [r["test_score"] for r in rows]
        print(f"{name:<10}{np.mean(scores):>10.4f}{np.std(scores):>8.4f}")
    fit_val = [Path(r).name for r in record.get("val_roots", [])]
    val = Splits([cals[n] for n in fit_val if n in cals])
    test = {n: c for n, c in cals.items() if n not in fit_val}
    rules = {}
    print(f"\nvote cut-offs re-chosen on {','.join(fit_val)} at the fit's other settings; test = the other roots")
    for rule, assign in vote_rules(strategies.get("all", DEFAULT_STRATEGIES[-1].split("=")[1]).split(",")):
        s, score, _ = _vote_step(val, replace(chosen, rule=rule, assign=assign), [], None)
        per = {n: c.score(s) for n, c in test.items()}
        rules[f"{rule}/{assign}"] = {"val": score, "test": per, "mean": float(np.mean(list(per.values())))}
        print(f"{rule + '/' + assign:<18} VAL {score:.4f} test mean {rules[f'{rule}/{assign}']['mean']:.4f}  "
              + " ".join(f"{v:.3f}" for v in per.values()))
    result = {"fit": str(args.fit), "strategies": table, "rules": rules}
    write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
