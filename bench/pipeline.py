"""End-to-end ``livematch run`` benchmark, every comparison measured side by side in one run.

    python -m bench.pipeline                       # demo weights, 10 and 100 generated clips
    python -m bench.pipeline --compare A.yaml B.yaml   # two pipelines on the same 10 clips

Each run is a fresh child process on a fresh output folder (no cache), so that its peak memory is
its own. Printed and written to ``bench/results/pipeline.json``:

1. wall time vs the summed model-forward time (detector + embedder calls) of the default run
   (DataLoader workers decoding ahead, several clips per model pass): the ratio says how much of
   the run is spent outside the models;
2. the same 10 clips the naive way (decoding in the main process, one photo / clip per model
   pass) vs the default: wall-time ratio;
3. peak resident memory (main process and loader workers) for 100 vs 10 clips: the ratio should
   stay near 1, apart from the feature store, which grows with the crops.

``--compare``: each pipeline config (e.g. the demo's models against a fit's) on the same clips,
one after the other: clips per minute, the share of wall time spent in the models, and the
clips-per-minute ratio of each to the first (``bench/results/pipeline_compare.json``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

CONFIG = Path("configs/pipeline/demo.yaml")
NAIVE = ["run.workers=0", "run.batch_images=1"]


def run_once(data: Path, out: Path, config: Path, overrides: list[str]) -> dict:
    """Child process: one pipeline run; prints its timings and peak memory as JSON."""
    from livematch.config import load_config
    from livematch.pipeline import run

    cfg = load_config(config, overrides)
    start = time.perf_counter()
    report = run(cfg, [data], out, cfg.weights.detector, cfg.weights.embedders, progress=False)
    wall = time.perf_counter() - start
    mib = lambda who: resource.getrusage(who).ru_maxrss / 1024  # noqa: E731  (Linux: KiB)
    store = sum(f.stat().st_size for f in (out / "features").glob("*.npz")) / 2**20
    return {
        "wall_s": wall,
        "seconds": report.seconds,
        "model_s": report.seconds.get("detect", 0.0) + report.seconds.get("embed", 0.0),
        "peak_rss_mib": mib(resource.RUSAGE_SELF),
        "peak_rss_workers_mib": mib(resource.RUSAGE_CHILDREN),
        "feature_store_mib": store,
        "clips": report.summary.counts["clips processed"],
        "crops": report.summary.counts["video crops"],
    }


def measure(data: Path, out: Path, overrides: list[str], config: Path = CONFIG) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "bench.pipeline",
        "--one",
        str(data),
        str(out),
        str(config),
        *overrides,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"bench run failed: {' '.join(cmd)}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def dataset(root: Path, clips: int, seed: int) -> Path:
    from livematch.sampledata.generate import SampleConfig, generate_dataset

    if not (root / "video").is_dir() or len(list((root / "video").glob("*.mp4"))) != clips:
        generate_dataset(
            root, SampleConfig(items=max(8, clips // 4), videos=clips, seed=seed), overwrite=True
        )
    return root


def compare(data: Path, work: Path, configs: list[Path], out: Path) -> None:
    """Each pipeline config on the same clips, one after the other (module docstring)."""
    rows = {}
    for k, config in enumerate(configs):
        r = measure(data, work / f"compare{k}", [], config)
        r["clips_per_min"] = 60 * r["clips"] / r["wall_s"]
        r["model_share"] = r["model_s"] / r["wall_s"]
        rows[str(config)] = r
    first = rows[str(configs[0])]["clips_per_min"]
    for name, r in rows.items():
        r["speed_vs_first"] = r["clips_per_min"] / first
        print(
            f"{name:<44} {r['clips']:>3} clips  {r['clips_per_min']:6.1f} clips/min  models "
            f"{100 * r['model_share']:4.0f}% of wall (detect {r['seconds'].get('detect', 0):.1f} "
            f"s, embed {r['seconds'].get('embed', 0):.1f} s)  x{r['speed_vs_first']:.2f} vs the "
            "first"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, default=Path("runs/bench_pipeline"))
    parser.add_argument("--small", type=int, default=10)
    parser.add_argument("--large", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("bench/results/pipeline.json"))
    parser.add_argument(
        "--compare", type=Path, nargs="+", help="pipeline configs run on the same --small clips"
    )
    args = parser.parse_args()
    if args.one:
        print(
            json.dumps(
                run_once(Path(args.one[0]), Path(args.one[1]), Path(args.one[2]), args.one[3:])
            )
        )
        return
    import shutil

    shutil.rmtree(args.work / "out", ignore_errors=True)
    small = dataset(args.work / f"clips{args.small}", args.small, seed=2024)
    if args.compare:
        compare(small, args.work / "out", args.compare, args.out.with_name("pipeline_compare.json"))
        return
    large = dataset(args.work / f"clips{args.large}", args.large, seed=2025)
    rows = {
        "naive": measure(small, args.work / "out" / "naive", NAIVE),
        "default": measure(small, args.work / "out" / "default", []),
        "large": measure(large, args.work / "out" / "large", []),
    }
    d, n, big = rows["default"], rows["naive"], rows["large"]
    peak = lambda r: r["peak_rss_mib"] + r["peak_rss_workers_mib"]  # noqa: E731
    ratios = {
        "wall_vs_model_default": d["wall_s"] / max(d["model_s"], 1e-9),
        "wall_vs_model_large": big["wall_s"] / max(big["model_s"], 1e-9),
        "naive_vs_default_wall": n["wall_s"] / d["wall_s"],
        "peak_memory_large_vs_small": peak(big) / peak(d),
    }
    for name, r in rows.items():
        print(
            f"{name:<8} {r['clips']:>4} clips  wall {r['wall_s']:7.1f} s  model "
            f"{r['model_s']:7.1f} s  peak {r['peak_rss_mib']:7.0f} MiB (+ workers "
            f"{r['peak_rss_workers_mib']:5.0f})  features {r['feature_store_mib']:.1f} MiB"
        )
    print(
        f"wall / model-forward: x{ratios['wall_vs_model_default']:.2f} ({args.small} clips), "
        f"x{ratios['wall_vs_model_large']:.2f} ({args.large} clips)"
    )
    print(
        f"naive (in-process decoding, one unit per pass) vs default, {args.small} clips: "
        f"x{ratios['naive_vs_default_wall']:.2f} wall time"
    )
    print(
        f"peak memory {args.large} vs {args.small} clips: "
        f"x{ratios['peak_memory_large_vs_small']:.2f}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"runs": rows, "ratios": ratios}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
