"""Database-side augmentation under calibration's filters, side by side in one run: a new search of
each filtered gallery (``matcher.rerank.database_augmentation``) against neighbour lists searched
once over all rows (``matcher.rerank.NeighbourLists``, what ``SplitScorer`` uses).

    python -m bench.dba --features runs/fit_demo/calibration/val_run/features [--k 2]
        [--out bench/results/dba.json]

The filters are the frame thresholds of fit's grid (``fit.thresholds``) on the video crops' detector
scores, each applied ``--repeat`` times (calibration meets each filter again in every sweep and in
every calibration of the held-out estimate). Prints both times, their ratio and the largest
difference between the two augmented galleries.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> dict:
    import torch

    from ground.io import write_json
    from livematch.config import load_config
    from matcher.rerank import NeighbourLists, database_augmentation
    from matcher.store import load_store

    torch.set_num_threads(2)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--features", type=Path, required=True, help="A feature store (a run's features/)."
    )
    parser.add_argument("--k", type=int, default=2, help="matcher.rerank.dba_k")
    parser.add_argument("--alpha", type=float, default=3.0, help="matcher.rerank.alpha")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/results/dba.json"))
    args = parser.parse_args(argv)
    video = load_store(args.features).video
    masks = [video.scores >= t for t in load_config().fit.thresholds] * args.repeat
    t0 = time.perf_counter()
    fresh = [database_augmentation(video.features[m], args.k, args.alpha) for m in masks]
    t_fresh = time.perf_counter() - t0
    t0 = time.perf_counter()
    lists = NeighbourLists(video.features)
    listed = [lists.augment(m, args.k, args.alpha) for m in masks]
    t_lists = time.perf_counter() - t0
    diff = max(float(np.abs(a - b).max()) if len(a) else 0.0 for a, b in zip(fresh, listed))
    result = {
        "features": str(args.features),
        "video_crops": len(video),
        "filters": len(masks),
        "k": args.k,
        "seconds_new_search": t_fresh,
        "seconds_lists": t_lists,
        "speedup": t_fresh / max(t_lists, 1e-9),
        "max_abs_difference": diff,
    }
    print(
        f"{len(masks)} filters of {len(video)} video crops, k = {args.k}: a new search each "
        f"{t_fresh:.2f} s, lists once {t_lists:.2f} s, x{result['speedup']:.1f}; largest "
        f"difference {diff:.2e}"
    )
    write_json(args.out, result)
    return result


if __name__ == "__main__":
    main()
