"""Frame-sampling speed: the inference schedule with decord and PyAV against OpenCV decoding all.

    python -m bench.decode [--out bench/results/decode.json] [--repeats 3]
    python -m bench.decode --toy                   # 320x180 clips of 200 frames, the test's size

The 16-frame inference schedule (``media.infer_frames``) read with decord and with PyAV, against
decoding every frame with OpenCV, on clips rendered here by the sample-data generator (720p, 400
frames by default), written with three codec / keyframe-interval settings. Prints seconds per clip
(median of the repeats) and the ratio of each method to OpenCV decoding every frame, measured side
by side in one run; writes the numbers, and the frames each method decoded, as JSON.
"""

from __future__ import annotations

import argparse
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

# (name, codec, keyframe interval): an MPEG-4 part 2 clip with frequent keyframes, and H.264 with
# rare and with frequent ones
CLIPS = [("mp4v_gop12", "mp4v", 12), ("h264_gop250", "h264", 250), ("h264_gop50", "h264", 50)]
TOY = {"frames": 200, "width": 320, "height": 180, "repeats": 1}


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
    """Name -> ``fn(path, indices)`` returning the number of frames decoded; the schedule readers
    use ``threads`` decoder threads."""
    return {
        "decord_schedule": lambda p, idx: len(
            sample_frames(p, idx, "decord", False, threads).images
        ),
        "pyav_schedule": lambda p, idx: len(sample_frames(p, idx, "pyav", False, threads).images),
        "opencv_every_frame": opencv_all_frames,
    }


def time_method(fn, path: Path, indices, repeats: int) -> tuple[float, int]:
    """Median seconds of ``repeats`` calls, and the frames the last one decoded."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        decoded = fn(path, indices)
        times.append(time.perf_counter() - start)
    return statistics.median(times), decoded


def measure_clip(path: Path, runners: dict, indices, repeats: int) -> dict:
    """Each method's seconds on the clip at ``path``, frames decoded, and ratio to OpenCV."""
    row, decoded = {}, {}
    for m, fn in runners.items():
        row[m], decoded[m] = time_method(fn, path, indices, repeats)
    base = row["opencv_every_frame"]
    row["ratio_vs_opencv_every_frame"] = {m: base / row[m] for m in runners}
    row["frames_decoded"] = decoded
    return row


def print_table(results: dict, runners: dict) -> None:
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


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/decode.json"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--frames", type=int, default=400)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument(
        "--threads", type=int, default=0, help="decoder threads (0: decoder's choice)"
    )
    parser.add_argument(
        "--toy",
        action="store_true",
        help="320x180 clips of 200 frames, one repeat: the test's size",
    )
    args = parser.parse_args(argv)
    if args.toy:
        vars(args).update(TOY)
    return args


def main(argv=None) -> dict:
    from bench import bound_threads
    from ground.io import write_json

    args = parse(argv)
    bound_threads(2)
    runners = methods(args.threads)
    indices = load_config().media.infer_frames.indices()
    frames = render_clip(args.frames, args.width, args.height)
    results = {
        "machine": platform.processor() or platform.machine(),
        "frames": len(frames),
        "size": [args.width, args.height],
        "schedule": indices,
        "threads": args.threads,
        "clips": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, codec, gop in CLIPS:
            path = Path(tmp) / f"{name}.mp4"
            write_video(path, frames, codec=codec, gop=gop)
            results["clips"][name] = measure_clip(path, runners, indices, args.repeats)
    print_table(results, runners)
    write_json(args.out, results)
    print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
