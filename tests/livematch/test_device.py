"""--device of the model commands: auto picks CUDA when present; a wrong name fails in one line."""
import pytest
import torch

from livematch.cli import main
from livematch.distributed import pick_device
from livematch.errors import ConfigError


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
    assert main([*command, "--checkpoint", str(tmp_path), "--data", str(tmp_path), "--device", "gpu0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "gpu0" in err[0]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_auto_is_the_gpu_when_there_is_one():
    assert pick_device("auto") == torch.device("cuda")
