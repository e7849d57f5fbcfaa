"""--device of the model commands: auto picks CUDA when present; a wrong name fails in one line."""

import pytest
import torch

from ground.distributed import pick_device
from ground.errors import ConfigError
from livematch.cli import main


def test_pick_device_names_and_errors():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="not a device"):
        pick_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            pick_device("cuda:0")


@pytest.mark.parametrize("command", [["detect", "eval"], ["embed", "eval"]])
def test_a_bad_device_is_one_line_and_exit_2(command, tmp_path, capsys):
    assert (
        main([*command, "--checkpoint", str(tmp_path), "--data", str(tmp_path), "--device", "gpu0"])
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "gpu0" in err[0]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_auto_is_the_gpu_when_there_is_one():
    assert pick_device("auto") == torch.device("cuda")


class _Joined(Exception):
    pass


def test_trainers_join_the_process_group_with_their_configured_timeout(monkeypatch, tmp_path):
    """Rank 0 validates alone while the others wait in a collective: the wait is the config's."""
    import torch.distributed as dist

    from detector.config import DetectorConfig
    from detector.train import train_detector
    from embedder.config import EmbedderConfig
    from embedder.train import train

    seen = []

    def join(backend, timeout=None, **kw):
        seen.append(timeout)
        raise _Joined

    monkeypatch.setattr(dist, "init_process_group", join)
    monkeypatch.setenv("WORLD_SIZE", "2")
    det, emb = DetectorConfig(), EmbedderConfig()
    det.train.dist_timeout_min, emb.optim.dist_timeout_min = 7, 9
    with pytest.raises(_Joined):
        train_detector(det, [object()], [], tmp_path / "det")  # past the empty-set check
    with pytest.raises(_Joined):
        train(emb, [], tmp_path / "emb")
    assert [t.total_seconds() for t in seen] == [7 * 60, 9 * 60]
