"""Two-process DDP detector training on the CPU (gloo) through torchrun."""
import os
import subprocess
import sys

import pytest

from tests.detector.test_train import OVERRIDES


@pytest.mark.timeout(600)
def test_torchrun_two_processes_train_the_detector(sample_root, tmp_path):
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    if not os.path.exists(torchrun):
        pytest.skip("torchrun not installed beside this python")
    cmd = [torchrun, "--standalone", "--nproc-per-node", "2", "-m", "livematch.cli", "detect", "train",
           "--data", str(sample_root), "--out", str(tmp_path / "run"), *OVERRIDES, "detector.train.epochs=1",
           "detector.train.val_fraction=0.2", f"detector.train.cache_dir={tmp_path / 'frames'}"]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=580)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "run" / "last" / "model.safetensors").is_file()
    assert len((tmp_path / "run" / "log.csv").read_text().splitlines()) == 2
