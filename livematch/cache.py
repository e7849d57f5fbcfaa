"""Per-item and per-clip result cache of ``livematch run`` (boxes, scores, FP16 features).

An entry ``CACHE/<kind>/<id>.npz`` is valid when its ``.key`` sidecar equals the hash of the
source files' bytes and of the model key (weights and every setting that changes a crop or a
feature). The sidecar is written after the table, so an entry cut short by a kill never
matches. A killed run therefore resumes where it stopped, a run with new clips or items
processes only those, and a changed model or setting recomputes what it touches.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ground.io import atomic_write_text
from matcher.crops import CropTable, FeatureError


def file_digest(paths) -> str:
    """sha1 over the bytes of ``paths`` (in the given order) and their names."""
    h = hashlib.sha1()
    for p in paths:
        h.update(Path(p).name.encode())
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def model_key(weight_folders, settings: dict) -> str:
    """sha1 over the weights files of each checkpoint folder and a JSON of the settings."""
    files = [Path(w) / "model.safetensors" for w in weight_folders]
    return hashlib.sha1(
        (file_digest(files) + json.dumps(settings, sort_keys=True, default=str)).encode()
    ).hexdigest()


class ResultCache:
    """``get(kind, id, key)`` -> ``CropTable`` or ``None``; ``put(kind, id, key, table)``."""

    def __init__(self, folder):
        self.folder = Path(folder)

    def _paths(self, kind: str, name: str) -> tuple[Path, Path]:
        base = self.folder / kind / name
        return base.with_suffix(".npz"), base.with_suffix(".key")

    def get(self, kind: str, name: str, key: str) -> CropTable | None:
        table, sidecar = self._paths(kind, name)
        if not sidecar.is_file() or sidecar.read_text() != key:
            return None
        try:
            return CropTable.load(table)
        except FeatureError:
            return None

    def put(self, kind: str, name: str, key: str, table: CropTable) -> None:
        path, sidecar = self._paths(kind, name)
        sidecar.unlink(missing_ok=True)
        table.save(path)
        atomic_write_text(sidecar, key)
