"""The worn scorer's backbones side by side: the small CNN trained from random weights against a
timm backbone started from ImageNet weights (``detector.worn.backbone`` / ``weights``).

    python -m bench.worn --train data/fit_train --val data/val21 --val data/val22 --val data/val23

Each variant trains on TRAIN's annotated frame boxes as ``livematch fit`` does (its own
``detector.worn`` settings), then scores VAL's annotated boxes (one copy each, no jitter).
Printed and written to ``bench/results/worn.json``: worn / alone AUC on VAL, training seconds,
boxes per second at inference, and each variant's ratios to the first.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

VARIANTS = {"cnn": {}, "lite0": {"backbone": "tf_efficientnet_lite0", "weights": "imagenet", "lr": 5e-4}}


def auc(scores: np.ndarray, targets: np.ndarray) -> float:
    """Area under the ROC curve: the chance that a random positive outscores a random negative
    (ties count half), from the ranks of the scores."""
    order = scores.argsort(kind="stable")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    for value in np.unique(scores):  # ties share their mean rank
        same = scores == value
        ranks[same] = ranks[same].mean()
    pos = targets > 0.5
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, action="append", required=True)
    parser.add_argument("--val", type=Path, action="append", required=True)
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--work", type=Path, default=Path("runs/bench_worn"))
    parser.add_argument("--out", type=Path, default=Path("bench/results/worn.json"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from detector.config import WornConfig
    from detector.worn import _tensor, fit_worn, load_worn, worn_samples
    from ground.dataset import load_dataset
    base = WornConfig()
    crops, targets = worn_samples(load_dataset(args.train, probe_media=False), base, progress=False)
    val_crops, val_targets = worn_samples(load_dataset(args.val, probe_media=False), replace(base, copies=1))
    rows = {}
    for name in args.variants.split(","):
        cfg = replace(base, **VARIANTS[name])
        start = time.perf_counter()
        result = fit_worn(cfg, crops, targets, args.work / name, progress=False)
        train_s = time.perf_counter() - start
        model, _ = load_worn(result.checkpoint)
        start = time.perf_counter()
        with torch.no_grad():
            scores = torch.cat([model(_tensor(val_crops[i:i + 256])) for i in range(0, len(val_crops), 256)]).numpy()
        infer_s = time.perf_counter() - start
        rows[name] = {"auc": auc(scores, val_targets), "train_s": train_s, "boxes_per_s": len(val_crops) / infer_s,
                      "train_boxes": len(crops), "val_boxes": len(val_crops)}
    first = rows[next(iter(rows))]
    for name, r in rows.items():
        r["train_time_vs_first"] = r["train_s"] / first["train_s"]
        r["speed_vs_first"] = r["boxes_per_s"] / first["boxes_per_s"]
        print(f"{name:<8} AUC {r['auc']:.3f}  train {r['train_s']:6.0f} s (x{r['train_time_vs_first']:.2f})  "
              f"{r['boxes_per_s']:7.0f} boxes/s (x{r['speed_vs_first']:.2f})  [{r['train_boxes']} train / "
              f"{r['val_boxes']} val boxes]")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
