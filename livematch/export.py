"""Export a trained checkpoint for shipping: model weights only (no optimiser state, no margin
head), stored as float16 to halve their size, with the config and meta beside them.

    python -m livematch.export runs/embedder_lite0/best weights/embedder_lite0
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from safetensors.torch import load_file, save_file


def export_checkpoint(src, dst, fp16: bool = True) -> Path:
    src, dst = Path(src), Path(dst)
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    state = load_file(str(src / "model.safetensors"))
    if fp16:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    save_file(state, str(tmp / "model.safetensors"))
    for name in ("config.yaml", "meta.json"):
        shutil.copy2(src / name, tmp / name)
    shutil.rmtree(dst, ignore_errors=True)
    tmp.rename(dst)
    return dst


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m livematch.export SRC_CHECKPOINT DST_FOLDER")
    print(export_checkpoint(sys.argv[1], sys.argv[2]))
