"""Would a soft frame-class penalty help ``livematch fit``? Each shop crop's nearest video crop is
taken by ``d + lambda x [the crop is of class --penalised]`` (one search per class, the smaller
penalised distance wins), every other setting as the fit chose it; ``max_distance`` is also
re-chosen on VAL for each lambda (the cut-off moves with the penalty).

    python -m bench.class_penalty --fit runs/fit_worn --data data/seed31 ... --data data/seed37 \
        --work runs/abl_worn [--penalised alone]

VAL is the fit's own validation roots, read from its calibration cache (``FIT/calibration``);
the test roots' rows are cached under ``--work`` (the folder ``bench.fit_ablation`` uses). Prints
the mean contest score on VAL and on the test roots per lambda, and writes
``bench/results/class_penalty.json``. Measured (docs/RESULTS.md): no lambda > 0 beats lambda 0.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from livematch.calibration import SplitScorer, Setting

LAMBDAS = (0.0, 0.01, 0.02, 0.04, 0.08, 0.15, 0.3, 10.0)
CUTOFFS = tuple(np.round(np.linspace(0.5, 1.2, 15), 3))


class PenalisedCalibrator(SplitScorer):
    """A calibrator whose nearest-crop search adds ``penalty`` to crops of label ``label``."""

    penalty, label = 0.0, 0

    def search(self, s: Setting):
        from matcher import rerank
        key = (*self.filter_key(s), self.penalty)
        if key not in self._searches:
            shop, video = self.tables(s)
            dist = np.full((len(shop), 1), np.inf, np.float32)
            rows = np.full((len(shop), 1), -1, np.int64)
            hit = video.labels == self.label
            for mask, add in ((~hit, 0.0), (hit, self.penalty)):
                idx = np.flatnonzero(mask)
                if not len(idx) or not len(shop):
                    continue
                d, r = rerank.search(shop.features, video.features[idx], self.matcher.index, self.matcher.rerank)
                better = d[:, 0] + add < dist[:, 0]
                dist[better, 0], rows[better, 0] = d[better, 0] + add, idx[r[better, 0]]
            self._searches = {key: (shop, video, dist, rows)}
        return self._searches[key]


def main(argv=None) -> dict:
    from detector.model import class_names
    from ground.dataset import load_dataset
    from ground.io import write_json
    from livematch.config import load_config
    from livematch.config import use_checkpoints
    from livematch.fit import validation_rows
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", type=Path, required=True, help="A livematch fit output folder.")
    parser.add_argument("--data", type=Path, action="append", required=True, help="Annotated test root(s).")
    parser.add_argument("--work", type=Path, default=Path("runs/fit_ablation"), help="Cache of the test rows.")
    parser.add_argument("--penalised", default="alone", help="The detector class pushed back.")
    parser.add_argument("--json", type=Path, default=Path("bench/results/class_penalty.json"))
    args = parser.parse_args(argv)
    record = json.loads((args.fit / "fit.json").read_text())
    chosen = Setting(**{k: tuple(v) if isinstance(v, list) else v for k, v in record["setting"].items()})
    cfg = load_config(args.fit / "pipeline.yaml")
    detector, embedders = cfg.weights.detector, cfg.weights.embedders  # several: an ensemble
    use_checkpoints(cfg, detector, embedders[0])
    classes = class_names(cfg.detector.model)
    if args.penalised not in classes:
        raise SystemExit(f"--penalised {args.penalised!r}: the detector's classes are {classes}")
    PenalisedCalibrator.label = classes.index(args.penalised) + 1

    def calibrators(roots, folders):
        out = []
        for root, folder in zip(roots, folders):
            gt = load_dataset([root])
            store = validation_rows(cfg, [root], detector, embedders, folder, progress=False)
            out.append(PenalisedCalibrator(store, classes, {v.video_id: v.size for v in gt.videos.values()}, gt,
                                           cfg.matcher))
        return out

    val_roots = [Path(r) for r in record["val_roots"]]
    val = calibrators(val_roots, [args.fit / "calibration" / (f"val_run{k}" if k else "val_run")
                                  for k in range(len(val_roots))])
    test = calibrators(args.data, [args.work / r.name for r in args.data])
    mean = lambda cals, s: float(np.mean([c.score(s) for c in cals]))  # noqa: E731
    table = []
    for lam in LAMBDAS:
        PenalisedCalibrator.penalty = lam
        cut = max(CUTOFFS, key=lambda md: mean(val, replace(chosen, max_distance=float(md))))
        retuned = replace(chosen, max_distance=float(cut))
        row = {"lambda": lam, "val": mean(val, chosen), "test": mean(test, chosen), "max_distance": float(cut),
               "val_retuned": mean(val, retuned), "test_retuned": mean(test, retuned)}
        table.append(row)
        print(f"lambda {lam:5.2f}: VAL {row['val']:.3f} test {row['test']:.3f} | max_distance {cut:.2f}: "
              f"VAL {row['val_retuned']:.3f} test {row['test_retuned']:.3f}", flush=True)
    result = {"fit": str(args.fit), "penalised": args.penalised, "roots": [r.name for r in args.data], "table": table}
    write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
