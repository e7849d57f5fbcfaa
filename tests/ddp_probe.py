"""Run under torchrun by the DDP tests: trains one model through the library on every rank and
records what each rank saw and ended with, in ``OUT/probe<rank>.json``:

- ``seen``: every sample index the rank's sampler handed its loader (per epoch);
- ``sizes``: the size of the dataset the sampler drew from (when it knows it);
- ``digest``: a hash of the rank's final trainable weights (DDP must keep the ranks identical).

``python -m tests.ddp_probe embedder|detector ROOT OUT [overrides...]``
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch


def _digest(model) -> str:
    """Hash of the trainable weights (not BatchNorm's running statistics: DDP broadcasts those
    from rank 0 before each forward, so after the last step each rank holds its own batch's)."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.named_parameters()):
        h.update(name.encode())
        h.update(tensor.detach().to(torch.float64).cpu().numpy().tobytes())
    return h.hexdigest()


def _record(cls, seen: list, sizes: list):
    """Wrap ``cls.__iter__`` (a sampler) so that every index it yields is appended to ``seen``
    (one list per epoch) and the size of the dataset it samples (when it knows it) to ``sizes``."""
    original = cls.__iter__

    def __iter__(self):
        epoch = []
        seen.append(epoch)
        if hasattr(self, "dataset"):
            sizes.append(len(self.dataset))
        for item in original(self):
            items = (
                [item] if isinstance(item, (int, np.integer)) else item
            )  # a batch sampler's batch
            epoch.extend(
                int(i[0] if isinstance(i, tuple) else i) for i in items
            )  # (index, shape) pairs
            yield item

    cls.__iter__ = __iter__


def main(kind: str, root: str, out: str, overrides: list[str]) -> None:
    from ground.distributed import setup_distributed
    from livematch.config import load_config

    out_dir = Path(out)
    seen, sizes = [], []
    cfg = load_config(None, overrides)
    rank = int(__import__("os").environ.get("RANK", "0"))
    if kind == "embedder":
        from embedder.samplers import AspectRatioBatchSampler
        from livematch.commands.embed import train_embedder

        _record(AspectRatioBatchSampler, seen, sizes)
        cfg.embedder.data.roots = [root]
        result, _ = train_embedder(cfg, out_dir / "run", progress=False)
    else:
        from livematch.commands.detect import train_detector_on

        _record(torch.utils.data.distributed.DistributedSampler, seen, sizes)
        result, _ = train_detector_on(cfg, [root], None, out_dir / "run", progress=False)
    setup_distributed()
    (out_dir / f"probe{rank}.json").write_text(
        json.dumps({"seen": seen, "sizes": sizes, "digest": _digest(result.model)})
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
