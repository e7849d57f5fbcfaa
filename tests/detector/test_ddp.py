"""Two-process DDP detector training on the CPU (gloo) through torchrun: the ranks see disjoint
images (up to the sampler's padding) and end with identical weights."""

import pytest

from tests.detector.test_train import OVERRIDES
from tests.embedder.test_ddp import probe


@pytest.mark.timeout(600)
def test_torchrun_ranks_train_the_detector_on_disjoint_images_and_end_identical(
    sample_root, tmp_path
):
    ranks = probe(
        "detector",
        sample_root,
        tmp_path,
        [
            *OVERRIDES,
            "detector.train.epochs=1",
            "detector.train.val_fraction=0.2",
            f"detector.train.cache_dir={tmp_path / 'frames'}",
        ],
    )
    assert ranks[0]["digest"] == ranks[1]["digest"]
    a, b = (r["seen"][0] for r in ranks)
    assert len(a) == len(b) > 0
    assert (
        len(set(a) & set(b)) <= 1
    )  # DistributedSampler pads the shorter rank with at most one repeat
    assert (
        len(set(a) | set(b)) == ranks[0]["sizes"][0]
    )  # together the ranks cover every training image
    assert (tmp_path / "run" / "last" / "model.safetensors").is_file()
    assert len((tmp_path / "run" / "log.csv").read_text().splitlines()) == 2
