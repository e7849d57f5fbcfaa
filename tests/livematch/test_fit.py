"""``livematch fit``: training stages, calibration on validation data, pipeline.yaml for ``run``."""
import json
import shutil
from pathlib import Path
from dataclasses import replace

import numpy as np
import pytest

from livematch import calibration
from livematch.calibration import SplitScorer, Setting, coordinate_ascent, default_grids
from ground.errors import ConfigError
from livematch.cli import main
from livematch.config import load_config
from ground.dataset import load_dataset
from livematch.fit import resolve_split
from matcher.store import FeatureStore
from livematch.sampledata.features import simulate_crops
from livematch.sampledata.generate import SampleConfig, generate_dataset
from matcher.config import MatcherConfig
from matcher.crops import CropTable
from tests.conftest import all_worn
from tests.detector.test_train import OVERRIDES as DET
from tests.embedder.test_train import OVERRIDES as EMB

FAST = ["fit.recipe=tiny", "detector.train.epochs=1", "embedder.optim.epochs=1", "detector.infer.photo_short_side=128",
        "detector.infer.frame_short_side=128", "media.infer_frames.step=100", "fit.thresholds=[0.0,0.05,0.5]",
        "detector.train.max_val_images=20", "detector.worn.epochs=1", "detector.worn.copies=1"]


@pytest.fixture(scope="module", autouse=True)
def one_round():
    """One coordinate-ascent round (calibration.Procedure, which users do not set) keeps these fits short."""
    from livematch import calibration
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(calibration, "PROCEDURE", replace(calibration.PROCEDURE, rounds=1))
        yield


@pytest.fixture(scope="module")
def val_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("val") / "data"
    generate_dataset(root, SampleConfig(items=6, videos=4, width=320, height=180, seed=8, workers=2), progress=False)
    return root


@pytest.fixture(scope="module")
def val_root2(tmp_path_factory):
    root = tmp_path_factory.mktemp("val2") / "data"
    generate_dataset(root, SampleConfig(items=4, videos=3, width=320, height=180, seed=9, workers=2), progress=False)
    return root


@pytest.fixture(scope="module")
def fitted(sample_root, val_root, val_root2, tmp_path_factory):
    out = tmp_path_factory.mktemp("fit") / "fit"
    code = main(["fit", "--data", str(sample_root), "--val", str(val_root), "--val", str(val_root2),
                 "--out", str(out), *DET, *EMB, *FAST])
    assert code == 0
    return out


def test_fit_writes_a_pipeline_that_run_accepts_from_anywhere(fitted, val_root, tmp_path, monkeypatch, capsys):
    assert {"pipeline.yaml", "fit.html", "fit.json"} <= {p.name for p in fitted.iterdir()}
    text = (fitted / "pipeline.yaml").read_text()
    assert "weights/detector" in text and "# VAL score" in text
    monkeypatch.chdir(tmp_path)  # weights resolve against the pipeline file, not the working folder
    cfg = load_config(fitted / "pipeline.yaml")
    assert cfg.weights.detector == str(fitted / "weights" / "detector")
    assert cfg.weights.worn == str(fitted / "weights" / "worn")  # TRAIN annotates worn and alone garments
    chosen = json.loads((fitted / "fit.json").read_text())["setting"]
    assert cfg.detector.infer.frame_threshold == chosen["frame_threshold"]
    assert cfg.matcher.voting.item_box == chosen["item_box"]
    record = json.loads((fitted / "fit.json").read_text())
    assert cfg.detector.infer.frame_min_worn == chosen["min_worn"] and "worn" in record["seconds"]
    assert any(s["name"] == "min_worn" for s in record["sweeps"])
    assert len(record["val"]) == 2  # each VAL root matched on its own, scores averaged
    assert record["val_score"] == pytest.approx(np.mean([v["score"] for v in record["val"]]))
    capsys.readouterr()
    assert main(["run", "--config", str(fitted / "pipeline.yaml"), "--data", str(val_root), "--out", "run",
                 "--gt", str(val_root), "data.probe_media=false"]) == 0
    assert (tmp_path / "run" / "result.json").exists()
    page = (fitted / "fit.html").read_text()
    assert page.count("<svg") >= 5 and "Frame region" in page  # one curve per swept setting
    held = record["holdout"]  # two VAL roots: each scored at the settings calibrated on the other
    assert len(held["per_split"]) == 2 and held["score"] == pytest.approx(np.mean(held["per_split"]))
    # two VAL roots are at most Procedure.train_max_val_roots: TRAIN's parts calibrate too, never held out
    assert record["train_parts"] >= 1 and held["train_parts"] == record["train_parts"]
    assert (fitted / "calibration" / "train_run0" / "features").is_dir()
    assert f"Held-out estimate {held['score']:.4f}" in text and "Held-out estimate" in page
    # fit.tta_scales is empty by default: the crops are embedded at the training scale only, once
    assert load_config().fit.tta_scales == [] and cfg.embedder.extract.scales_tta == []
    assert load_config(fitted / "calibration" / "val_run" / "config.yaml").embedder.extract.scales_tta == []
    assert not (fitted / "calibration" / "tta").exists() and record["tta"] is None
    # fit tries database-side augmentation with k = 2 by default, on the same rows
    assert calibration.Procedure().dba_k == (2,) and record["dba"]["candidates"] == [2]
    assert set(record["dba"]["estimates"]) == {"0", "2"} and cfg.matcher.rerank.dba_k == record["dba"]["kept"]


