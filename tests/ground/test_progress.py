"""Progress where stderr is not a terminal (Docker logs, nohup, pipes): plain lines at a steady
interval, one line per training epoch; nothing when switched off."""

import torch

from ground.engine import Loop, train_loop
from ground.progress import ENV, INTERVAL_ENV, LogLines, progress_bar
from tests.ground.test_engine import Toy


def test_a_pipe_gets_plain_lines_with_done_total_rate_and_time_left(capsys, monkeypatch):
    monkeypatch.setenv(INTERVAL_ENV, "0")  # a line on every update
    monkeypatch.delenv(ENV, raising=False)
    bar = progress_bar(range(4), desc="clips", unit="clip")
    assert isinstance(bar, LogLines)  # capsys' stderr is no terminal
    assert list(bar) == [0, 1, 2, 3]
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith("clips: 1/4 (25%), ") and "clip/s" in lines[0] and "left" in lines[0]
    assert (
        lines[-1].startswith("clips: 4/4 (100%)") and len(lines) == 5
    )  # 4 updates and the closing line


def test_lines_keep_to_their_interval_and_close_once(capsys):
    with LogLines(total=1000, desc="embed", unit="batch", interval=3600) as bar:
        for _ in range(1000):
            bar.update()
        bar.set_postfix(loss="0.5")
    bar.close()
    lines = capsys.readouterr().err.strip().splitlines()
    assert (
        len(lines) == 1
        and lines[0].startswith("embed: 1000/1000 (100%)")
        and "(loss 0.5)" in lines[0]
    )


def test_no_progress_prints_nothing(capsys, monkeypatch):
    monkeypatch.setenv(INTERVAL_ENV, "0")
    assert list(progress_bar(range(3), desc="x", show=False)) == [0, 1, 2]
    monkeypatch.setenv(ENV, "1")
    assert list(progress_bar(range(3), desc="x")) == [0, 1, 2]
    assert capsys.readouterr().err == ""


def test_training_prints_one_line_per_epoch_with_losses_and_the_validation_metric(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv(INTERVAL_ENV, "3600")
    monkeypatch.delenv(ENV, raising=False)
    task = Toy(scores=[0.1, 0.4, 0.3])
    train_loop(
        task,
        torch.optim.SGD(task.module.parameters(), lr=0.1),
        Loop(epochs=3, warmup_steps=0),
        tmp_path,
        0,
        1,
        torch.device("cpu"),
        progress=True,
    )
    epochs = [
        line
        for line in capsys.readouterr().err.splitlines()
        if line.startswith("epoch ") and " (step " in line
    ]
    assert [e.split(" (")[0] for e in epochs] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert all("loss " in e and "lr " in e for e in epochs) and "score 0.4" in epochs[1]
