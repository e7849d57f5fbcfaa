"""Detector inference speed (batch 1 against batched), or train-step speed against an older recipe.

    python -m bench.detector [--configs tiny r50_fpn] [--images 8]
        [--out bench/results/detector.json]
    python -m bench.detector --train-step      # tiny recipe's train step vs the earlier tiny recipe
    python -m bench.detector --toy [--train-step]   # small frames and sizes, the test's size

Measured side by side in one run, on random frames made here. For each recipe: images per second
on 540x960 frames at the recipe's frame short side, batch 1 vs batched (ratio); on CUDA also fp32
vs AMP (ratio). Untrained weights: the proposal counts, not the weights, set the cost, so the
numbers hold for trained models of the same recipe. Writes ``--out``
(``bench/results/detector.json``).

``--train-step``: seconds per SGD step (4 random 360x640 frames, 2 boxes each) of
``configs/detector/tiny.yaml`` against the earlier tiny recipe (FPN 128 channels, 128 sampled
ROIs, 300 train proposals, short sides 256-320), and against each change alone (ratios). Writes
``--out`` (``bench/results/detector_train_step.json``).

``--toy``: the tiny recipe alone on two 180x320 frames at short side 128; train steps on four
180x320 frames, every variant at short side 128 (what differs is then the model), one step each;
one CPU thread.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from detector.infer import predict
from detector.model import build_detector
from livematch.config import load_config

TOY = {
    "configs": ["tiny"],
    "images": 2,
    "batch": 2,
    "frame": [180, 320],
    "short_side": 128,
    "steps": 1,
    "step_overrides": ["detector.train.short_sides=[128]"],
    "threads": 1,
}


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


def train_images(frame, device) -> tuple[list, list]:
    """Four random frames of ``frame`` = (height, width), two of them turned upright, with two
    boxes each (a garment worn and one beside it, in proportion to the frame)."""
    gen = torch.Generator().manual_seed(0)
    h, w = frame
    images = [
        torch.rand(3, *hw, generator=gen, device="cpu").to(device) for hw in [(h, w), (w, h)] * 2
    ]
    box = torch.tensor([[40.0, 30.0, 200.0, 300.0], [250.0, 60.0, 330.0, 200.0]]) * (h / 360)
    targets = [
        {"boxes": box.to(device), "labels": torch.ones(2, dtype=torch.int64, device=device)}
        for _ in images
    ]
    return images, targets


def train_step_seconds(overrides: list[str], steps: int, device, frame=(360, 640)) -> float:
    """Mean seconds of a train step of the tiny recipe with ``overrides`` (after one warm-up)."""
    cfg = load_config(Path("configs/detector/tiny.yaml"), overrides).detector
    torch.manual_seed(0)
    model = build_detector(cfg.model).to(device).train()
    model.transform.min_size = tuple(cfg.train.short_sides)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    images, targets = train_images(frame, device)
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


def bench_train_step(args, device) -> dict:
    frame = args.frame if args.toy else [360, 640]
    rows = {
        name: train_step_seconds([*ov, *args.step_overrides], args.steps, device, frame)
        for name, ov in STEP_VARIANTS.items()
    }
    base = rows["earlier tiny"]
    for name, sec in rows.items():
        print(
            f"{name:<30} {sec:6.2f} s/step  (x{base / sec:.2f} faster than the earlier tiny recipe)"
        )
    return {
        "device": str(device),
        "threads": torch.get_num_threads(),
        "steps": args.steps,
        "images": [frame, frame[::-1]] * 2,
        "seconds_per_step": rows,
        "speedup_vs_earlier": {k: base / v for k, v in rows.items()},
    }


def bench_recipe(name: str, frames, args, device) -> dict:
    """One recipe's throughput at batch 1 and batched (and with AMP on CUDA)."""
    cfg = load_config(Path("configs/detector") / f"{name}.yaml").detector
    model = build_detector(cfg.model).to(device).eval()
    if device.type == "cuda" and cfg.infer.channels_last:
        model = model.to(memory_format=torch.channels_last)
    side, batched = args.short_side or cfg.infer.frame_short_side, f"batch{args.batch}_ips"
    row = {
        "short_side": side,
        "batch1_ips": images_per_second(model, frames, side, 1, False),
        batched: images_per_second(model, frames, side, args.batch, False),
    }
    row["batched_vs_batch1"] = row[batched] / row["batch1_ips"]
    if device.type == "cuda":
        row["amp_ips"] = images_per_second(model, frames, side, args.batch, True)
        row["amp_vs_fp32"] = row["amp_ips"] / row[batched]
    extra = f", AMP x{row['amp_vs_fp32']:.2f}" if "amp_vs_fp32" in row else ""
    print(
        f"{name:<10} short side {side}: batch 1 {row['batch1_ips']:.2f} img/s, batch "
        f"{args.batch} {row[batched]:.2f} img/s (x{row['batched_vs_batch1']:.2f}){extra}"
    )
    return row


def bench_inference(args, device) -> dict:
    rng = np.random.default_rng(0)
    frames = [(rng.random((*args.frame, 3)) * 255).astype(np.uint8) for _ in range(args.images)]
    return {
        "device": str(torch.cuda.get_device_name() if device.type == "cuda" else "cpu"),
        "threads": torch.get_num_threads(),
        "images": args.images,
        "frame": args.frame,
        "recipes": {name: bench_recipe(name, frames, args, device) for name in args.configs},
    }


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["tiny", "r50_fpn"])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--out", type=Path, help="JSON written (default under bench/results/)")
    parser.add_argument(
        "--train-step", action="store_true", help="time train steps instead of inference"
    )
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of torch")
    parser.add_argument(
        "--toy", action="store_true", help="small frames and sizes, one thread: the test's size"
    )
    args = parser.parse_args(argv)
    vars(args).update(frame=[540, 960], short_side=None, step_overrides=[])
    if args.toy:
        vars(args).update(TOY)
    name = "detector_train_step.json" if args.train_step else "detector.json"
    args.out = args.out or Path("bench/results") / name
    return args


def main(argv=None) -> dict:
    from bench import bound_threads
    from ground.io import write_json

    args = parse(argv)
    bound_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    results = bench_train_step(args, device) if args.train_step else bench_inference(args, device)
    write_json(args.out, results)
    print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