def test_a_fit_pipeline_keeps_its_own_test_time_sizes_under_the_checkpoint_settings(fitted):
    """The benches re-embed a fit's roots with use_checkpoints: the sizes are the pipeline's own
    (what ``run`` embeds with), not fit.tta_scales' default; the models are the checkpoints'."""
    from livematch.config import use_checkpoints
    for sizes in ([], [150]):
        cfg = load_config(fitted / "pipeline.yaml", [f"embedder.extract.scales_tta={sizes}", "fit.tta_scales=[2.0]"])
        cfg.embedder.model.backbone = "resnet50"
        use_checkpoints(cfg, Path(cfg.weights.detector), Path(cfg.weights.embedders[0]))
        assert cfg.embedder.extract.scales_tta == sizes and cfg.embedder.model.backbone != "resnet50"


def test_rerunning_fit_skips_finished_stages(fitted, sample_root, val_root, val_root2, capsys):
    weights = fitted / "weights" / "embedder" / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    assert main(["fit", "--data", str(sample_root), "--val", str(val_root), "--val", str(val_root2),
                 "--out", str(fitted), *DET, *EMB, *FAST]) == 0
    out = capsys.readouterr().out
    assert "skipped (already trained): embedder, detector" in out
    assert "held-out estimate" in out
    assert "embedder" not in out.split("seconds per stage:")[1].split("\n")[0]
    assert weights.stat().st_mtime_ns == stamp


def test_fit_learns_the_annotated_grid_of_the_data(fitted, tmp_path, capsys):
    """Data annotated every 30 frames: the pipeline moves evidence frames onto that grid (the
    format's 40 would move them onto frames nobody annotated)."""
    root = tmp_path / "grid30"
    generate_dataset(root, SampleConfig(items=4, videos=3, width=320, height=180, seed=11, workers=2,
                                        annotation_step=30), progress=False)
    out = tmp_path / "fit"
    assert main(["fit", "--data", str(root), "--val", str(root), "--out", str(out), "--detector",
                 str(fitted / "weights" / "detector"), "--embedder", str(fitted / "weights" / "embedder"),
                 *FAST, "fit.worn=false", "fit.train_calibration=never"]) == 0
    assert load_config(out / "pipeline.yaml").matcher.voting.annotation_step == 30
    assert json.loads((out / "fit.json").read_text())["annotation_step"] == 30
    assert "every 30 frames" in (out / "pipeline.yaml").read_text()
    assert "no held-out estimate" in capsys.readouterr().out  # 3 clips: too few to cut, no number to trust
    assert json.loads((out / "fit.json").read_text())["holdout"] is None
    from livematch import calibration
    with pytest.MonkeyPatch.context() as mp:  # a root of 3 clips cut into parts of one selling clip, two ways
        mp.setattr(calibration, "PROCEDURE", replace(calibration.PROCEDURE, rounds=1, min_clips=1, cuts=2))
        assert main(["fit", "--data", str(root), "--val", str(root), "--out", str(out), "--detector",  # cached rows
                     str(fitted / "weights" / "detector"), "--embedder", str(fitted / "weights" / "embedder"),
                     *FAST, "fit.worn=false", "fit.train_calibration=never"]) == 0
    held = json.loads((out / "fit.json").read_text())["holdout"]  # one root, cut into parts
    assert held["by"] == "parts" and len(held["per_split"]) == 4 and len(held["settings"]) == 4
    assert "VAL cut 2 times into 2 parts" in capsys.readouterr().out
    assert f"Held-out estimate {held['score']:.4f}: VAL cut 2 times" in (out / "pipeline.yaml").read_text()
    assert "cut 1 " in (out / "fit.html").read_text()


def test_with_one_val_root_train_clips_calibrate_too(fitted, sample_root, val_root, tmp_path, capsys):
    """fit.train_calibration=auto and one --val root: a draw of TRAIN's clips (Procedure.train_max_clips)
    is detected like VAL, cut into parts that calibrate beside VAL, and the estimate scores VAL at
    the settings calibrated on those parts alone."""
    out = tmp_path / "fit"
    models = ["--detector", str(fitted / "weights" / "detector"), "--embedder", str(fitted / "weights" / "embedder")]
    from livematch import calibration
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(calibration, "PROCEDURE", replace(calibration.PROCEDURE, rounds=1, train_max_clips=5))
        assert main(["fit", "--data", str(sample_root), "--val", str(val_root), "--out", str(out), *models, *FAST,
                     "fit.worn=false"]) == 0
    record = json.loads((out / "fit.json").read_text())
    drawn = {p.stem for p in (out / "calibration" / "train_view0" / "video").iterdir()}
    assert 0 < len(drawn) <= 5 < len(load_dataset(sample_root, probe_media=False).videos)
    held, parts = record["holdout"], record["train_parts"]
    assert parts >= 1 and held["by"] == "roots" and held["train_parts"] == parts and len(held["per_split"]) == 1
    printed = capsys.readouterr().out
    assert f"TRAIN's clips calibrated too ({parts} parts" in printed
    assert f"calibrated on TRAIN's clips ({parts} parts)" in printed
    text = (out / "pipeline.yaml").read_text()
    assert f"{parts} parts of TRAIN's clips" in text and "# Calibration score" in text
    assert "TRAIN's clips calibrated too" in (out / "fit.html").read_text()
    assert main(["fit", "--data", str(sample_root), "--val", str(val_root), "--out", str(tmp_path / "never"),
                 *models, *FAST, "fit.worn=false", "fit.train_calibration=never"]) == 0
    assert json.loads((tmp_path / "never" / "fit.json").read_text())["train_parts"] == 0
    assert not (tmp_path / "never" / "calibration" / "train_run0").exists()


