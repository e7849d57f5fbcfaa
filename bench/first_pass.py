"""The first pass against later ones: what a new input shape costs the models on this device.

    python -m bench.first_pass                         # a generated root; CUDA when present
    python -m bench.first_pass --device cpu --passes 3
    python -m bench.first_pass --data ROOT             # a dataset root of your own instead
    python -m bench.first_pass --toy                   # a tiny root, small inputs: the test's

One process, the demo pipeline (``configs/pipeline/demo.yaml``) through the Python API: the
catalogue and the clips of a sample root (written under ``--work`` by the sample-data generator,
12 items and 10 clips; ``--data`` names another root) detected and embedded ``--passes`` times in
a row. The first pass meets every input shape for the first time (the detector's photo and frame
sizes, the embedder's aspect buckets); the later ones only reuse them. Prints seconds per pass and
the ratio of the first to the mean of the others, writes ``--json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

SIZE = {"items": 12, "videos": 10}
TOY = {
    "size": {"items": 3, "videos": 2, "width": 320, "height": 180, "frames": 200},
    "passes": 2,
    "threads": 1,
    "overrides": [
        "detector.infer.photo_short_side=128",
        "detector.infer.frame_short_side=128",
        "media.infer_frames.step=100",
        "embedder.extract.scale=64",
    ],
}


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="A dataset root (default: one generated).")
    parser.add_argument(
        "--work", type=Path, default=Path("runs/bench_first_pass"), help="The generated root."
    )
    parser.add_argument("--seed", type=int, default=30, help="The generated root's seed.")
    parser.add_argument("--config", type=Path, default=Path("configs/pipeline/demo.yaml"))
    parser.add_argument("--device", default=None, help="cpu, cuda (default: CUDA when present).")
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of torch")
    parser.add_argument(
        "-o", "--override", action="append", default=[], help="KEY=VALUE over the config."
    )
    parser.add_argument(
        "--toy", action="store_true", help="3 items, 2 small clips, small inputs: the test's size"
    )
    parser.add_argument("--json", type=Path, default=Path("bench/results/first_pass.json"))
    args = parser.parse_args(argv)
    args.size = SIZE
    if args.toy:
        args.size, args.passes, args.threads = TOY["size"], TOY["passes"], TOY["threads"]
        args.override = TOY["overrides"] + args.override
    return args


def one_pass(pipe, data: Path, device: str, k: int) -> dict:
    """Seconds of the catalogue and of the clips, detected and embedded once."""
    import torch

    sync = torch.cuda.synchronize if device.startswith("cuda") else lambda: None
    sync()
    t0 = time.perf_counter()
    shop = pipe.catalogue(data)
    t1 = time.perf_counter()
    video = pipe.clips(data)
    sync()
    t2 = time.perf_counter()
    print(
        f"pass {k}: catalogue {t1 - t0:.1f} s, clips {t2 - t1:.1f} s "
        f"({len(shop)} shop crops, {len(video)} video crops)",
        flush=True,
    )
    return {
        "pass": k,
        "catalogue_s": t1 - t0,
        "clips_s": t2 - t1,
        "shop_crops": len(shop),
        "video_crops": len(video),
    }


def main(argv=None) -> dict:
    from bench import bound_threads, sample_root
    from ground.io import write_json
    from livematch.api import Pipeline

    args = parse(argv)
    bound_threads(args.threads)
    data = args.data or sample_root(args.work, f"seed{args.seed}", args.seed, **args.size)
    pipe = Pipeline.load(args.config, args.override, device=args.device, progress=False)
    device = str(next(pipe.models.embedders[0].parameters()).device)
    rows = [one_pass(pipe, data, device, k + 1) for k in range(args.passes)]
    total = [r["catalogue_s"] + r["clips_s"] for r in rows]
    later = sum(total[1:]) / max(len(total) - 1, 1)
    ratio = total[0] / later if len(total) > 1 and later > 0 else None
    print(
        f"{device}: first pass {total[0]:.1f} s, later passes {later:.1f} s each"
        + (f": x{ratio:.1f}" if ratio else "")
    )
    result = {
        "device": device,
        "threads": args.threads,
        "data": str(data),
        "config": str(args.config),
        "overrides": args.override,
        "passes": rows,
        "first_over_later": ratio,
    }
    write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
