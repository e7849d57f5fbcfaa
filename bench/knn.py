"""Nearest-neighbour search at catalogue scale, each comparison measured side by side in one run.

    python -m bench.knn [--scale 1.0] [--kinds ivf_flat,ivf_pq,ivf_fastscan,hnsw]
        [--out bench/results/knn.json]
    python -m bench.knn --toy                      # 1000-row galleries, the test's size

1. exact, on the two shapes the matcher meets: 2k queries against 200k x 2048 (the reference's
   4-model ensemble width), k = 1, and 2k against 100k x 512, k = 5: our ``KnnIndex`` (faiss flat
   with ``blas_block`` gallery rows per BLAS call), faiss flat at its default block, numpy (matmul +
   argmax / argpartition) and torch (matmul + topk); times, ratios to ours, identical top-1 rows;
2. approximate, 1M x 512 clustered vectors: each kind's ``nprobe`` is tuned on 256 separate queries
   for recall@1 >= ``--target`` (``index.target_recall``), then recall@1 and speed against exact
   search are measured on 2k other queries (search time; build time reported apart);
3. memory: FP16 vs FP32 storage of the gallery inside faiss and of the saved features.

``--scale`` shrinks every size (0.1 runs in about a minute on 2 cores; no size below 1000 rows);
``--toy`` runs at that floor, IVF-PQ at ``--pq-m 8``, on one thread: the test's size. The vectors
are made here (seeded). Writes ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import faiss
import numpy as np

from matcher.config import IndexConfig
from matcher.index import KnnIndex, build_index, exact_topk

#: --toy: every size at its 1000-row floor, 8 IVF-PQ sub-quantizers, one thread (no OpenMP wait)
TOY = {"scale": 0.001, "pq_m": 8, "threads": 1}


def unit_rows(
    rng, n: int, d: int, clusters: int = 0, spread: float = 0.5, chunk: int = 100_000
) -> np.ndarray:
    """``n`` unit rows of dimension ``d``; with ``clusters``, rows scatter around that many
    centres (crops of one garment cluster), which is what real galleries look like."""
    centres = rng.normal(size=(clusters, d)).astype(np.float32) if clusters else None
    out = np.empty((n, d), np.float32)
    for lo in range(0, n, chunk):
        x = rng.normal(size=(min(chunk, n - lo), d)).astype(np.float32)
        if centres is not None:
            x = centres[rng.integers(0, clusters, len(x))] + spread * x
        out[lo : lo + len(x)] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def torch_topk(queries: np.ndarray, gallery: np.ndarray, k: int, batch: int = 1024) -> np.ndarray:
    import torch

    g, q = torch.from_numpy(gallery), torch.from_numpy(queries)
    return torch.cat(
        [(q[lo : lo + batch] @ g.T).topk(k, dim=1).indices for lo in range(0, len(q), batch)]
    ).numpy()


def bench_exact(rng, n: int, d: int, q: int, k: int) -> dict:
    gallery, queries = unit_rows(rng, n, d), unit_rows(rng, q, d)
    index, build_s = timed(lambda: build_index(gallery))
    default = faiss.IndexFlatIP(d)
    default.add(gallery)
    index.search(queries[:8], k)  # page the galleries in before any timing
    default.search(queries[:8], k)
    runs = {
        "ours": lambda: index.search(queries, k)[1],
        "faiss_default_block": lambda: (
            setattr(faiss.cvar, "distance_compute_blas_database_bs", 1024),
            default.search(queries, k)[1],
        )[1],
        "numpy": lambda: exact_topk(queries, gallery, k)[1],  # index.flat_engine: numpy
        "torch": lambda: torch_topk(queries, gallery, k),
    }
    rows, seconds = {}, {}
    for name, fn in runs.items():
        rows[name], seconds[name] = timed(fn)
    return {
        "gallery": [n, d],
        "queries": q,
        "k": k,
        "build_s": build_s,
        "seconds": seconds,
        "ours_vs": {name: seconds[name] / seconds["ours"] for name in runs if name != "ours"},
        "top1_identical_to_ours": {
            name: float((rows[name][:, 0] == rows["ours"][:, 0]).mean())
            for name in runs
            if name != "ours"
        },
    }


def near_queries(rng, gallery: np.ndarray, q: int) -> np.ndarray:
    queries = gallery[rng.choice(len(gallery), q, replace=False)] + 0.05 * rng.normal(
        size=(q, gallery.shape[1])
    ).astype(np.float32)
    return queries / np.linalg.norm(queries, axis=1, keepdims=True)


def bench_approximate(
    rng, n: int, d: int, q: int, kinds, target: float = 0.95, pq_m: int = 64
) -> dict:
    gallery = unit_rows(rng, n, d, max(100, n // 50))
    queries, tuning = near_queries(rng, gallery, q), near_queries(rng, gallery, 256)
    exact = build_index(gallery)
    exact.search(queries[:64], 1)
    (_, truth), exact_s = timed(lambda: exact.search(queries, 1))
    out = {
        "gallery": [n, d],
        "queries": q,
        "target_recall": target,
        "exact_s": exact_s,
        "kinds": {},
    }
    train = gallery[rng.choice(n, min(n, 64 * 1024), replace=False)]
    for kind in kinds:
        cfg = IndexConfig(kind=kind, nlist=1024, nprobe=32, pq_m=pq_m)
        index = KnnIndex(d, cfg)
        _, build_s = timed(lambda index=index: (index.train(train), index.add(gallery)))
        curve = index.tune(tuning, gallery, target)  # {} for HNSW: its efSearch stays as configured
        (_, rows), search_s = timed(lambda index=index: index.search(queries, 1))
        out["kinds"][kind] = {
            "build_s": build_s,
            "search_s": search_s,
            "speedup_vs_exact": exact_s / search_s,
            "nprobe": max(curve) if curve else None,
            "tuning_curve": curve,
            "recall_at_1": float((rows[:, 0] == truth[:, 0]).mean()),
        }
    return out


def bench_memory(rng, n: int, d: int, q: int) -> dict:
    gallery, queries = unit_rows(rng, n, d, max(100, n // 50)), unit_rows(rng, q, d)
    sizes, tops = {}, {}
    for storage in ("fp32", "fp16"):
        index = build_index(gallery, IndexConfig(storage=storage))
        sizes[storage] = int(len(faiss.serialize_index(index.index)))
        tops[storage] = index.search(queries, 1)[1][:, 0]
    return {
        "gallery": [n, d],
        "index_bytes": sizes,
        "index_ratio_fp32_vs_fp16": sizes["fp32"] / sizes["fp16"],
        "feature_bytes": {"fp32": gallery.nbytes, "fp16": gallery.astype(np.float16).nbytes},
        "top1_identical_fp16_vs_fp32": float((tops["fp32"] == tops["fp16"]).mean()),
    }


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every size by this")
    parser.add_argument(
        "--kinds", default="ivf_flat,ivf_pq,ivf_fastscan,hnsw", help="approximate kinds to measure"
    )
    parser.add_argument(
        "--target",
        type=float,
        default=0.96,
        help=(
            "recall@1 the tuning aims at (a point above 0.95: 256 tuning queries measure it "
            "+-0.013)"
        ),
    )
    parser.add_argument("--pq-m", type=int, default=64, help="IVF-PQ sub-quantizers")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of faiss and torch")
    parser.add_argument(
        "--toy",
        action="store_true",
        help="1000-row galleries, --pq-m 8, one thread: the test's size",
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results/knn.json"))
    args = parser.parse_args(argv)
    if args.toy:
        vars(args).update(TOY)
    return args


def print_exact(e: dict) -> None:
    t, (n, d) = e["seconds"], e["gallery"]
    print(
        f"exact  {n}x{d} k={e['k']}, {e['queries']} queries: ours {t['ours']:.2f}s, faiss default "
        f"block {t['faiss_default_block']:.2f}s, numpy {t['numpy']:.2f}s, torch "
        f"{t['torch']:.2f}s -> others take "
        + ", ".join(f"x{v:.2f}" for v in e["ours_vs"].values())
        + " our time; top-1 identical "
        + ", ".join(f"{v:.4f}" for v in e["top1_identical_to_ours"].values())
    )


def print_rest(a: dict, m: dict) -> None:
    print(
        f"approx {a['gallery'][0]}x{a['gallery'][1]}, exact search {a['exact_s']:.2f}s; nprobe "
        f"tuned on 256 other queries for recall@1 >= {a['target_recall']}"
    )
    for kind, r in a["kinds"].items():
        print(
            f"  {kind:<12} nprobe {r['nprobe']}  recall@1 {r['recall_at_1']:.4f}  search "
            f"x{r['speedup_vs_exact']:.1f} faster ({r['search_s']:.3f}s; build {r['build_s']:.1f}s)"
        )
    print(
        f"memory {m['gallery'][0]}x{m['gallery'][1]}: index fp32 "
        f"{m['index_bytes']['fp32'] / 2**20:.1f} MiB vs fp16 "
        f"{m['index_bytes']['fp16'] / 2**20:.1f} MiB (x{m['index_ratio_fp32_vs_fp16']:.2f}); top-1 "
        f"identical {m['top1_identical_fp16_vs_fp32']:.4f}"
    )


def main(argv=None) -> dict:
    from bench import bound_threads
    from ground.io import write_json

    args = parse(argv)
    bound_threads(args.threads, faiss=True)
    s = lambda n: max(1000, int(n * args.scale))  # noqa: E731
    rng = np.random.default_rng(0)
    results = {
        "faiss": faiss.__version__,
        "threads": faiss.omp_get_max_threads(),
        "scale": args.scale,
        "exact": [],
    }
    for n, d, k in [(s(200_000), 2048, 1), (s(100_000), 512, 5)]:
        results["exact"].append(bench_exact(rng, n, d, s(2_000), k))
        print_exact(results["exact"][-1])
    results["approximate"] = bench_approximate(
        rng, s(1_000_000), 512, s(2_000), args.kinds.split(","), args.target, args.pq_m
    )
    results["memory"] = bench_memory(rng, s(200_000), 512, s(2_000))
    print_rest(results["approximate"], results["memory"])
    results = json.loads(json.dumps(results))  # what the JSON holds (its keys strings)
    write_json(args.out, results)
    print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