def test_a_draw_of_a_large_root_keeps_each_selling_clip_with_its_item(sample_root, tmp_path):
    from ground.dataset import subset_root
    from ground.metric import sold_items
    from livematch.calibration import pick_clips
    ds = load_dataset(sample_root, probe_media=False)
    assert pick_clips(ds, len(ds.videos)) == (sorted(ds.items), sorted(ds.videos))  # small enough: all of it
    items, clips = pick_clips(ds, 3)
    assert 0 < len(clips) <= 3 and pick_clips(ds, 3) == (items, clips)  # the same draw on every run
    truth = sold_items(ds)
    assert all(truth[c] in items for c in clips if c in truth)
    assert all(c in clips for c, i in truth.items() if i in items)  # an item comes with every clip that sells it
    view = load_dataset(subset_root(sample_root, items, clips, tmp_path / "view"), probe_media=False)
    assert set(view.items) == set(items) and set(view.videos) == set(clips)
    assert all(view.videos[c].frames == ds.videos[c].frames for c in clips)  # annotations come along
    assert sold_items(view) == {c: i for c, i in truth.items() if c in clips}


def test_the_annotated_grid_sets_the_evidence_grid_and_the_training_frames(caplog):
    from livematch.config import FrameSchedule
    from livematch.fit import use_annotation_grid
    cfg = load_config(None)
    use_annotation_grid(cfg, 40)  # the format's grid: nothing moves
    assert cfg.matcher.voting.annotation_step == 40 and cfg.media.train_frames == FrameSchedule(80, 360, 40)
    use_annotation_grid(cfg, 30)
    assert cfg.matcher.voting.annotation_step == 30 and cfg.media.train_frames == FrameSchedule(90, 360, 30)
    cfg = load_config(None)
    use_annotation_grid(cfg, 20)  # every other annotated frame is still on the training schedule
    assert cfg.matcher.voting.annotation_step == 20 and cfg.media.train_frames == FrameSchedule(80, 360, 40)
    cfg = load_config(None)
    use_annotation_grid(cfg, None)
    assert cfg.matcher.voting.annotation_step == 40
    caplog.clear()
    use_annotation_grid(cfg, 33)  # 80, 100, ..., 380 never meets a multiple of 33
    assert any("media.infer_frames" in r.getMessage() and "lies on the annotated grid" in r.getMessage()
               for r in caplog.records)


def test_zero_finetune_epochs_keep_the_init_models_as_they_are(fitted, sample_root, val_root, tmp_path):
    from safetensors.torch import load_file
    out = tmp_path / "kept"
    assert main(["fit", "--data", str(sample_root), "--val", str(val_root), "--out", str(out), "--init-from",
                 str(fitted / "weights"), *DET, *EMB, *FAST, "fit.finetune.embedder_epochs=0",
                 "fit.finetune.detector_epochs=0"]) == 0
    for stage in ("embedder", "detector"):
        kept, init = (load_file(str(d / "weights" / stage / "model.safetensors")) for d in (out, fitted))
        assert kept.keys() == init.keys() and all(kept[k].equal(init[k]) for k in kept)
        assert not (out / stage).exists()  # no training run
    assert (out / "pipeline.yaml").is_file()


def test_fit_calibrates_an_ensemble_of_given_embedders_and_writes_them_all(fitted, sample_root, val_root, tmp_path):
    """--embedder twice: VAL is embedded by both (features concatenated, as livematch run does) and
    pipeline.yaml names both, in order."""
    from matcher.store import load_store
    out, weights = tmp_path / "ensemble", fitted / "weights"
    shutil.copytree(weights / "worn", out / "weights" / "worn")  # trained already: not again
    assert main(["fit", "--data", str(sample_root), "--val", str(val_root), "--out", str(out), "--detector",
                 str(weights / "detector"), "--embedder", str(weights / "embedder"), "--embedder",
                 str(fitted / "embedder" / "last"), *FAST]) == 0
    cfg = load_config(out / "pipeline.yaml")
    assert [Path(e).resolve() for e in cfg.weights.embedders] == [(weights / "embedder").resolve(),
                                                                  (fitted / "embedder" / "last").resolve()]
    dim = load_store(fitted / "calibration" / "val_run" / "features").shop.dim
    assert load_store(out / "calibration" / "val_run" / "features").shop.dim == 2 * dim


@pytest.mark.parametrize("broken", ["val", "train"])
def test_bad_inputs_fail_before_training_naming_the_root(broken, sample_root, val_root, tmp_path, capsys):
    bare = tmp_path / "bare"
    shutil.copytree(val_root if broken == "val" else sample_root, bare,
                    ignore=shutil.ignore_patterns("video_annotation", *(["image_annotation"] if broken == "train" else [])))
    data, val = (sample_root, bare) if broken == "val" else (bare, val_root)
    out = tmp_path / "out"
    assert main(["fit", "--data", str(data), "--val", str(val), "--out", str(out), *DET, *EMB, *FAST]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bare) in err[0] and ("VAL" if broken == "val" else "TRAIN") in err[0]
    assert not (out / "embedder").exists() and not (out / "weights").exists()


