"""Frame-sampling speed: the 16-frame inference schedule with decord and with PyAV, against
decoding every frame with OpenCV, on generated 720p clips of 400 frames.

    python -m bench.decode [--out bench/results/decode.json] [--repeats 3]

Prints seconds per clip (median of the repeats) and the ratio of each method to OpenCV
decoding every frame, measured side by side in one run; writes the numbers as JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from ground.media import sample_frames
from livematch.config import load_config
from livematch.sampledata.clip import ClipRenderer
from livematch.sampledata.generate import SampleConfig, plan_dataset
from livematch.sampledata.video import write_video

# (name, codec, keyframe interval): NOTES.md's three cases.
CLIPS = [("mp4v_gop12", "mp4v", 12), ("h264_gop250", "h264", 250), ("h264_gop50", "h264", 50)]


def render_clip(
    frames: int = 400, width: int = 1280, height: int = 720, seed: int = 0
) -> list[np.ndarray]:
    cfg = SampleConfig(
        items=3,
        videos=1,
        width=width,
        height=height,
        frames=frames,
        seed=seed,
        portrait_fraction=0.0,
    )
    plan = plan_dataset(cfg)
    _, product, others = plan.videos[0]
    renderer = ClipRenderer(
        cfg, plan.products[product], [plan.products[i] for i in others], np.random.default_rng(seed)
    )
    return list(renderer.frames())


def opencv_all_frames(path: Path, indices) -> int:
    cap = cv2.VideoCapture(str(path))
    count = 0
    while cap.grab():
        cap.retrieve()
        count += 1
    cap.release()
    return count


def methods(threads: int) -> dict:
    """Name -> ``fn(path, indices)``; the schedule readers use ``threads`` decoder threads."""
    return {
        "decord_schedule": lambda p, idx: sample_frames(p, idx, "decord", False, threads),
        "pyav_schedule": lambda p, idx: sample_frames(p, idx, "pyav", False, threads),
        "opencv_every_frame": opencv_all_frames,
    }


def time_method(fn, path: Path, indices, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(path, indices)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/decode.json"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--frames", type=int, default=400)
    parser.add_argument(
        "--threads", type=int, default=0, help="decoder threads (0: decoder's choice)"
    )
    args = parser.parse_args()
    runners = methods(args.threads)
    indices = load_config().media.infer_frames.indices()
    frames = render_clip(args.frames)
    results = {
        "machine": platform.processor() or platform.machine(),
        "frames": args.frames,
        "size": [1280, 720],
        "schedule": indices,
        "threads": args.threads,
        "clips": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, codec, gop in CLIPS:
            path = Path(tmp) / f"{name}.mp4"
            write_video(path, frames, codec=codec, gop=gop)
            row = {m: time_method(fn, path, indices, args.repeats) for m, fn in runners.items()}
            base = row["opencv_every_frame"]
            row["ratio_vs_opencv_every_frame"] = {
                m: base / t for m, t in row.items() if m in runners
            }
            results["clips"][name] = row
    print(
        f"{'clip':<13} "
        + " ".join(f"{m:>20}" for m in runners)
        + "   speed-up vs OpenCV all frames"
    )
    for name, row in results["clips"].items():
        ratios = row["ratio_vs_opencv_every_frame"]
        print(
            f"{name:<13} "
            + " ".join(f"{row[m]:>19.3f}s" for m in runners)
            + "   "
            + "  ".join(
                f"{m.split('_')[0]} x{ratios[m]:.2f}" for m in runners if m != "opencv_every_frame"
            )
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
