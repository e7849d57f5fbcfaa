"""The first pass against later ones: what a new input shape costs the models on this device.

    python -m bench.first_pass --data data/demo                # CUDA when present
    python -m bench.first_pass --data data/demo --device cpu

One process, the demo pipeline (``configs/pipeline/demo.yaml``) through the Python API: the
catalogue and the clips of ``--data`` detected and embedded ``--passes`` times in a row. The
first pass meets every input shape for the first time (the detector's photo and frame sizes,
the embedder's aspect buckets); the later ones only reuse them. Prints seconds per pass and the
ratio of the first to the mean of the others, writes ``bench/results/first_pass.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main(argv=None) -> dict:
    import torch

    from livematch.api import Pipeline

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, required=True, help="A dataset root (its photos and clips)."
    )
    parser.add_argument("--config", type=Path, default=Path("configs/pipeline/demo.yaml"))
    parser.add_argument("--device", default=None, help="cpu, cuda (default: CUDA when present).")
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument(
        "-o", "--override", action="append", default=[], help="KEY=VALUE over the config."
    )
    parser.add_argument("--json", type=Path, default=Path("bench/results/first_pass.json"))
    args = parser.parse_args(argv)
    pipe = Pipeline.load(args.config, args.override, device=args.device, progress=False)
    device = str(next(pipe.models.embedders[0].parameters()).device)
    rows = []
    for k in range(args.passes):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        shop = pipe.catalogue(args.data)
        t1 = time.perf_counter()
        video = pipe.clips(args.data)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        rows.append(
            {
                "pass": k + 1,
                "catalogue_s": t1 - t0,
                "clips_s": t2 - t1,
                "shop_crops": len(shop),
                "video_crops": len(video),
            }
        )
        print(
            f"pass {k + 1}: catalogue {t1 - t0:.1f} s, clips {t2 - t1:.1f} s "
            f"({len(shop)} shop crops, {len(video)} video crops)",
            flush=True,
        )
    total = [r["catalogue_s"] + r["clips_s"] for r in rows]
    later = sum(total[1:]) / max(len(total) - 1, 1)
    ratio = total[0] / later if len(total) > 1 and later > 0 else None
    print(
        f"{device}: first pass {total[0]:.1f} s, later passes {later:.1f} s each"
        + (f": x{ratio:.1f}" if ratio else "")
    )
    result = {
        "device": device,
        "data": str(args.data),
        "config": str(args.config),
        "passes": rows,
        "first_over_later": ratio,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
