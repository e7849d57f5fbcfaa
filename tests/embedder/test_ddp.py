"""Two-process DDP training on the CPU (gloo) through torchrun, as a multi-GPU run would start."""
import os
import shutil
import subprocess
import sys

import pytest

from tests.embedder.test_train import OVERRIDES


@pytest.mark.timeout(600)
def test_torchrun_two_processes_train_and_checkpoint(sample_root, tmp_path):
    if shutil.which("torchrun", path=os.path.dirname(sys.executable)) is None:
        pytest.skip("torchrun not installed beside this python")
    cmd = [os.path.join(os.path.dirname(sys.executable), "torchrun"), "--standalone", "--nproc-per-node", "2",
           "-m", "livematch.cli", "embed", "train", "--out", str(tmp_path / "run"),
           *OVERRIDES, f"embedder.data.cache_dir={tmp_path / 'crops'}", "embedder.optim.epochs=1",
           f"embedder.data.roots=[{sample_root}]"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=580)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "run" / "last" / "model.safetensors").is_file()
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert len(log) == 2  # one epoch row, written by rank 0 only
