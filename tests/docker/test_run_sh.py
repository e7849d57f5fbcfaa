"""docker/run.sh, the contest entry point, run on the host against sample data."""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from ground.metric import validate_entry
from tests.livematch.test_pipeline import checkpoints  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[2]


def test_run_sh_writes_result_json(sample_root, checkpoints, tmp_path):  # noqa: F811
    det, emb = checkpoints
    config = tmp_path / "contest.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "weights": {"detector": str(det), "embedders": [str(emb)]},
                "data": {"probe_media": False},
                "media": {"infer_frames": {"start": 80, "stop": 380, "step": 100}},
                "detector": {
                    "infer": {
                        "photo_threshold": 0.0,
                        "frame_threshold": 0.0,
                        "photo_short_side": 128,
                        "frame_short_side": 128,
                    }
                },
                "embedder": {"extract": {"scale": 64}},
            }
        )
    )
    env = {
        **os.environ,
        "INPUT_DIR": str(sample_root),
        "OUTPUT": str(tmp_path / "out" / "result.json"),
        "CONFIG": str(config),
        "WORK_DIR": str(tmp_path / "work"),
        "LIVEMATCH": f"{sys.executable} -m livematch.cli",
    }
    done = subprocess.run(
        ["bash", str(ROOT / "docker" / "run.sh")], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert isinstance(result, dict) and all(validate_entry(e) is None for e in result.values())
    assert "wrote" in done.stdout


def test_run_sh_fails_cleanly_without_weights(sample_root, tmp_path):
    env = {
        **os.environ,
        "INPUT_DIR": str(sample_root),
        "OUTPUT": str(tmp_path / "result.json"),
        "CONFIG": str(ROOT / "configs" / "pipeline" / "default.yaml"),
        "WORK_DIR": str(tmp_path / "w"),
        "LIVEMATCH": f"{sys.executable} -m livematch.cli",
    }
    done = subprocess.run(
        ["bash", str(ROOT / "docker" / "run.sh")], env=env, capture_output=True, text=True
    )
    assert done.returncode != 0 and "needs a detector" in done.stderr
    assert not (tmp_path / "result.json").exists()


def test_run_sh_defaults_to_the_demo_pipeline_whose_weights_the_image_copies():
    """The image runs out of the box: its default config names weights committed under weights/
    (Dockerfile: COPY weights weights)."""
    from livematch.config import load_config

    text = (ROOT / "docker" / "run.sh").read_text()
    assert 'CONFIG="${CONFIG:-$here/configs/pipeline/demo.yaml}"' in text
    weights = load_config(ROOT / "configs" / "pipeline" / "demo.yaml").weights
    for folder in [weights.detector, *weights.embedders, weights.worn]:
        assert (
            Path(folder).resolve().parent == ROOT / "weights"
            and (Path(folder) / "model.safetensors").is_file()
        )
    for name in ("cpu", "cuda"):
        assert "COPY weights weights" in (ROOT / "docker" / f"Dockerfile.{name}").read_text()


def test_run_sh_with_the_reference_pipeline_names_its_missing_weights(sample_root, tmp_path):
    env = {
        **os.environ,
        "INPUT_DIR": str(sample_root),
        "OUTPUT": str(tmp_path / "result.json"),
        "WORK_DIR": str(tmp_path / "w"),
        "LIVEMATCH": f"{sys.executable} -m livematch.cli",
        "CONFIG": str(ROOT / "configs" / "pipeline" / "reference.yaml"),
    }
    done = subprocess.run(
        ["bash", str(ROOT / "docker" / "run.sh")], env=env, capture_output=True, text=True
    )
    assert done.returncode != 0 and "configs/pipeline/reference.yaml" in done.stderr
    assert f"{ROOT}/runs/detector_vovnet99_stage3/last: no such checkpoint folder" in done.stderr
    from livematch.config import load_config

    weights = yaml.safe_load((ROOT / "configs" / "pipeline" / "reference.yaml").read_text())[
        "weights"
    ]
    written = [
        load_config(ROOT / "configs" / "embedder" / f"reference_{n}.yaml").embedder.out_dir
        for n in ("b5a", "b5b", "b6", "b7")
    ]
    assert [str(Path(p).parent).removeprefix("../../") for p in weights["embedders"]] == written
    stage3 = load_config(
        ROOT / "configs" / "detector" / "reference_vovnet99_stage3.yaml"
    ).detector.out_dir
    assert (
        str(Path(weights["detector"]).parent).removeprefix("../../") == stage3
    )  # what the recipes write
