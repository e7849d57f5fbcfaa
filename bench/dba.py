"""Database-side augmentation under calibration's filters: a new search per filter against lists.

    python -m bench.dba                        # 5000 video crops of 512-d, about 10 s on 2 cores
    python -m bench.dba --crops 20000 --dim 512 --k 3
    python -m bench.dba --toy                  # 300 crops, the test's size

Side by side in one run, on the same gallery: a new search of each filtered gallery
(``matcher.rerank.database_augmentation``) against neighbour lists searched once over all rows
(``matcher.rerank.NeighbourLists``, what ``SplitScorer`` uses). The gallery is made here (seeded):
the video crops of a feature store (``matcher.crops.CropTable``) whose features are unit vectors
clustered around one centre per garment and whose detector scores are random; ``--features``
reads a feature store (``livematch run``'s ``OUT/features``) instead.

The filters are the frame thresholds of fit's grid (``fit.thresholds``) on the crops' detector
scores, each applied ``--repeat`` times (calibration meets each filter again in every sweep and in
every calibration of the held-out estimate). Prints both times, their ratio and the largest
difference between the two augmented galleries; writes ``--out``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

TOY = {"crops": 300, "dim": 64, "repeat": 1, "threads": 1}


def sample_gallery(crops: int, dim: int, seed: int = 0, per_garment: int = 20, videos: int = 50):
    """The video crops of a feature store: ``crops`` rows of ``dim``-d unit features scattered
    around one centre per garment (``per_garment`` crops each), detector scores uniform in
    [0, 1), spread over ``videos`` clips and their frames."""
    from bench.knn import unit_rows
    from matcher.crops import CropTable

    rng = np.random.default_rng(seed)
    features = unit_rows(rng, crops, dim, clusters=max(1, crops // per_garment))
    xy = rng.uniform(0, 300, size=(crops, 2)).astype(np.float32)
    wh = rng.uniform(20, 200, size=(crops, 2)).astype(np.float32)
    return CropTable(
        owner=np.array([f"{v:06d}" for v in rng.integers(0, videos, crops)]),
        name=np.full(crops, ""),
        frame=rng.integers(80, 380, crops) // 20 * 20,
        boxes=np.concatenate([xy, xy + wh], axis=1),
        scores=rng.random(crops).astype(np.float32),
        features=features,
    )


def compare(features: np.ndarray, masks, k: int, alpha: float) -> dict:
    """Both ways on the same filters: their seconds and the largest difference of the results."""
    from matcher.rerank import NeighbourLists, database_augmentation

    t0 = time.perf_counter()
    fresh = [database_augmentation(features[m], k, alpha) for m in masks]
    t_fresh = time.perf_counter() - t0
    t0 = time.perf_counter()
    lists = NeighbourLists(features)
    listed = [lists.augment(m, k, alpha) for m in masks]
    t_lists = time.perf_counter() - t0
    diff = max(float(np.abs(a - b).max()) if len(a) else 0.0 for a, b in zip(fresh, listed))
    return {
        "seconds_new_search": t_fresh,
        "seconds_lists": t_lists,
        "speedup": t_fresh / max(t_lists, 1e-9),
        "max_abs_difference": diff,
        "rows_augmented": int(sum(len(a) for a in fresh)),
    }


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crops", type=int, default=5000, help="Video crops in the gallery.")
    parser.add_argument("--dim", type=int, default=512, help="Feature dimension.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--features", type=Path, help="A feature store to read instead of the made gallery."
    )
    parser.add_argument("--k", type=int, default=2, help="matcher.rerank.dba_k")
    parser.add_argument("--alpha", type=float, default=3.0, help="matcher.rerank.alpha")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of faiss and torch")
    parser.add_argument(
        "--toy", action="store_true", help="300 crops, one thread: the test's size."
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results/dba.json"))
    args = parser.parse_args(argv)
    if args.toy:
        vars(args).update(TOY)
    return args


def main(argv=None) -> dict:
    from bench import bound_threads
    from ground.io import write_json
    from livematch.config import load_config
    from matcher.store import load_store

    args = parse(argv)
    bound_threads(args.threads, faiss=True)
    video = (
        load_store(args.features).video
        if args.features
        else sample_gallery(args.crops, args.dim, args.seed)
    )
    masks = [video.scores >= t for t in load_config().fit.thresholds] * args.repeat
    result = {
        "gallery": str(args.features) if args.features else f"made, seed {args.seed}",
        "video_crops": len(video),
        "dim": video.dim,
        "filters": len(masks),
        "k": args.k,
        **compare(video.features, masks, args.k, args.alpha),
    }
    print(
        f"{len(masks)} filters of {len(video)} video crops ({video.dim}-d), k = {args.k}: a new "
        f"search each {result['seconds_new_search']:.2f} s, lists once "
        f"{result['seconds_lists']:.2f} s, x{result['speedup']:.1f}; largest difference "
        f"{result['max_abs_difference']:.2e}"
    )
    write_json(args.out, result)
    return result


if __name__ == "__main__":
    main()