def test_a_split_train_cannot_learn_fails_before_training(sample_root, val_root, tmp_path, capsys):
    worn = all_worn(sample_root, tmp_path / "worn")
    out = tmp_path / "out"
    args = ["fit", "--data", str(worn), "--val", str(val_root), "--out", str(out), *DET, *EMB, *FAST]
    assert main(args + ["fit.split_by=display"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(worn) in err[0] and "fit.split_by=display" in err[0] and "'alone': 0" in err[0]
    assert not (out / "embedder").exists() and not (out / "weights").exists()
    # auto takes the split TRAIN can learn: worn / alone where both are annotated, else product / other
    train, worn_only = load_dataset(sample_root, probe_media=False), load_dataset(worn, probe_media=False)
    assert resolve_split("auto", train) == "display" and resolve_split("auto", worn_only) == "instance"
    assert resolve_split("instance", train) == "instance"


def test_a_bad_tta_multiple_fails_before_training(sample_root, val_root, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["fit", "--data", str(sample_root), "--val", str(val_root), "--out", str(out), *DET, *EMB, *FAST,
                 "fit.tta_scales=[1.333,0]"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fit.tta_scales" in err[0] and "[1.333, 0.0]" in err[0]
    assert not (out / "embedder").exists() and not (out / "weights").exists()


def rigged_fit(fitted, roots, out, monkeypatch, high, *overrides) -> list:
    """``fit`` (TRAIN and two VAL ``roots``) on the ``fitted`` models, every calibration's held-out
    estimate rigged to 0.9 where ``high(cfg)`` and 0.4 elsewhere; returns what each calibration
    saw: its ``matcher.rerank.dba_k`` and which crop rows (ids of the stores)."""
    import livematch.fit as fit_module
    real, seen = fit_module.choose_settings, []

    def rigged(cfg, *args, **kwargs):
        found = real(cfg, *args, **kwargs)
        seen.append((cfg.matcher.rerank.dba_k, [id(store) for store in args[0]]))
        return replace(found, estimate=replace(found.estimate, score=0.9 if high(cfg) else 0.4))
    monkeypatch.setattr(fit_module, "choose_settings", rigged)
    train, val, val2 = roots
    assert main(["fit", "--data", str(train), "--val", str(val), "--val", str(val2), "--out", str(out),
                 "--detector", str(fitted / "weights" / "detector"), "--embedder", str(fitted / "weights" / "embedder"),
                 *FAST, "fit.worn=false", *overrides]) == 0
    return seen


@pytest.mark.parametrize("better", ["tta", "none"])
def test_fit_keeps_the_test_time_scales_only_when_their_held_out_estimate_is_higher(
        better, fitted, sample_root, val_root, val_root2, tmp_path, monkeypatch, capsys):
    """A built case: the calibration of the rows embedded with fit.tta_scales gets a held-out
    estimate above (or below) the one at the training scale; fit keeps the higher one and says so
    in the CLI, pipeline.yaml, fit.json and fit.html."""
    out = tmp_path / "fit"
    rigged_fit(fitted, [sample_root, val_root, val_root2], out, monkeypatch,
               lambda cfg: bool(cfg.embedder.extract.scales_tta) == (better == "tta"), "fit.tta_scales=[1.5]")
    said = capsys.readouterr().out
    cfg = load_config(out / "pipeline.yaml")
    record = json.loads((out / "fit.json").read_text())
    kept = better == "tta"
    assert cfg.embedder.extract.scales_tta == ([round(1.5 * cfg.embedder.extract.scale)] if kept else [])
    assert record["tta"]["kept"] is kept and record["holdout"]["score"] == 0.9
    assert record["tta"]["estimates"] == ({"tta": 0.9, "none": 0.4} if kept else {"tta": 0.4, "none": 0.9})
    assert ("kept" if kept else "not kept") in said.split("fit.tta_scales [1.5]")[1].splitlines()[0]
    assert "fit.tta_scales [1.5]" in (out / "pipeline.yaml").read_text()
    assert "Test-time scales" in (out / "fit.html").read_text()
    # the rows of the candidate were embedded with the extra size, the others without
    assert load_config(out / "calibration" / "tta" / "val_run" / "config.yaml").embedder.extract.scales_tta != []
    assert load_config(out / "calibration" / "val_run" / "config.yaml").embedder.extract.scales_tta == []


@pytest.mark.parametrize("better", ["dba", "none"])
def test_fit_keeps_database_side_augmentation_only_when_its_held_out_estimate_is_higher(
        better, fitted, sample_root, val_root, val_root2, tmp_path, monkeypatch, capsys):
    """A built case: the calibration with database-side augmentation k = 2 (Procedure.dba_k, on the
    same crop rows) gets a held-out estimate above (or below) the one without; fit keeps the higher
    one, writes it for ``run`` (matcher.rerank.dba_k) and says so in the CLI, pipeline.yaml,
    fit.json and fit.html."""
    monkeypatch.setattr(calibration, "PROCEDURE", replace(calibration.PROCEDURE, dba_k=(2,)))
    out = tmp_path / "fit"
    seen = rigged_fit(fitted, [sample_root, val_root, val_root2], out, monkeypatch,
                      lambda cfg: (cfg.matcher.rerank.dba_k == 2) == (better == "dba"))
    said = capsys.readouterr().out
    kept = better == "dba"
    assert [k for k, _ in seen] == [0, 2] and seen[0][1] == seen[1][1]  # one set of rows, calibrated twice
    assert sorted(p.name for p in (out / "calibration").iterdir()) == ["train_run0", "val_run", "val_run1"]
    assert load_config(out / "pipeline.yaml").matcher.rerank.dba_k == (2 if kept else 0)
    record = json.loads((out / "fit.json").read_text())
    assert record["dba"] == {"candidates": [2], "estimates": {"0": 0.4, "2": 0.9} if kept else {"0": 0.9, "2": 0.4},
                             "kept": 2 if kept else 0}
    assert record["holdout"]["score"] == 0.9
    line = next(x for x in said.splitlines() if x.startswith("database-side augmentation"))
    assert ("k = 2 kept" if kept else "none kept") in line and "tried with k in [2]" in line
    assert line in (out / "pipeline.yaml").read_text() and "tried with k in [2]" in (out / "fit.html").read_text()
    if kept:  # run searches with it
        assert main(["run", "--config", str(out / "pipeline.yaml"), "--data", str(val_root), "--out",
                     str(tmp_path / "run"), "data.probe_media=false"]) == 0
        assert "dba_k: 2" in (tmp_path / "run" / "config.yaml").read_text()


def test_fit_tries_no_augmentation_when_the_procedure_lists_none(fitted, sample_root, val_root, tmp_path,
                                                                  monkeypatch):
    import livematch.fit as fit_module
    monkeypatch.setattr(calibration, "PROCEDURE", replace(calibration.PROCEDURE, dba_k=()))
    called = []
    monkeypatch.setattr(fit_module, "choose_dba", lambda *a, **k: called.append(1))
    out = tmp_path / "fit"
    assert main(["fit", "--data", str(sample_root), "--val", str(val_root), "--out", str(out), "--detector",
                 str(fitted / "weights" / "detector"), "--embedder", str(fitted / "weights" / "embedder"),
                 *FAST, "fit.worn=false"]) == 0
    assert not called and json.loads((out / "fit.json").read_text())["dba"] is None
    assert load_config(out / "pipeline.yaml").matcher.rerank.dba_k == 0


# ---- calibration on built cases (no models) ----

@pytest.fixture(scope="module")
def hijacked(sample_root):
    """Ground-truth crops (scores 0.6, label product) that match their folders, plus in every clip
    one crop (score 0.3, label other, top-left corner) that is an exact copy of another folder's
    shop crop: kept, it steals that folder's vote."""
    ds = load_dataset(sample_root)
    store = simulate_crops(ds, range(0, 400, 40), dim=64, noise=0.3, video_noise=1.0, seed=0)
    video = store.video
    video.scores[:] = 0.6
    video.labels[:] = 1
    folders = sorted(set(store.shop.owner))
    rows = []
    for k, vid in enumerate(sorted(set(video.owner))):
        q = int(np.flatnonzero(store.shop.owner == folders[k % len(folders)])[0])
        rows.append((vid, "", 80, [0, 0, 12, 12], 0.3, store.shop.features[q], 2))
    owner, name, frame, box, score, feat, label = zip(*rows)
    extra = CropTable(owner, name, frame, box, score, np.stack(feat), label)
    sizes = {v.video_id: v.size for v in ds.videos.values()}
    return ds, FeatureStore(store.shop, CropTable.concat([video, extra])), sizes


START = Setting(0.0, 0.0, (), (), "confidence", "confidence", 1.0, 1.0, 4.0)


def test_calibration_picks_the_threshold_that_drops_the_distractors(hijacked):
    ds, store, sizes = hijacked
    cal = SplitScorer(store, ["product", "other"], sizes, ds, MatcherConfig())
    grid = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    scores = {t: cal.score(replace(START, frame_threshold=t)) for t in grid}
    assert scores[0.4] > scores[0.3] + 0.2 and scores[0.7] == 0.0  # the built case has one best band
    chosen, sweeps = coordinate_ascent(cal, START, {"frame_threshold": grid}, rounds=1)
    assert chosen.frame_threshold == 0.4  # the lowest of the tied best: the value nearest the start
    assert sweeps[0].scores == [scores[t] for t in grid]


def test_the_scorer_searches_with_the_configured_augmentation(hijacked):
    """With matcher.rerank.dba_k set, each shop crop's nearest video crop is searched in the
    augmented gallery of the kept crops, as ``run`` searches."""
    from matcher.rerank import database_augmentation
    ds, store, sizes = hijacked
    augmented = MatcherConfig()
    augmented.rerank.dba_k = 2
    plain = SplitScorer(store, ["product", "other"], sizes, ds, MatcherConfig()).search(START)
    shop, video, dist, rows = SplitScorer(store, ["product", "other"], sizes, ds, augmented).search(START)
    gallery = database_augmentation(video.features, 2, augmented.rerank.alpha)
    expected = np.linalg.norm(shop.features[:, None] - gallery[None], axis=2)
    assert np.array_equal(rows[:, 0], expected.argmin(axis=1))
    assert np.allclose(dist[:, 0], expected.min(axis=1), atol=1e-2)
    assert np.abs(dist[:, 0] - plain[2][:, 0]).max() > 0.05


def test_calibration_keeps_a_region_only_when_it_helps(hijacked):
    ds, store, sizes = hijacked
    cal = SplitScorer(store, ["product", "other"], sizes, ds, MatcherConfig())
    useless = (0.0, 0.0, 0.05, 0.05)  # holds only the distractors' corner: drops every garment
    helpful = (0.1, 0.1, 1.0, 1.0)  # drops the corner
    chosen, _ = coordinate_ascent(cal, START, {"region": [(), useless]}, rounds=1)
    assert chosen.region == ()
    chosen, _ = coordinate_ascent(cal, START, {"region": [(), helpful]}, rounds=1)
    assert chosen.region == helpful and cal.score(chosen) > cal.score(START)
    chosen, _ = coordinate_ascent(cal, START, {"frame_classes": [(), ("product",)]}, rounds=1)
    assert chosen.frame_classes == ("product",)


def test_calibration_keeps_a_worn_cutoff_only_when_it_drops_the_distractors(hijacked):
    ds, store, sizes = hijacked
    extra = store.video.scores == np.float32(0.3)  # the thieves
    video = store.video[np.arange(len(store.video))]
    video.worn = np.where(extra, 0.2, 0.8).astype(np.float32)
    cal = SplitScorer(FeatureStore(store.shop, video), ["product", "other"], sizes, ds, MatcherConfig())
    grid = default_grids([0.0], ["garment"], None, min_worn=[0.5, 0.9])["min_worn"]
    assert grid == [0.0, 0.5, 0.9]
    chosen, sweeps = coordinate_ascent(cal, START, {"min_worn": grid}, rounds=1)
    assert chosen.min_worn == 0.5 and sweeps[0].scores[2] == 0.0 and cal.score(chosen) > cal.score(START) + 0.2
    assert chosen.overrides()["detector"]["infer"]["frame_min_worn"] == 0.5
    video.worn = np.where(extra, 0.8, 0.2).astype(np.float32)  # the scorer gets it backwards: nothing gained
    cal = SplitScorer(FeatureStore(store.shop, video), ["product", "other"], sizes, ds, MatcherConfig())
    assert coordinate_ascent(cal, START, {"min_worn": grid}, rounds=1)[0].min_worn == 0.0
    assert "min_worn" not in default_grids([0.0], ["garment"], None)  # no scorer, no coordinate


def test_calibration_trusts_the_detectors_worn_label_where_the_worn_scorer_misses(hijacked):
    ds, store, sizes = hijacked
    thieves = store.video.scores == np.float32(0.3)  # labelled alone (2), garments worn (1) at 0.6
    video = store.video[np.arange(len(store.video))]
    clips = sorted(set(video.owner))
    missed = np.isin(video.owner, clips[::2]) & ~thieves  # the scorer misses every other clip's garments
    video.worn = np.where(thieves | missed, 0.2, 0.8).astype(np.float32)
    cal = SplitScorer(FeatureStore(store.shop, video), ["worn", "alone"], sizes, ds, MatcherConfig())
    held = replace(START, min_worn=0.5)
    grid = default_grids([0.0], ["worn", "alone"], None, min_worn=[0.5], trust_worn=[0.5, 0.7])["trust_worn"]
    assert grid == [0.0, 0.5, 0.7]
    chosen, sweeps = coordinate_ascent(cal, held, {"trust_worn": grid}, rounds=1)
    assert chosen.trust_worn == 0.5 and cal.score(chosen) > cal.score(held) + 0.2  # the garments are back
    assert sweeps[0].scores[2] == sweeps[0].scores[0]  # 0.7 is above their 0.6: nothing comes back
    assert len(cal.tables(chosen)[1]) == len(video) - thieves.sum()  # the alone-labelled thieves stay out
    assert chosen.overrides()["detector"]["infer"]["frame_trust_worn"] == 0.5
    assert "trust_worn" not in default_grids([0.0], ["product", "other"], None, min_worn=[0.5], trust_worn=[0.5])
    assert "trust_worn" not in default_grids([0.0], ["worn", "alone"], None, trust_worn=[0.5])  # no scorer


def test_a_folder_without_a_box_above_the_photo_threshold_keeps_its_best(hijacked):
    ds, store, sizes = hijacked
    shop = store.shop[np.arange(len(store.shop))]
    folders = sorted(set(shop.owner))
    shop.scores = np.where(np.isin(shop.owner, folders[::2]), 0.5, 0.95).astype(np.float32)
    cal = SplitScorer(FeatureStore(shop, store.video), ["product", "other"], sizes, ds, MatcherConfig())
    cut = replace(START, photo_threshold=0.9, frame_threshold=0.4)  # the thieves dropped
    assert set(cal.tables(cut)[0].owner) == set(folders[1::2])
    floor = replace(cut, photo_min_boxes=1)
    kept = cal.tables(floor)[0]
    assert set(kept.owner) == set(folders) and len(kept) == len(folders[::2]) + np.isin(shop.owner, folders[1::2]).sum()
    assert cal.score(floor) > cal.score(cut) and floor.overrides()["detector"]["infer"]["photo_min_boxes"] == 1


def test_a_gain_below_min_gain_keeps_the_held_value(hijacked):
    ds, store, sizes = hijacked
    cal = SplitScorer(store, ["product", "other"], sizes, ds, MatcherConfig())
    helpful = (0.1, 0.1, 1.0, 1.0)
    gain = cal.score(replace(START, region=helpful)) - cal.score(START)
    assert gain > 0.05
    held, _ = coordinate_ascent(cal, START, {"region": [(), helpful]}, rounds=1, margin=gain + 0.01)
    assert held.region == ()
    moved, _ = coordinate_ascent(cal, START, {"region": [(), helpful]}, rounds=1, margin=gain - 0.01)
    assert moved.region == helpful
    # a vote sweep that does not move: its curve names the held cut-offs, at the held score
    held, sweeps = coordinate_ascent(cal, START, {"vote": [("written", "greedy")]}, rounds=1, margin=1.0)
    vote = sweeps[-1]
    key = (held.keep_fraction, held.vote_fraction, held.max_distance, held.rule, held.assign)
    assert held == START and vote.chosen == key
    assert vote.scores[vote.values.index(key)] == pytest.approx(cal.score(START))


def test_the_vote_coordinate_chooses_the_rule_and_assignment(hijacked):
    ds, store, sizes = hijacked
    cal = SplitScorer(store, ["product", "other"], sizes, ds, MatcherConfig())
    rules = default_grids([0.1], ["product", "other"], None)["vote"]
    assert set(rules) == {(r, a) for r in ("written", "original", "set") for a in ("greedy", "global")}
    grid = {"keep_fraction": [0.28, 1.0], "vote_fraction": [0.5], "max_distance": [4.0]}
    chosen, sweeps = coordinate_ascent(cal, START, {"vote": rules}, rounds=1, vote_grid=grid)
    scored = {v: sc for v, sc in zip(sweeps[0].values, sweeps[0].scores)}
    held = (START.keep_fraction, START.vote_fraction, START.max_distance, START.rule, START.assign)
    assert held in scored  # off this grid (vote fraction 1.0), so the curve adds it at its score
    assert len(scored) == 2 * 2 * 2 + 2 + 1 and {v[3:] for v in scored} == set(rules)  # set: no kept fraction
    best = max(scored.values())
    assert cal.score(chosen) == pytest.approx(best) and scored[sweeps[0].chosen] == best
    for (keep, vote, cut, rule, assign), sc in scored.items():
        one = replace(START, keep_fraction=keep, vote_fraction=vote, max_distance=cut, rule=rule, assign=assign)
        assert cal.score(one) == pytest.approx(sc)


def test_default_grids_offer_only_what_the_models_support():
    plain = default_grids([0.1, 0.5], ["garment"], None)
    assert "frame_classes" not in plain and "region" not in plain and list(plain)[-1] == "vote"
    assert plain["vote"][0] == ("written", "greedy")
    assert default_grids([0.1], ["garment"], None, ["set/global"])["vote"] == [("set", "global")]
    with pytest.raises(ConfigError, match="vote rule 'set/hungarian'"):
        default_grids([0.1], ["garment"], None, ["set/hungarian"])
    split = default_grids([0.1, 0.5], ["product", "other"], [0.1, 0.1, 0.9, 0.9])
    assert split["frame_classes"] == [(), ("product",), ("other",)] and split["region"][1] == (0.1, 0.1, 0.9, 0.9)
    assert default_grids([0.1], ["worn", "alone"], None)["frame_classes"] == [(), ("worn",), ("alone",)]


def test_fit_trains_from_imagenet_weights_by_default(sample_root, val_root, tmp_path):
    """Without --init-from, fit's default recipe starts the embedder and the detector from the
    packaged ImageNet EfficientNet-Lite0 (ground.pretrained), never from random weights."""
    import torch
    from embedder.model import build_embedder
    from ground.pretrained import resolve_weights
    from livematch.fit import fit_config
    cfg = fit_config([sample_root], [val_root], tmp_path, {})
    assert cfg.fit.recipe == "lite0"
    assert (cfg.embedder.model.backbone, cfg.embedder.model.weights) == ("tf_efficientnet_lite0", "imagenet")
    assert (cfg.detector.model.backbone, cfg.detector.model.weights) == ("timm:tf_efficientnet_lite0", "imagenet")
    stem = resolve_weights("imagenet", "tf_efficientnet_lite0")["conv_stem.weight"]
    assert torch.equal(build_embedder(cfg.embedder.model).backbone.conv_stem.weight, stem)


def test_init_from_finds_checkpoints_in_a_folder_or_a_pipeline(tmp_path):
    from ground.errors import ConfigError
    from livematch.fit import find_init
    found = find_init("weights")  # the shipped demo models, told apart by their configs
    assert found == {"detector": Path("weights/detector_lite0"), "embedder": Path("weights/embedder_lite0")}
    for name, kind in (("a", "worn"), ("b", "embedder"), ("c", "detector")):  # meta.json's kind decides
        (tmp_path / "ckpts" / name).mkdir(parents=True)
        (tmp_path / "ckpts" / name / "config.yaml").write_text("model: {}\n")
        (tmp_path / "ckpts" / name / "meta.json").write_text(json.dumps({"kind": kind}))
    assert find_init(tmp_path / "ckpts") == {"embedder": tmp_path / "ckpts" / "b", "detector": tmp_path / "ckpts" / "c"}
    (tmp_path / "pipeline.yaml").write_text("weights:\n  detector: d\n  embedders: [e]\n")
    assert find_init(tmp_path) == {"detector": tmp_path / "d", "embedder": tmp_path / "e"}  # beside the config
    with pytest.raises(ConfigError, match="no checkpoint"):
        find_init(tmp_path / "nothing" if (tmp_path / "nothing").mkdir() is None else None)


def test_thresholds_move_together_from_a_start_that_detects_nothing(hijacked):
    """At the reference 0.9 / 0.95 nothing of the built frames survives: one threshold at a time
    would see a flat zero curve; the joint sweep finds the band."""
    ds, store, sizes = hijacked
    cal = SplitScorer(store, ["product", "other"], sizes, ds, MatcherConfig())
    start = replace(START, photo_threshold=0.95, frame_threshold=0.95)
    assert cal.score(start) == 0.0
    grid = default_grids([0.0, 0.3, 0.4, 0.95], ["product", "other"], None)
    chosen, sweeps = coordinate_ascent(cal, start, {"thresholds": grid["thresholds"]}, rounds=1)
    assert chosen.frame_threshold == 0.4 and chosen.photo_threshold < 0.9 and cal.score(chosen) > 0.5
    assert len(sweeps[0].values) == 16


def test_splits_average_their_scores_and_vote_tables(hijacked):
    from livematch.calibration import Splits
    ds, store, sizes = hijacked
    clean = FeatureStore(store.shop, store.video[store.video.scores > 0.5])
    a = SplitScorer(store, ["product", "other"], sizes, ds, MatcherConfig())
    b = SplitScorer(clean, ["product", "other"], sizes, ds, MatcherConfig())
    both = Splits([a, b])
    s = replace(START, keep_fraction=0.28, vote_fraction=0.5)
    assert a.score(s) < b.score(s)
    assert both.score(s) == pytest.approx((a.score(s) + b.score(s)) / 2)
    grid = {"keep_fraction": [0.28, 1.0], "vote_fraction": [0.5], "max_distance": [0.5, 4.0]}
    table = both.vote_table(s, grid)
    assert len(table) == 4
    for row in table:
        one = replace(s, keep_fraction=row["keep_fraction"], max_distance=row["max_distance"])
        assert row["score"] == pytest.approx((a.score(one) + b.score(one)) / 2)


def test_the_held_out_estimate_scores_each_split_at_the_settings_of_the_others(hijacked):
    """Split a has distractors that only a threshold of 0.4 drops; split b has none, so alone it
    keeps the start (0.0). In sample both choose 0.4; held out, a is scored at b's choice."""
    from livematch.calibration import PROCEDURE, Splits, holdout_estimate
    ds, store, sizes = hijacked
    clean = FeatureStore(store.shop, store.video[store.video.scores > 0.5])
    a = SplitScorer(store, ["product", "other"], sizes, ds, MatcherConfig())
    b = SplitScorer(clean, ["product", "other"], sizes, ds, MatcherConfig())
    grids = {"frame_threshold": [0.0, 0.4, 0.7]}
    one = replace(PROCEDURE, rounds=1)
    joint, _ = coordinate_ascent(Splits([a, b]), START, grids, rounds=1)
    assert joint.frame_threshold == 0.4
    held = holdout_estimate([a, b], START, grids, procedure=one)
    assert held.by == "roots" and held.train_parts == 0
    assert held.settings[0]["frame_threshold"] == 0.0 and held.settings[1]["frame_threshold"] == 0.4
    assert held.per_split == [a.score(START), b.score(joint)]
    assert held.score == pytest.approx((a.score(START) + b.score(joint)) / 2)
    assert held.score < Splits([a, b]).score(joint) - 0.1  # the in-sample score is optimistic here
    too_few = replace(one, min_clips=len(a.truth))
    assert holdout_estimate([a], START, grids, procedure=too_few) is None  # one split, too small to cut
    with_train = holdout_estimate([a], START, grids, always=[b], procedure=one)  # b: TRAIN's part, never held out
    assert with_train.per_split == [a.score(START)] and with_train.train_parts == 1 and with_train.by == "roots"
    with_train = holdout_estimate([b], START, grids, always=[a], procedure=one)
    assert with_train.settings[0]["frame_threshold"] == 0.4 and with_train.per_split == [b.score(joint)]
    with_train = holdout_estimate([b, b], START, grids, always=[a], procedure=one)  # a in each calibration
    assert [s["frame_threshold"] for s in with_train.settings] == [0.4, 0.4]  # b alone would keep 0.0


def test_folds_cut_one_split_into_catalogues_with_their_own_clips(hijacked):
    from livematch.calibration import folds
    ds, store, sizes = hijacked
    cal = SplitScorer(store, ["product", "other"], sizes, ds, MatcherConfig())
    parts = folds(cal, 2, seed=0)
    items, clips = [set(p.gt.items) for p in parts], [set(p.gt.videos) for p in parts]
    assert items[0] | items[1] == set(ds.items) and not items[0] & items[1]
    assert clips[0] | clips[1] == set(ds.videos) and not clips[0] & clips[1]
    for p, mine, own in zip(parts, items, clips):
        assert p.truth and set(p.truth.values()) <= mine  # a selling clip goes with its item
        assert set(p.store.shop.owner) <= mine and set(p.store.video.owner) <= own
    assert sum(len(p.truth) for p in parts) == len(cal.truth)
    assert sum(len(p.store.video) for p in parts) == len(store.video)
    assert [set(p.gt.videos) for p in folds(cal, 2, seed=0)] == clips  # the same cut on every run
    assert len({frozenset(folds(cal, 2, seed=s)[0].gt.videos) for s in range(8)}) > 1  # other seeds, other cuts


def test_one_root_is_held_out_part_by_part_over_several_cuts(hijacked):
    """The same procedure with one VAL root and no TRAIN: the splits are its parts, cut
    ``Procedure.cuts`` ways; each part is scored at the settings calibrated on the other."""
    from livematch.calibration import PROCEDURE, Splits, folds, holdout_estimate
    ds, store, sizes = hijacked
    cal = SplitScorer(store, ["product", "other"], sizes, ds, MatcherConfig())
    grids = {"frame_threshold": [0.0, 0.4, 0.7]}
    two = replace(PROCEDURE, rounds=1, cuts=2, min_clips=1)
    held = holdout_estimate([cal], START, grids, parts=2, procedure=two)
    assert held.by == "parts" and (held.parts, held.cuts) == (2, 2) and len(held.per_split) == len(held.settings) == 4
    assert "VAL cut 2 times into 2 parts" in held.method()
    for cut in range(2):
        a, b = folds(cal, 2, seed=cut)
        on_b, _ = coordinate_ascent(Splits([b]), START, grids, rounds=1)
        on_a, _ = coordinate_ascent(Splits([a]), START, grids, rounds=1)
        assert held.settings[2 * cut]["frame_threshold"] == on_b.frame_threshold
        assert held.per_split[2 * cut:2 * cut + 2] == pytest.approx([a.score(on_b), b.score(on_a)])
    assert held.score == pytest.approx(np.mean(held.per_split))
    assert holdout_estimate([cal], START, grids, parts=2, procedure=replace(two, min_clips=len(cal.truth))) is None
    assert holdout_estimate([cal], START, grids, parts=1, procedure=two) is None


@pytest.mark.timeout(900)
def test_fit_under_torchrun_trains_on_every_rank_and_calibrates_on_rank_0(sample_root, val_root, tmp_path):
    """Two gloo processes: both train (one export, by rank 0), both detect VAL (sharded), rank 0
    calibrates and writes pipeline.yaml. Without the export barrier rank 1 exported a
    checkpoint rank 0 was still writing and the run failed. One VAL root: TRAIN's rows are a
    second sharded run in the same process group (each run used to tear the group down)."""
    import os
    import subprocess
    import sys
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    if not os.path.exists(torchrun):
        pytest.skip("torchrun not installed beside this python")
    out = tmp_path / "fit"
    cmd = [torchrun, "--standalone", "--nproc-per-node", "2", "-m", "livematch.cli", "fit", "--data", str(sample_root),
           "--val", str(val_root), "--out", str(out), *DET, *EMB, *FAST, "run.workers=0"]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=880)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "pipeline.yaml").is_file() and (out / "weights" / "detector" / "model.safetensors").is_file()
    assert json.loads((out / "calibration" / "val_run" / "summary.json").read_text())["ranks"] == 2
    assert json.loads((out / "calibration" / "train_run0" / "summary.json").read_text())["ranks"] == 2
    assert done.stdout.count("at the starting settings") == 1  # rank 0 alone reports
