"""Nearest-neighbour search at catalogue scale, each comparison measured side by side in one run.

    python -m bench.knn [--scale 1.0] [--out bench/results/knn.json]

1. exact: faiss flat (our ``KnnIndex``) vs numpy brute force (batched matmul + argmax), 2k queries
   against a 200k x 2048 gallery (the reference's 4-model ensemble width): speed ratio and whether
   the top-1 rows are identical;
2. approximate: IVF-Flat, IVF-PQ and HNSW vs exact on 1M x 512 clustered vectors: recall@1 and
   speed ratio (search time; build time reported apart);
3. memory: FP16 vs FP32 storage of the gallery inside faiss and of the saved features.

``--scale`` shrinks every size (0.1 runs in about a minute on 2 cores).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import faiss
import numpy as np

from matcher.config import IndexConfig
from matcher.index import KnnIndex, build_index


def unit_rows(rng, n: int, d: int, clusters: int = 0, spread: float = 0.5, chunk: int = 100_000) -> np.ndarray:
    """``n`` unit rows of dimension ``d``; with ``clusters``, rows scatter around that many
    centres (crops of one garment cluster), which is what real galleries look like."""
    centres = rng.normal(size=(clusters, d)).astype(np.float32) if clusters else None
    out = np.empty((n, d), np.float32)
    for lo in range(0, n, chunk):
        x = rng.normal(size=(min(chunk, n - lo), d)).astype(np.float32)
        if centres is not None:
            x = centres[rng.integers(0, clusters, len(x))] + spread * x
        out[lo:lo + len(x)] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def numpy_top1(queries: np.ndarray, gallery: np.ndarray, batch: int = 256) -> np.ndarray:
    return np.concatenate([np.argmax(queries[lo:lo + batch] @ gallery.T, axis=1)
                           for lo in range(0, len(queries), batch)])


def bench_exact(rng, n: int, d: int, q: int) -> dict:
    gallery, queries = unit_rows(rng, n, d), unit_rows(rng, q, d)
    index, build_s = timed(lambda: build_index(gallery))
    (_, faiss_rows), faiss_s = timed(lambda: index.search(queries, 1))
    numpy_rows, numpy_s = timed(lambda: numpy_top1(queries, gallery))
    return {"gallery": [n, d], "queries": q, "faiss_s": faiss_s, "numpy_s": numpy_s,
            "faiss_build_s": build_s, "speedup_faiss_vs_numpy": numpy_s / faiss_s,
            "top1_identical": float((faiss_rows[:, 0] == numpy_rows).mean())}


def bench_approximate(rng, n: int, d: int, q: int) -> dict:
    clusters = max(100, n // 50)
    gallery = unit_rows(rng, n, d, clusters)
    queries = gallery[rng.choice(n, q, replace=False)] + 0.05 * rng.normal(size=(q, d)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    exact, _ = timed(lambda: build_index(gallery))
    (_, truth), exact_s = timed(lambda: exact.search(queries, 1))
    out = {"gallery": [n, d], "queries": q, "exact_s": exact_s, "kinds": {}}
    train = gallery[rng.choice(n, min(n, 64 * 1024), replace=False)]
    for kind, extra in [("ivf_flat", {}), ("ivf_pq", {"pq_m": 64}), ("hnsw", {})]:
        cfg = IndexConfig(kind=kind, nlist=1024, nprobe=32, **extra)
        index = KnnIndex(d, cfg)
        _, build_s = timed(lambda: (index.train(train), index.add(gallery)))
        (_, rows), search_s = timed(lambda: index.search(queries, 1))
        out["kinds"][kind] = {"build_s": build_s, "search_s": search_s,
                              "speedup_vs_exact": exact_s / search_s,
                              "recall_at_1": float((rows[:, 0] == truth[:, 0]).mean())}
    return out


def bench_memory(rng, n: int, d: int, q: int) -> dict:
    gallery, queries = unit_rows(rng, n, d, max(100, n // 50)), unit_rows(rng, q, d)
    sizes, tops = {}, {}
    for storage in ("fp32", "fp16"):
        index = build_index(gallery, IndexConfig(storage=storage))
        sizes[storage] = int(len(faiss.serialize_index(index.index)))
        tops[storage] = index.search(queries, 1)[1][:, 0]
    return {"gallery": [n, d], "index_bytes": sizes, "index_ratio_fp32_vs_fp16": sizes["fp32"] / sizes["fp16"],
            "feature_bytes": {"fp32": gallery.nbytes, "fp16": gallery.astype(np.float16).nbytes},
            "top1_identical_fp16_vs_fp32": float((tops["fp32"] == tops["fp16"]).mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every size by this")
    parser.add_argument("--out", type=Path, default=Path("bench/results/knn.json"))
    args = parser.parse_args()
    s = lambda n: max(1000, int(n * args.scale))  # noqa: E731
    rng = np.random.default_rng(0)
    results = {"faiss": faiss.__version__, "threads": faiss.omp_get_max_threads(), "scale": args.scale}
    results["exact"] = e = bench_exact(rng, s(200_000), 2048, s(2_000))
    print(f"exact  {e['gallery'][0]}x{e['gallery'][1]}, {e['queries']} queries: faiss {e['faiss_s']:.2f}s, "
          f"numpy {e['numpy_s']:.2f}s -> faiss x{e['speedup_faiss_vs_numpy']:.2f}; "
          f"top-1 identical {e['top1_identical']:.4f}")
    results["approximate"] = a = bench_approximate(rng, s(1_000_000), 512, s(2_000))
    print(f"approx {a['gallery'][0]}x{a['gallery'][1]}, exact search {a['exact_s']:.2f}s")
    for kind, r in a["kinds"].items():
        print(f"  {kind:<9} recall@1 {r['recall_at_1']:.4f}  search x{r['speedup_vs_exact']:.1f} faster "
              f"({r['search_s']:.3f}s; build {r['build_s']:.1f}s)")
    results["memory"] = m = bench_memory(rng, s(200_000), 512, s(2_000))
    print(f"memory {m['gallery'][0]}x{m['gallery'][1]}: index fp32 {m['index_bytes']['fp32'] / 2**20:.0f} MiB vs "
          f"fp16 {m['index_bytes']['fp16'] / 2**20:.0f} MiB (x{m['index_ratio_fp32_vs_fp16']:.2f}); "
          f"top-1 identical {m['top1_identical_fp16_vs_fp32']:.4f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
