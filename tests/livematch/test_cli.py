import json
import subprocess
import sys

import pytest

from ground.dataset import load_dataset
from ground.metric import oracle_result
from livematch.cli import main

COMMANDS = ["sample-data", "validate", "evaluate", "config"]


@pytest.mark.parametrize("command", [[]] + [[c] for c in COMMANDS])
def test_help_on_every_command(command, capsys):
    assert main(command + ["--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage:" in out
    if not command:
        assert all(c in out for c in COMMANDS)


def test_sample_data_then_validate(tmp_path, capsys):
    out = tmp_path / "d"
    assert (
        main(
            [
                "sample-data",
                str(out),
                "--items",
                "3",
                "--videos",
                "3",
                "--width",
                "160",
                "--height",
                "96",
                "--frames",
                "50",
                "--workers",
                "1",
            ]
        )
        == 0
    )
    assert main(["validate", str(out), "--json", str(tmp_path / "s.json")]) == 0
    text = capsys.readouterr().out
    assert "items" in text and "no bad input" in text and "oracle score 1.0000" in text
    report = json.loads((tmp_path / "s.json").read_text())
    assert report["counts"]["items"] == 3 and report["oracle_score"] == 1.0
    assert main(["sample-data", str(out), "--items", "3"]) == 2  # not empty: refuses
    assert "--overwrite" in capsys.readouterr().err


def test_validate_reports_bad_input(sample_root, tmp_path, capsys):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(sample_root, root)
    clip = next((root / "video").glob("*.mp4"))
    clip.write_bytes(b"garbage")
    assert main(["validate", str(root)]) == 0
    captured = capsys.readouterr()
    assert "unreadable video" in captured.out and clip.name in captured.out
    assert clip.name in captured.err  # the warning is logged too


def test_evaluate_oracle_and_broken_files(sample_root, tmp_path, capsys):
    pred = tmp_path / "result.json"
    pred.write_text(json.dumps(oracle_result(load_dataset(sample_root))))
    assert (
        main(
            [
                "evaluate",
                "--pred",
                str(pred),
                "--gt",
                str(sample_root),
                "--json",
                str(tmp_path / "score.json"),
            ]
        )
        == 0
    )
    assert "score  1.0000" in capsys.readouterr().out
    assert json.loads((tmp_path / "score.json").read_text())["score"] == 1.0
    pred.write_text("[]")
    assert main(["evaluate", "--pred", str(pred), "--gt", str(sample_root)]) == 2
    assert "result.json must be an object" in capsys.readouterr().err


def test_config_errors_exit_2(capsys):
    assert main(["config", "media.nope=1"]) == 2
    assert "media.nope" in capsys.readouterr().err


def test_console_script_runs():
    out = subprocess.run(
        [sys.executable, "-m", "livematch.cli", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "sample-data" in out.stdout


@pytest.mark.parametrize(
    "argv, says",
    [
        (["run"], "Missing option '--data'"),
        (["run", "--data", "x", "--bogus"], "No such option: --bogus"),
        (["run", "--data"], "requires an argument"),
        (["fit", "--data", "x"], "Missing option '--val'"),
    ],
)
def test_usage_mistakes_are_one_line_and_exit_2(argv, says, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and says in err[0]


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("livematch ")


def test_quiet_and_log_level_set_what_is_logged(sample_root, tmp_path, capsys):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(sample_root, root)
    clip = next((root / "video").glob("*.mp4"))
    clip.write_bytes(b"garbage")
    assert main(["--quiet", "validate", str(root)]) == 0
    captured = capsys.readouterr()
    assert "unreadable video" in captured.out and clip.name not in captured.err
    assert main(["--log-level", "error", "validate", str(root)]) == 0
    assert clip.name not in capsys.readouterr().err
    assert main(["--log-level", "loud", "validate", str(root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--log-level" in err[0] and "debug, info, warning, error" in err[0]


def test_progress_off_on_request_and_plain_lines_off_a_terminal(monkeypatch, tmp_path):
    from ground.progress import ENV, bar_disabled

    monkeypatch.setenv(ENV, "0")
    assert (
        bar_disabled(True) is None and bar_disabled(False) is True
    )  # None: tqdm's own terminal test
    assert main(["--no-progress", "config"]) == 0
    assert bar_disabled(True) is True
    # a pipe is not a terminal: plain progress lines in a child's stderr, no bar; none with
    # --no-progress
    args = [
        "sample-data",
        str(tmp_path / "d"),
        "--items",
        "2",
        "--videos",
        "2",
        "--width",
        "96",
        "--height",
        "64",
        "--frames",
        "50",
        "--workers",
        "1",
        "--overwrite",
    ]
    for flags, shown in (([], True), (["--no-progress"], False)):
        out = subprocess.run(
            [sys.executable, "-m", "livematch.cli", *flags, *args],
            capture_output=True,
            text=True,
            env={**__import__("os").environ, ENV: "0"},
        )
        assert out.returncode == 0 and "\r" not in out.stderr
        assert ("clips: 2/2 (100%)" in out.stderr) is shown


def test_exit_codes_mean_something(sample_root, tmp_path, capsys):
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"counts": {"items": 3}, "seconds": {"load": 1.0}}))
    assert main(["evaluate", "--pred", str(summary), "--gt", str(sample_root)]) == 2
    assert "not a result.json" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["validate", str(empty)]) == 2
    assert "not a dataset root" in capsys.readouterr().err
    for sub in ("image", "video"):
        (empty / sub).mkdir()
    assert main(["validate", str(empty)]) == 2
    assert "no readable photo and no readable clip" in capsys.readouterr().err
    assert (
        main(
            [
                "run",
                "--config",
                "configs/pipeline/demo.yaml",
                "--data",
                str(empty),
                "--out",
                str(tmp_path / "run"),
            ]
        )
        == 2
    )
    assert not (tmp_path / "run" / "result.json").exists()


def test_swapped_detector_and_embedder_is_one_line_before_any_work(sample_root, tmp_path, capsys):
    from pathlib import Path

    weights = Path(__file__).resolve().parents[2] / "weights"
    out = tmp_path / "out"
    assert (
        main(
            [
                "run",
                "--data",
                str(sample_root),
                "--out",
                str(out),
                "--detector",
                str(weights / "embedder_lite0"),
                "--embedder",
                str(weights / "detector_lite0"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "embedder_lite0: not a detector checkpoint" in err[0]
    assert not out.exists() or not any(out.rglob("*.npz"))
