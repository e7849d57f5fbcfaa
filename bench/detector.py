"""Detector inference speed, measured side by side in one run.

    python -m bench.detector [--configs tiny r50_fpn] [--images 8] [--out bench/results/detector.json]

For each recipe: images per second on 540x960 frames at the recipe's frame short side, batch 1
vs batched (ratio); on CUDA also fp32 vs AMP (ratio). Untrained weights: the proposal counts,
not the weights, set the cost, so the numbers hold for trained models of the same recipe.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from detector.infer import predict
from detector.model import build_detector
from livematch.config import load_config


def images_per_second(model, frames, short_side: int, batch: int, amp: bool) -> float:
    """Throughput of ``predict`` (one warm-up pass first)."""
    device = next(model.parameters()).device
    predict(model, frames[:batch], short_side, 0.5, batch, amp)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    predict(model, frames, short_side, 0.5, batch, amp)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return len(frames) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["tiny", "r50_fpn"])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("bench/results/detector.json"))
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rng = np.random.default_rng(0)
    frames = [(rng.random((540, 960, 3)) * 255).astype(np.uint8) for _ in range(args.images)]
    results = {"device": str(torch.cuda.get_device_name() if device.type == "cuda" else "cpu"),
               "threads": torch.get_num_threads(), "images": args.images, "recipes": {}}
    for name in args.configs:
        cfg = load_config(Path("configs/detector") / f"{name}.yaml").detector
        model = build_detector(cfg.model).to(device).eval()
        if device.type == "cuda" and cfg.infer.channels_last:
            model = model.to(memory_format=torch.channels_last)
        side = cfg.infer.frame_short_side
        row = {"short_side": side, "batch1_ips": images_per_second(model, frames, side, 1, False),
               f"batch{args.batch}_ips": images_per_second(model, frames, side, args.batch, False)}
        row["batched_vs_batch1"] = row[f"batch{args.batch}_ips"] / row["batch1_ips"]
        if device.type == "cuda":
            row["amp_ips"] = images_per_second(model, frames, side, args.batch, True)
            row["amp_vs_fp32"] = row["amp_ips"] / row[f"batch{args.batch}_ips"]
        results["recipes"][name] = row
        extra = f", AMP x{row['amp_vs_fp32']:.2f}" if "amp_vs_fp32" in row else ""
        print(f"{name:<10} short side {side}: batch 1 {row['batch1_ips']:.2f} img/s, batch {args.batch} "
              f"{row[f'batch{args.batch}_ips']:.2f} img/s (x{row['batched_vs_batch1']:.2f}){extra}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
