"""Shared fixtures: a small generated dataset and helpers that write test media."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from livematch.sampledata.generate import SampleConfig, generate_dataset

SMALL = dict(items=8, videos=6, width=320, height=180, frames=400, workers=2, seed=7)


@pytest.fixture(scope="session")
def sample_root(tmp_path_factory) -> Path:
    """A small annotated dataset in the contest layout (8 items, 6 clips of ~400 frames)."""
    root = tmp_path_factory.mktemp("sample") / "data"
    generate_dataset(root, SampleConfig(**SMALL), progress=False)
    return root


@pytest.fixture(scope="session")
def classic_root(tmp_path_factory) -> Path:
    """The same size in the classic style: presenter mid-frame, racks at the sides."""
    root = tmp_path_factory.mktemp("classic") / "data"
    generate_dataset(root, SampleConfig(**SMALL, style="classic"), progress=False)
    return root


def all_worn(root: Path, dest: Path) -> Path:
    """A copy of dataset ``root`` at ``dest`` whose frame garments are all annotated worn
    (``display`` 0): the display split has no second class."""
    import shutil

    shutil.copytree(root, dest)
    for path in (dest / "video_annotation").glob("*.json"):
        data = json.loads(path.read_text())
        for frame in data["frames"]:
            for a in frame["annotations"]:
                a["display"] = 0
        path.write_text(json.dumps(data))
    return dest


def write_json(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return path


BITS, BLOCK = 10, 16


def index_frame(i: int) -> np.ndarray:
    """A frame that encodes its own index as ``BITS`` black/white blocks (survives compression)."""
    frame = np.zeros((2 * BLOCK, BITS * BLOCK, 3), np.uint8)
    for b in range(BITS):
        if (i >> b) & 1:
            frame[:, b * BLOCK : (b + 1) * BLOCK] = 255
    return frame


def read_index(frame: np.ndarray) -> int:
    """Decode the index drawn by :func:`index_frame`."""
    row = frame[BLOCK // 2 : BLOCK + BLOCK // 2]
    bits = [row[:, b * BLOCK + 4 : (b + 1) * BLOCK - 4].mean() > 127 for b in range(BITS)]
    return sum(1 << b for b, on in enumerate(bits) if on)
