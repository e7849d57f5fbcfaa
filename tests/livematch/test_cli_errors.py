"""Every command, given a missing path, a bad value or an empty input, says so in one line on
stderr and exits 2, and creates no output folder."""

from pathlib import Path

import pytest

from livematch.cli import main
from livematch.config import load_config

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "configs" / "pipeline" / "demo.yaml"


@pytest.fixture(scope="module")
def places(tmp_path_factory, sample_root):
    base = tmp_path_factory.mktemp("errors")
    (base / "empty").mkdir()
    (base / "empty.json").write_text("")
    weights = load_config(DEMO).weights
    return {
        "NOWHERE": str(base / "nowhere"),
        "EMPTY": str(base / "empty"),
        "EMPTYFILE": str(base / "empty.json"),
        "DATA": str(sample_root),
        "DET": weights.detector,
        "EMB": weights.embedders[0],
        "DEMO": str(DEMO),
        "OUT": str(base / "out"),
    }


CASES = {
    # a missing path
    "validate missing": (["validate", "NOWHERE"], "nowhere"),
    "evaluate missing": (["evaluate", "--pred", "NOWHERE", "--gt", "DATA"], "nowhere"),
    "match missing": (
        ["match", "--features", "NOWHERE", "--out", "OUT"],
        "feature folder does not exist",
    ),
    "calibrate missing": (
        ["calibrate", "--features", "NOWHERE", "--gt", "DATA", "--out", "OUT/c.yaml"],
        "nowhere",
    ),
    "run missing": (
        ["run", "--config", "DEMO", "--data", "NOWHERE", "--out", "OUT"],
        "dataset root does not exist",
    ),
    "fit missing": (
        ["fit", "--data", "NOWHERE", "--val", "DATA", "--out", "OUT"],
        "dataset root does not exist",
    ),
    "detect eval missing": (
        ["detect", "eval", "--checkpoint", "NOWHERE", "--data", "DATA"],
        "no such checkpoint",
    ),
    "detect predict missing": (
        ["detect", "predict", "--checkpoint", "DET", "--data", "NOWHERE", "--out", "OUT"],
        "nowhere",
    ),
    "detect region missing": (["detect", "region", "--gt", "NOWHERE"], "nowhere"),
    "embed eval missing": (
        ["embed", "eval", "--checkpoint", "NOWHERE", "--data", "DATA"],
        "no such checkpoint",
    ),
    "embed extract missing": (
        ["embed", "extract", "--checkpoint", "EMB", "--data", "NOWHERE", "--out", "OUT"],
        "nowhere",
    ),
    "simulate missing": (["simulate-features", "--gt", "NOWHERE", "--out", "OUT"], "nowhere"),
    "config missing": (["config", "--config", "NOWHERE"], "nowhere"),
    # a bad value: named with where it came from and what the key takes
    "config section": (
        ["config", "media.infer_frames=abc"],
        "media.infer_frames=abc' on the command line",
    ),
    "config type": (["config", "media.infer_frames.step=abc"], "takes an int"),
    "config unknown key": (["config", "media.nosuch=1"], "no key 'media.nosuch'"),
    "run bad choice": (
        [
            "run",
            "--config",
            "DEMO",
            "--data",
            "DATA",
            "--out",
            "OUT",
            "matcher.voting.item_box=foo",
        ],
        "on the command line: matcher.voting.item_box is 'foo'; choose one of",
    ),
    "match bad enum": (
        ["match", "--features", "EMPTY", "--out", "OUT", "media.backend=foo"],
        "one of decord, pyav",
    ),
    "fit bad recipe": (
        ["fit", "--data", "DATA", "--val", "DATA", "--out", "OUT", "fit.recipe=huge"],
        "fit.recipe",
    ),
    # an empty input
    "validate empty": (["validate", "EMPTY"], "not a dataset root"),
    "match empty": (["match", "--features", "EMPTY", "--out", "OUT"], "no shop*.npz or video*.npz"),
    "calibrate empty": (
        ["calibrate", "--features", "EMPTY", "--gt", "DATA", "--out", "OUT/c.yaml"],
        "no shop*.npz",
    ),
    "run empty": (
        ["run", "--config", "DEMO", "--data", "EMPTY", "--out", "OUT"],
        "not a dataset root",
    ),
    "evaluate empty": (["evaluate", "--pred", "EMPTYFILE", "--gt", "DATA"], "empty.json"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_user_error_is_one_line_and_exit_2_and_leaves_no_output(name, places, capsys):
    args, said = CASES[name]
    assert (
        main(
            [
                places.get(a, a.replace("OUT", places["OUT"]) if a.startswith("OUT") else a)
                for a in args
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and said in err[0], err
    assert not Path(places["OUT"]).exists()
