"""Two-process DDP training on the CPU (gloo) through torchrun, as a multi-GPU run would start:
the ranks see disjoint crops and end with identical weights."""

import json
import os
import subprocess
import sys

import pytest

from tests.embedder.test_train import OVERRIDES

TORCHRUN = os.path.join(os.path.dirname(sys.executable), "torchrun")


def probe(kind: str, root, out, overrides: list[str]) -> list[dict]:
    """Train under ``torchrun --nproc-per-node 2 -m tests.ddp_probe``; each rank's record."""
    if not os.path.exists(TORCHRUN):
        pytest.skip("torchrun not installed beside this python")
    cmd = [
        TORCHRUN,
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "tests.ddp_probe",
        kind,
        str(root),
        str(out),
        *overrides,
    ]
    done = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=580
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads((out / f"probe{r}.json").read_text()) for r in range(2)]


@pytest.mark.timeout(600)
def test_torchrun_ranks_train_on_disjoint_crops_and_end_identical(sample_root, tmp_path):
    ranks = probe(
        "embedder",
        sample_root,
        tmp_path,
        [
            *OVERRIDES,
            f"embedder.data.cache_dir={tmp_path / 'crops'}",
            "embedder.optim.epochs=2",
            "embedder.data.k_per_identity=0",
        ],
    )  # plain batches
    assert ranks[0]["digest"] == ranks[1]["digest"]  # DDP kept every weight in step
    assert len(ranks[0]["seen"]) == len(ranks[1]["seen"]) == 2
    for epoch in range(2):
        a, b = (set(r["seen"][epoch]) for r in ranks)
        assert a and b and not a & b  # no crop on two ranks within an epoch
    assert ranks[0]["seen"][0] != ranks[0]["seen"][1]  # reshuffled per epoch
    assert (tmp_path / "run" / "last" / "model.safetensors").is_file()
    assert (
        len((tmp_path / "run" / "log.csv").read_text().splitlines()) == 3
    )  # two epoch rows, rank 0 only


@pytest.mark.timeout(600)
def test_torchrun_ranks_accumulating_gradients_stay_identical(sample_root, tmp_path):
    """With accumulation the ranks skip the gradient all-reduce on the batches between updates
    (DDP's no_sync) and step the last, partial group too: they must still end identical."""
    ranks = probe(
        "embedder",
        sample_root,
        tmp_path,
        [
            *OVERRIDES,
            f"embedder.data.cache_dir={tmp_path / 'crops'}",
            "embedder.optim.epochs=1",
            "embedder.optim.accumulate=3",
            "embedder.data.k_per_identity=0",
        ],
    )
    assert ranks[0]["digest"] == ranks[1]["digest"]
