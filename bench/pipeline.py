"""End-to-end ``livematch run``: wall against model time, naive against default, memory at scale.

    python -m bench.pipeline                       # demo weights, 10 and 100 generated clips
    python -m bench.pipeline --compare A.yaml B.yaml   # two pipelines on the same 10 clips
    python -m bench.pipeline --toy                 # 2 and 4 tiny clips, small inputs: the test's

Every comparison is measured side by side in one run, on sample roots the bench writes under
``--work`` (the sample-data generator). Each run is a fresh child process on a fresh output folder
(no cache), so that its peak memory is its own. Printed and written to ``--out``
(``bench/results/pipeline.json``):

1. wall time vs the summed model-forward time (detector + embedder calls) of the default run
   (DataLoader workers decoding ahead, several clips per model pass): the ratio says how much of
   the run is spent outside the models;
2. the same ``--small`` clips the naive way (decoding in the main process, one photo / clip per
   model pass) vs the default: wall-time ratio;
3. peak resident memory (main process and loader workers) for ``--large`` vs ``--small`` clips:
   the ratio should stay near 1, apart from the feature store, which grows with the crops.

``--compare``: each pipeline config (e.g. the demo's models against a fit's) on the same clips,
one after the other: clips per minute, the share of wall time spent in the models, and the
clips-per-minute ratio of each to the first (``--out``, ``bench/results/pipeline_compare.json``).
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
REPO = Path(__file__).resolve().parents[1]
TOY = {
    "small": 2,
    "large": 4,
    "size": {"width": 320, "height": 180, "frames": 200},
    "threads": 1,
    "overrides": [
        "detector.infer.photo_short_side=128",
        "detector.infer.frame_short_side=128",
        "media.infer_frames.step=100",
        "embedder.extract.scale=64",
        "run.workers=1",
    ],
}


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


def measure(data: Path, out: Path, args, overrides=(), config: Path = CONFIG) -> dict:
    """One run in a child process (``--one``), with ``args``' threads and overrides."""
    paths = [str(Path(p).resolve()) for p in (data, out, config)]
    overrides = [*args.override, *overrides]
    cmd = [sys.executable, "-m", "bench.pipeline", "--threads", str(args.threads), "--one"]
    done = subprocess.run([*cmd, *paths, *overrides], capture_output=True, text=True, cwd=REPO)
    if done.returncode:
        raise SystemExit(f"bench run failed: {' '.join(cmd)}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def dataset(work: Path, clips: int, seed: int, size: dict) -> Path:
    """The generated root of ``clips`` clips (and a quarter as many items, at least 8)."""
    from bench import sample_root

    return sample_root(work, f"clips{clips}", seed, items=max(8, clips // 4), videos=clips, **size)


def compare(data: Path, work: Path, configs: list[Path], args) -> dict:
    """Each pipeline config on the same clips, one after the other (module docstring)."""
    rows = {}
    for k, config in enumerate(configs):
        r = measure(data, work / f"compare{k}", args, config=config)
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
    return rows


def ratios(rows: dict) -> dict:
    d, n, big = rows["default"], rows["naive"], rows["large"]
    peak = lambda r: r["peak_rss_mib"] + r["peak_rss_workers_mib"]  # noqa: E731
    return {
        "wall_vs_model_default": d["wall_s"] / max(d["model_s"], 1e-9),
        "wall_vs_model_large": big["wall_s"] / max(big["model_s"], 1e-9),
        "naive_vs_default_wall": n["wall_s"] / d["wall_s"],
        "peak_memory_large_vs_small": peak(big) / peak(d),
    }


def report(rows: dict, found: dict, small: int, large: int) -> None:
    for name, r in rows.items():
        print(
            f"{name:<8} {r['clips']:>4} clips  wall {r['wall_s']:7.1f} s  model "
            f"{r['model_s']:7.1f} s  peak {r['peak_rss_mib']:7.0f} MiB (+ workers "
            f"{r['peak_rss_workers_mib']:5.0f})  features {r['feature_store_mib']:.1f} MiB"
        )
    print(
        f"wall / model-forward: x{found['wall_vs_model_default']:.2f} ({small} clips), "
        f"x{found['wall_vs_model_large']:.2f} ({large} clips)"
    )
    print(
        f"naive (in-process decoding, one unit per pass) vs default, {small} clips: "
        f"x{found['naive_vs_default_wall']:.2f} wall time"
    )
    print(f"peak memory {large} vs {small} clips: x{found['peak_memory_large_vs_small']:.2f}")


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, default=Path("runs/bench_pipeline"))
    parser.add_argument("--small", type=int, default=10)
    parser.add_argument("--large", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of torch in each run")
    parser.add_argument(
        "-o", "--override", action="append", default=[], help="KEY=VALUE over every config."
    )
    parser.add_argument("--out", type=Path, help="JSON written (default under bench/results/)")
    parser.add_argument(
        "--compare", type=Path, nargs="+", help="pipeline configs run on the same --small clips"
    )
    parser.add_argument(
        "--toy", action="store_true", help="2 and 4 tiny clips, small inputs: the test's size"
    )
    args = parser.parse_args(argv)
    args.size = {}
    if args.toy:
        args.small, args.large, args.size = TOY["small"], TOY["large"], TOY["size"]
        args.threads, args.override = TOY["threads"], TOY["overrides"] + args.override
    name = "pipeline_compare.json" if args.compare else "pipeline.json"
    args.out = args.out or Path("bench/results") / name
    return args


def main(argv=None) -> dict:
    import shutil

    from bench import bound_threads
    from ground.io import write_json

    args = parse(argv)
    bound_threads(args.threads)
    if args.one:
        result = run_once(*map(Path, args.one[:3]), args.one[3:])
        print(json.dumps(result))
        return result
    shutil.rmtree(args.work / "out", ignore_errors=True)
    small = dataset(args.work, args.small, 2024, args.size)
    if args.compare:
        results = compare(small, args.work / "out", args.compare, args)
    else:
        large = dataset(args.work, args.large, 2025, args.size)
        out = args.work / "out"
        rows = {
            "naive": measure(small, out / "naive", args, NAIVE),
            "default": measure(small, out / "default", args),
            "large": measure(large, out / "large", args),
        }
        results = {"runs": rows, "ratios": ratios(rows)}
        report(rows, results["ratios"], args.small, args.large)
    write_json(args.out, results)
    print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
