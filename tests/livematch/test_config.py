import re
from pathlib import Path

import pytest

from ground.errors import ConfigError
from livematch.config import FrameSchedule, VideoBackend, load_config, to_yaml

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_the_reference_schedules():
    cfg = load_config()
    assert cfg.media.infer_frames.indices() == list(range(80, 381, 20))
    assert len(cfg.media.infer_frames.indices()) == 16
    assert cfg.media.train_frames.indices() == [80, 120, 160, 200, 240, 280, 320, 360]
    assert cfg.media.backend == VideoBackend.decord


def test_recipe_equals_defaults():
    assert load_config(ROOT / "configs/pipeline/default.yaml") == load_config()


def test_dotted_overrides_apply():
    cfg = load_config(
        None, ["media.backend=pyav", "media.infer_frames.step=40", "data.roots=[a,b]"]
    )
    assert cfg.media.backend == VideoBackend.pyav
    assert cfg.media.infer_frames.indices() == [80, 120, 160, 200, 240, 280, 320, 360]
    assert list(cfg.data.roots) == ["a", "b"]


@pytest.mark.parametrize(
    "override, key",
    [
        ("media.bogus=1", "media.bogus"),
        ("media.fallback=maybe", "media.fallback"),
        ("media.backend=cv2", "media.backend"),
        ("media.infer_frames.step=x", "media.infer_frames.step"),
    ],
)
def test_bad_override_names_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, [override])


def test_bad_yaml_names_the_file_and_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("media:\n  typo_key: 3\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*media\.typo_key"):
        load_config(bad)
    bad.write_text("media: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(bad)


def test_yaml_round_trip(tmp_path):
    cfg = load_config(None, ["media.backend=pyav", "media.train_frames.start=0"])
    saved = tmp_path / "resolved.yaml"
    saved.write_text(to_yaml(cfg))
    assert load_config(saved) == cfg


def test_bad_schedule_is_an_error():
    with pytest.raises(ConfigError):
        FrameSchedule(80, 380, 0).indices()


@pytest.mark.parametrize(
    "recipe", sorted(str(p.relative_to(ROOT)) for p in (ROOT / "configs").rglob("*.yaml"))
)
def test_every_recipe_loads(recipe):
    cfg = load_config(ROOT / recipe)
    assert cfg.media.infer_frames.indices()


def test_demo_recipe_points_at_committed_weights():
    cfg = load_config(ROOT / "configs/pipeline/demo.yaml")
    for folder in [cfg.weights.detector, *cfg.weights.embedders]:
        assert (ROOT / folder / "model.safetensors").is_file() and (
            ROOT / folder / "config.yaml"
        ).is_file()


@pytest.mark.parametrize(
    "override, says",
    [
        (
            "embedder.model.neck_activation=prlu",
            "embedder.model.neck_activation is 'prlu'; choose one of none, prelu",
        ),
        (
            "matcher.index.kind=ivf",
            "matcher.index.kind is 'ivf'; choose one of flat, ivf_flat, ivf_pq, ivf_fastscan, hnsw",
        ),
        ("detector.model.split_by=x", "detector.model.split_by is 'x'"),
        ("embedder.optim.select=best", "embedder.optim.select is 'best'"),
        ("fit.recipe=big", "fit.recipe is 'big'"),
    ],
)
def test_a_choice_field_with_an_unknown_word_fails_at_load(override, says):
    with pytest.raises(ConfigError, match=re.escape(says)):
        load_config(None, [override])


def test_every_shipped_recipe_passes_the_choice_checks():
    for path in Path("configs").glob("*/*.yaml"):
        load_config(path)


def test_config_lists_each_fit_key_with_its_meaning(capsys):
    """About a dozen fit.* keys, each printed with a one-line meaning by `livematch config`."""
    import yaml

    from livematch.cli import main

    assert main(["config"]) == 0
    out = capsys.readouterr().out
    fit = out[out.index("\nfit:") + 1 :].splitlines()[1:]
    leaves = [line for line in fit if not line.rstrip().split("#")[0].rstrip().endswith(":")]
    assert 8 <= len(leaves) <= 14 and all("  # " in line for line in fit)
    assert yaml.safe_load(out)["fit"]["parts"] == 2  # still YAML a recipe can start from


@pytest.mark.parametrize("key", ["fit.min_gain", "fit.holdout_cuts", "fit.train_max_clips"])
def test_a_removed_fit_key_says_what_to_do_instead(key, tmp_path):
    from livematch.config import RETIRED

    with pytest.raises(ConfigError, match=f"{key} was removed.*{RETIRED[key][:20]}"):
        load_config(None, [f"{key}=1"])
    section, name = key.split(".")
    (tmp_path / "old.yaml").write_text(f"{section}:\n  {name}: 1\n")
    with pytest.raises(ConfigError, match=f"in {tmp_path / 'old.yaml'}: {key} was removed"):
        load_config(tmp_path / "old.yaml")
