"""Detector inference speed, measured side by side in one run.

    python -m bench.detector [--configs tiny r50_fpn] [--images 8]
        [--out bench/results/detector.json]
    python -m bench.detector --train-step      # tiny recipe's train step vs the earlier tiny recipe

For each recipe: images per second on 540x960 frames at the recipe's frame short side, batch 1
vs batched (ratio); on CUDA also fp32 vs AMP (ratio). Untrained weights: the proposal counts,
not the weights, set the cost, so the numbers hold for trained models of the same recipe.

``--train-step``: seconds per SGD step (4 random 360x640 frames, 2 boxes each) of
``configs/detector/tiny.yaml`` against the earlier tiny recipe (FPN 128 channels, 128 sampled
ROIs, 300 train proposals, short sides 256-320), and against each change alone (ratios).
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


EARLIER_TINY = [
    "detector.model.fpn_channels=128",
    "detector.model.box_batch_size_per_image=128",
    "detector.model.rpn_pre_nms_top_n_train=600",
    "detector.model.rpn_post_nms_top_n_train=300",
    "detector.train.short_sides=[256,288,320]",
]
STEP_VARIANTS = {
    "earlier tiny": EARLIER_TINY,
    "+ FPN 64": ["detector.model.fpn_channels=64", *EARLIER_TINY[1:]],
    "+ 64 ROIs, 150 proposals": [
        "detector.model.fpn_channels=64",
        "detector.train.short_sides=[256,288,320]",
    ],
    "tiny (+ short sides 224-288)": [],
}


def train_step_seconds(overrides: list[str], steps: int, device) -> float:
    """Mean seconds of a train step of the tiny recipe with ``overrides`` (after one warm-up)."""
    cfg = load_config(Path("configs/detector/tiny.yaml"), overrides).detector
    torch.manual_seed(0)
    model = build_detector(cfg.model).to(device).train()
    model.transform.min_size = tuple(cfg.train.short_sides)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    gen = torch.Generator().manual_seed(0)
    images = [
        torch.rand(3, *hw, generator=gen, device="cpu").to(device)
        for hw in [(360, 640), (640, 360)] * 2
    ]
    targets = [
        {
            "boxes": torch.tensor(
                [[40.0, 30.0, 200.0, 300.0], [250.0, 60.0, 330.0, 200.0]], device=device
            ),
            "labels": torch.ones(2, dtype=torch.int64, device=device),
        }
        for _ in images
    ]
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        loss = sum(model(images, targets).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return float(np.mean(times[1:]))


def bench_train_step(steps: int, out: Path, device) -> None:
    rows = {name: train_step_seconds(ov, steps, device) for name, ov in STEP_VARIANTS.items()}
    base = rows["earlier tiny"]
    for name, sec in rows.items():
        print(
            f"{name:<30} {sec:6.2f} s/step  (x{base / sec:.2f} faster than the earlier tiny recipe)"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "device": str(device),
                "steps": steps,
                "seconds_per_step": rows,
                "speedup_vs_earlier": {k: base / v for k, v in rows.items()},
            },
            indent=2,
        )
    )
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["tiny", "r50_fpn"])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("bench/results/detector.json"))
    parser.add_argument(
        "--train-step", action="store_true", help="time train steps instead of inference"
    )
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.train_step:
        return bench_train_step(args.steps, args.out.with_name("detector_train_step.json"), device)
    rng = np.random.default_rng(0)
    frames = [(rng.random((540, 960, 3)) * 255).astype(np.uint8) for _ in range(args.images)]
    results = {
        "device": str(torch.cuda.get_device_name() if device.type == "cuda" else "cpu"),
        "threads": torch.get_num_threads(),
        "images": args.images,
        "recipes": {},
    }
    for name in args.configs:
        cfg = load_config(Path("configs/detector") / f"{name}.yaml").detector
        model = build_detector(cfg.model).to(device).eval()
        if device.type == "cuda" and cfg.infer.channels_last:
            model = model.to(memory_format=torch.channels_last)
        side = cfg.infer.frame_short_side
        row = {
            "short_side": side,
            "batch1_ips": images_per_second(model, frames, side, 1, False),
            f"batch{args.batch}_ips": images_per_second(model, frames, side, args.batch, False),
        }
        row["batched_vs_batch1"] = row[f"batch{args.batch}_ips"] / row["batch1_ips"]
        if device.type == "cuda":
            row["amp_ips"] = images_per_second(model, frames, side, args.batch, True)
            row["amp_vs_fp32"] = row["amp_ips"] / row[f"batch{args.batch}_ips"]
        results["recipes"][name] = row
        extra = f", AMP x{row['amp_vs_fp32']:.2f}" if "amp_vs_fp32" in row else ""
        print(
            f"{name:<10} short side {side}: batch 1 {row['batch1_ips']:.2f} img/s, batch "
            f"{args.batch} {row[f'batch{args.batch}_ips']:.2f} img/s "
            f"(x{row['batched_vs_batch1']:.2f}){extra}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
