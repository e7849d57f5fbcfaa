"""``livematch fit``: training stages, calibration on validation data, pipeline.yaml for ``run``."""

import html
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ground.dataset import load_dataset
from ground.errors import ConfigError
from livematch.calibration import Procedure, Setting, SplitScorer, coordinate_ascent, default_grids
from livematch.cli import main
from livematch.config import load_config
from livematch.fit.inputs import resolve_split
from livematch.sampledata.features import simulate_crops
from livematch.sampledata.generate import SampleConfig, generate_dataset
from matcher.config import MatcherConfig
from matcher.crops import CropTable
from matcher.store import FeatureStore
from tests.conftest import all_worn
from tests.detector.test_train import OVERRIDES as DET
from tests.embedder.test_train import OVERRIDES as EMB

FAST = [
    "fit.recipe=tiny",
    "detector.train.epochs=1",
    "embedder.optim.epochs=1",
    "detector.infer.photo_short_side=128",
    "detector.infer.frame_short_side=128",
    "media.infer_frames.step=100",
    "fit.thresholds=[0.0,0.05,0.5]",
    "detector.train.max_val_images=20",
    "detector.worn.epochs=1",
    "detector.worn.copies=1",
]


# One coordinate-ascent round keeps these fits short; the tiny roots estimate from parts of one
# selling clip.
ONE = Procedure(rounds=1, min_clips=1, bootstrap=200)


def fit_with(train, vals, out, *overrides, procedure=ONE, **models):
    """``livematch fit`` through the API, with a ``procedure`` (users get the default)."""
    from livematch.fit import fit

    return fit(
        [train], vals, out, overrides=list(overrides), procedure=procedure, progress=False, **models
    )


def given(fitted) -> dict:
    return {
        "detector": fitted / "weights" / "detector",
        "embedder": fitted / "weights" / "embedder",
    }


@pytest.fixture(scope="module")
def val_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("val") / "data"
    generate_dataset(
        root,
        SampleConfig(items=6, videos=4, width=320, height=180, seed=8, workers=2),
        progress=False,
    )
    return root


@pytest.fixture(scope="module")
def val_root2(tmp_path_factory):
    root = tmp_path_factory.mktemp("val2") / "data"
    generate_dataset(
        root,
        SampleConfig(items=4, videos=3, width=320, height=180, seed=9, workers=2),
        progress=False,
    )
    return root


@pytest.fixture(scope="module")
def fitted(sample_root, val_root, val_root2, tmp_path_factory):
    out = tmp_path_factory.mktemp("fit") / "fit"
    assert fit_with(sample_root, [val_root, val_root2], out, *DET, *EMB, *FAST) is not None
    return out


def test_fit_writes_a_pipeline_that_run_accepts_from_anywhere(
    fitted, val_root, tmp_path, monkeypatch, capsys
):
    assert {"pipeline.yaml", "fit.html", "fit.json"} <= {p.name for p in fitted.iterdir()}
    text = (fitted / "pipeline.yaml").read_text()
    assert "weights/detector" in text and "# VAL score" in text
    monkeypatch.chdir(tmp_path)  # weights resolve against the pipeline file, not the working folder
    cfg = load_config(fitted / "pipeline.yaml")
    assert cfg.weights.detector == str(fitted / "weights" / "detector")
    assert cfg.weights.worn == str(
        fitted / "weights" / "worn"
    )  # TRAIN annotates worn and alone garments
    chosen = json.loads((fitted / "fit.json").read_text())["setting"]
    assert cfg.detector.infer.frame_threshold == chosen["frame_threshold"]
    assert cfg.matcher.voting.item_box == chosen["item_box"]
    record = json.loads((fitted / "fit.json").read_text())
    assert cfg.detector.infer.frame_min_worn == chosen["min_worn"] and "worn" in record["seconds"]
    assert any(s["name"] == "min_worn" for s in record["sweeps"])
    assert len(record["val"]) == 2  # each VAL root matched on its own, scores averaged
    assert record["val_score"] == pytest.approx(np.mean([v["score"] for v in record["val"]]))
    capsys.readouterr()
    assert (
        main(
            [
                "run",
                "--config",
                str(fitted / "pipeline.yaml"),
                "--data",
                str(val_root),
                "--out",
                "run",
                "--gt",
                str(val_root),
                "data.probe_media=false",
            ]
        )
        == 0
    )
    assert (tmp_path / "run" / "result.json").exists()
    page = (fitted / "fit.html").read_text()
    assert page.count("<svg") >= 5 and "Frame region" in page  # one curve per swept setting
    held = record["holdout"]  # two VAL roots: each scored at the settings calibrated on the other
    assert (
        len(held["per_split"]) == 2
        and held["by"] == "roots"
        and held["low"] <= held["score"] <= held["high"]
    )
    assert held["clips"] == sum(
        len(load_dataset(r, probe_media=False).videos) for r in record["val_roots"]
    )
    # two VAL roots are at most Procedure.train_max_val_roots: TRAIN's parts calibrate too, never
    # held out
    assert record["train_parts"] >= 1 and held["train_parts"] == record["train_parts"]
    assert (fitted / "calibration" / "train_run0" / "features").is_dir()
    said = (
        f"Held-out estimate {held['score']:.4f} ({held['low']:.4f}-{held['high']:.4f}, "
        f"{held['clips']} clips)"
    )
    assert said in text and said in page
    # fit.tta_scales is empty by default: the crops are embedded at the training scale only, once
    assert load_config().fit.tta_scales == [] and cfg.embedder.extract.scales_tta == []
    assert (
        load_config(fitted / "calibration" / "val_run" / "config.yaml").embedder.extract.scales_tta
        == []
    )
    assert not (fitted / "calibration" / "tta").exists()
    # fit tries database-side augmentation with k = 2 by default, on the same rows, kept by the
    # paired rule, then the words (the sample data has titles and transcripts)
    assert Procedure().dba_k == (2,) and [c["key"] for c in record["candidates"]] == [
        "matcher.rerank.dba_k",
        "matcher.voting.text_weight",
    ]
    words = record["candidates"][1]
    weights = [0.0, *Procedure().text_weights] if words["kept"] else [0.0]
    assert cfg.matcher.voting.text_weight in weights  # kept: the weight its calibration chose
    assert (fitted / "calibration" / "val_run" / "features" / "text.json").is_file()
    dba = record["candidates"][0]
    assert cfg.matcher.rerank.dba_k == (2 if dba["kept"] else 0) and dba["kept"] == (dba["low"] > 0)
    assert (
        dba["against"]["clips"] == held["clips"] and dba["low"] <= dba["difference"] <= dba["high"]
    )
    from livematch.candidates import candidate_line

    assert candidate_line(dba) in text and html.escape(candidate_line(dba)) in page


def test_a_fit_pipeline_keeps_its_own_test_time_sizes_under_the_checkpoint_settings(fitted):
    """The benches re-embed a fit's roots with use_checkpoints: the sizes are the pipeline's own
    (what ``run`` embeds with), not fit.tta_scales' default; the models are the checkpoints'."""
    from livematch.config import use_checkpoints

    for sizes in ([], [150]):
        cfg = load_config(
            fitted / "pipeline.yaml",
            [f"embedder.extract.scales_tta={sizes}", "fit.tta_scales=[2.0]"],
        )
        cfg.embedder.model.backbone = "resnet50"
        use_checkpoints(cfg, Path(cfg.weights.detector), Path(cfg.weights.embedders[0]))
        assert (
            cfg.embedder.extract.scales_tta == sizes and cfg.embedder.model.backbone != "resnet50"
        )


def test_rerunning_fit_skips_finished_stages(fitted, sample_root, val_root, val_root2, capsys):
    weights = fitted / "weights" / "embedder" / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    assert (
        main(
            [
                "fit",
                "--data",
                str(sample_root),
                "--val",
                str(val_root),
                "--val",
                str(val_root2),
                "--out",
                str(fitted),
                *DET,
                *EMB,
                *FAST,
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "skipped (already trained): embedder, detector" in out
    # users' procedure: the two tiny VAL roots have too few selling clips to estimate from
    assert "No held-out estimate (2 VAL roots with" in out and "add a --val root" in out
    assert "embedder" not in out.split("seconds per stage:")[1].split("\n")[0]
    assert weights.stat().st_mtime_ns == stamp


def test_fit_learns_the_annotated_grid_of_the_data(fitted, tmp_path, capsys):
    """Data annotated every 30 frames: the pipeline moves evidence frames onto that grid (the
    format's 40 would move them onto frames nobody annotated)."""
    root = tmp_path / "grid30"
    generate_dataset(
        root,
        SampleConfig(
            items=4, videos=3, width=320, height=180, seed=11, workers=2, annotation_step=30
        ),
        progress=False,
    )
    out = tmp_path / "fit"
    assert (
        main(
            [
                "fit",
                "--data",
                str(root),
                "--val",
                str(root),
                "--out",
                str(out),
                "--detector",
                str(fitted / "weights" / "detector"),
                "--embedder",
                str(fitted / "weights" / "embedder"),
                *FAST,
                "fit.worn=false",
                "fit.train_calibration=never",
            ]
        )
        == 0
    )
    assert load_config(out / "pipeline.yaml").matcher.voting.annotation_step == 30
    assert json.loads((out / "fit.json").read_text())["annotation_step"] == 30
    assert "every 30 frames" in (out / "pipeline.yaml").read_text()
    said = capsys.readouterr().out  # 3 clips: too few to estimate from, no number to trust
    assert "No held-out estimate (1 VAL root with" in said and "too few to estimate from" in said
    record = json.loads((out / "fit.json").read_text())
    assert record["holdout"] is None and "add a --val root" in record["no_estimate"]
    assert "No held-out estimate (1 VAL root" in (out / "pipeline.yaml").read_text()
    # a root of 3 clips cut into parts of one selling clip, two ways (on the cached rows)
    report = fit_with(
        root,
        [root],
        out,
        *FAST,
        "fit.worn=false",
        "fit.train_calibration=never",
        procedure=replace(ONE, cuts=2),
        **given(fitted),
    )
    held = json.loads((out / "fit.json").read_text())["holdout"]
    assert held["by"] == "parts" and len(held["per_split"]) == 4 and len(held["settings"]) == 4
    assert any("VAL cut 2 times into 2 parts" in line for line in report.lines())
    assert f"Held-out estimate {held['score']:.4f} (" in (out / "pipeline.yaml").read_text()
    assert "cut 1 " in (out / "fit.html").read_text()


def test_with_one_val_root_train_clips_calibrate_too(fitted, sample_root, val_root, tmp_path):
    """fit.train_calibration=auto and one --val root: a draw of TRAIN's clips
    (Procedure.train_max_clips) is detected like VAL, cut into parts that calibrate beside VAL; the
    estimate holds out parts of VAL only, each scored at the settings calibrated on the other parts
    and TRAIN's."""
    out = tmp_path / "fit"
    models = [
        "--detector",
        str(fitted / "weights" / "detector"),
        "--embedder",
        str(fitted / "weights" / "embedder"),
    ]
    report = fit_with(
        sample_root,
        [val_root],
        out,
        *FAST,
        "fit.worn=false",
        procedure=replace(ONE, train_max_clips=5),
        **given(fitted),
    )
    record = json.loads((out / "fit.json").read_text())
    drawn = {p.stem for p in (out / "calibration" / "train_view0" / "video").iterdir()}
    assert 0 < len(drawn) <= 5 < len(load_dataset(sample_root, probe_media=False).videos)
    held, parts = record["holdout"], record["train_parts"]
    assert parts >= 1 and held["by"] == "parts" and held["train_parts"] == parts
    assert held["clips"] == len(
        load_dataset(val_root, probe_media=False).videos
    )  # VAL's clips alone held out
    printed = "\n".join(report.lines())
    assert f"TRAIN's clips calibrated too ({parts} parts" in printed
    assert f"calibrated on the other parts and TRAIN's clips ({parts} parts)" in printed
    text = (out / "pipeline.yaml").read_text()
    assert f"{parts} parts of TRAIN's clips" in text and "# Calibration score" in text
    assert "TRAIN's clips calibrated too" in (out / "fit.html").read_text()
    assert (
        main(
            [
                "fit",
                "--data",
                str(sample_root),
                "--val",
                str(val_root),
                "--out",
                str(tmp_path / "never"),
                *models,
                *FAST,
                "fit.worn=false",
                "fit.train_calibration=never",
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "never" / "fit.json").read_text())["train_parts"] == 0
    assert not (tmp_path / "never" / "calibration" / "train_run0").exists()


def test_a_draw_of_a_large_root_keeps_each_selling_clip_with_its_item(sample_root, tmp_path):
    from ground.dataset import subset_root
    from ground.metric import sold_items
    from livematch.calibration import pick_clips

    ds = load_dataset(sample_root, probe_media=False)
    assert pick_clips(ds, len(ds.videos)) == (
        sorted(ds.items),
        sorted(ds.videos),
    )  # small enough: all of it
    items, clips = pick_clips(ds, 3)
    assert 0 < len(clips) <= 3 and pick_clips(ds, 3) == (items, clips)  # the same draw on every run
    truth = sold_items(ds)
    assert all(truth[c] in items for c in clips if c in truth)
    assert all(
        c in clips for c, i in truth.items() if i in items
    )  # an item comes with every clip that sells it
    view = load_dataset(
        subset_root(sample_root, items, clips, tmp_path / "view"), probe_media=False
    )
    assert set(view.items) == set(items) and set(view.videos) == set(clips)
    assert all(
        view.videos[c].frames == ds.videos[c].frames for c in clips
    )  # annotations come along
    assert sold_items(view) == {c: i for c, i in truth.items() if c in clips}


def test_the_annotated_grid_sets_the_evidence_grid_and_the_training_frames(caplog):
    from livematch.config import FrameSchedule
    from livematch.fit.inputs import use_annotation_grid

    cfg = load_config(None)
    use_annotation_grid(cfg, 40)  # the format's grid: nothing moves
    assert cfg.matcher.voting.annotation_step == 40 and cfg.media.train_frames == FrameSchedule(
        80, 360, 40
    )
    use_annotation_grid(cfg, 30)
    assert cfg.matcher.voting.annotation_step == 30 and cfg.media.train_frames == FrameSchedule(
        90, 360, 30
    )
    cfg = load_config(None)
    use_annotation_grid(cfg, 20)  # every other annotated frame is still on the training schedule
    assert cfg.matcher.voting.annotation_step == 20 and cfg.media.train_frames == FrameSchedule(
        80, 360, 40
    )
    cfg = load_config(None)
    use_annotation_grid(cfg, None)
    assert cfg.matcher.voting.annotation_step == 40
    caplog.clear()
    use_annotation_grid(cfg, 33)  # 80, 100, ..., 380 never meets a multiple of 33
    assert any(
        "media.infer_frames" in r.getMessage() and "lies on the annotated grid" in r.getMessage()
        for r in caplog.records
    )


def test_zero_finetune_epochs_keep_the_init_models_as_they_are(
    fitted, sample_root, val_root, tmp_path
):
    from safetensors.torch import load_file

    out = tmp_path / "kept"
    assert (
        main(
            [
                "fit",
                "--data",
                str(sample_root),
                "--val",
                str(val_root),
                "--out",
                str(out),
                "--init-from",
                str(fitted / "weights"),
                *DET,
                *EMB,
                *FAST,
                "fit.finetune.embedder_epochs=0",
                "fit.finetune.detector_epochs=0",
            ]
        )
        == 0
    )
    for stage in ("embedder", "detector"):
        kept, init = (
            load_file(str(d / "weights" / stage / "model.safetensors")) for d in (out, fitted)
        )
        assert kept.keys() == init.keys() and all(kept[k].equal(init[k]) for k in kept)
        assert not (out / stage).exists()  # no training run
    assert (out / "pipeline.yaml").is_file()


def test_fit_calibrates_an_ensemble_of_given_embedders_and_writes_them_all(
    fitted, sample_root, val_root, tmp_path
):
    """--embedder twice: VAL is embedded by both (features concatenated, as livematch run does) and
    pipeline.yaml names both, in order."""
    from matcher.store import load_store

    out, weights = tmp_path / "ensemble", fitted / "weights"
    shutil.copytree(weights / "worn", out / "weights" / "worn")  # trained already: not again
    assert (
        main(
            [
                "fit",
                "--data",
                str(sample_root),
                "--val",
                str(val_root),
                "--out",
                str(out),
                "--detector",
                str(weights / "detector"),
                "--embedder",
                str(weights / "embedder"),
                "--embedder",
                str(fitted / "embedder" / "last"),
                *FAST,
            ]
        )
        == 0
    )
    cfg = load_config(out / "pipeline.yaml")
    assert [Path(e).resolve() for e in cfg.weights.embedders] == [
        (weights / "embedder").resolve(),
        (fitted / "embedder" / "last").resolve(),
    ]
    dim = load_store(fitted / "calibration" / "val_run" / "features").shop.dim
    assert load_store(out / "calibration" / "val_run" / "features").shop.dim == 2 * dim


@pytest.mark.parametrize("broken", ["val", "train"])
def test_bad_inputs_fail_before_training_naming_the_root(
    broken, sample_root, val_root, tmp_path, capsys
):
    bare = tmp_path / "bare"
    shutil.copytree(
        val_root if broken == "val" else sample_root,
        bare,
        ignore=shutil.ignore_patterns(
            "video_annotation", *(["image_annotation"] if broken == "train" else [])
        ),
    )
    data, val = (sample_root, bare) if broken == "val" else (bare, val_root)
    out = tmp_path / "out"
    assert (
        main(["fit", "--data", str(data), "--val", str(val), "--out", str(out), *DET, *EMB, *FAST])
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1 and str(bare) in err[0] and ("VAL" if broken == "val" else "TRAIN") in err[0]
    )
    assert not (out / "embedder").exists() and not (out / "weights").exists()


def test_a_split_train_cannot_learn_fails_before_training(sample_root, val_root, tmp_path, capsys):
    worn = all_worn(sample_root, tmp_path / "worn")
    out = tmp_path / "out"
    args = [
        "fit",
        "--data",
        str(worn),
        "--val",
        str(val_root),
        "--out",
        str(out),
        *DET,
        *EMB,
        *FAST,
    ]
    assert main(args + ["fit.split_by=display"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1
        and str(worn) in err[0]
        and "fit.split_by=display" in err[0]
        and "'alone': 0" in err[0]
    )
    assert not (out / "embedder").exists() and not (out / "weights").exists()
    # auto takes the split TRAIN can learn: worn / alone where both are annotated, else product /
    # other
    train, worn_only = (
        load_dataset(sample_root, probe_media=False),
        load_dataset(worn, probe_media=False),
    )
    assert (
        resolve_split("auto", train) == "display" and resolve_split("auto", worn_only) == "instance"
    )
    assert resolve_split("instance", train) == "instance"


def test_a_bad_tta_multiple_fails_before_training(sample_root, val_root, tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        main(
            [
                "fit",
                "--data",
                str(sample_root),
                "--val",
                str(val_root),
                "--out",
                str(out),
                *DET,
                *EMB,
                *FAST,
                "fit.tta_scales=[1.333,0]",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fit.tta_scales" in err[0] and "[1.333, 0.0]" in err[0]
    assert not (out / "embedder").exists() and not (out / "weights").exists()


def test_fit_tries_the_test_time_scales_on_rows_embedded_again_and_keeps_them_by_the_rule(
    fitted, sample_root, val_root, val_root2, tmp_path
):
    """fit.tta_scales: VAL and TRAIN's parts embedded again with the extra size (under
    calibration/tta), calibrated, and kept only by the paired rule; the record says which."""
    out = tmp_path / "fit"
    report = fit_with(
        sample_root,
        [val_root, val_root2],
        out,
        *FAST,
        "fit.worn=false",
        "fit.tta_scales=[1.5]",
        **given(fitted),
    )
    cfg = load_config(out / "pipeline.yaml")
    tta = next(
        c
        for c in json.loads((out / "fit.json").read_text())["candidates"]
        if c["key"] == "embedder.extract.scales_tta"
    )
    assert tta["value"] == [round(1.5 * cfg.embedder.extract.scale)] and tta["kept"] == (
        tta["low"] > 0
    )
    assert cfg.embedder.extract.scales_tta == (tta["value"] if tta["kept"] else [])
    assert (
        load_config(
            out / "calibration" / "tta" / "val_run" / "config.yaml"
        ).embedder.extract.scales_tta
        != []
    )
    assert (
        load_config(out / "calibration" / "val_run" / "config.yaml").embedder.extract.scales_tta
        == []
    )
    assert any("(embedder.extract.scales_tta=" in line for line in report.lines())


def test_fit_tries_no_candidate_when_the_procedure_lists_none(
    fitted, sample_root, val_root, tmp_path
):
    out = tmp_path / "fit"
    report = fit_with(
        sample_root,
        [val_root],
        out,
        *FAST,
        "fit.worn=false",
        procedure=replace(ONE, dba_k=(), text_weights=()),
        **given(fitted),
    )
    assert (
        report.candidates == [] and json.loads((out / "fit.json").read_text())["candidates"] == []
    )
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
    assert (
        scores[0.4] > scores[0.3] + 0.2 and scores[0.7] == 0.0
    )  # the built case has one best band
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
    shop, video, dist, rows = SplitScorer(store, ["product", "other"], sizes, ds, augmented).search(
        START
    )
    gallery = database_augmentation(video.features, 2, augmented.rerank.alpha)
    expected = np.linalg.norm(shop.features[:, None] - gallery[None], axis=2)
    assert np.array_equal(rows[:, 0], expected.argmin(axis=1))
    assert np.allclose(dist[:, 0], expected.min(axis=1), atol=1e-2)
    assert np.abs(dist[:, 0] - plain[2][:, 0]).max() > 0.05


def test_calibration_weighs_the_words_where_the_pictures_are_hijacked(hijacked):
    """Each clip's transcript says its sold item's title: the text weight takes back the votes
    the thieves stole, and the calibration finds it; without text the weight changes nothing."""
    from livematch.calibration import fit_grids

    ds, store, sizes = hijacked
    words = FeatureStore(
        store.shop,
        store.video,
        titles={
            i: f"款{k}号 {chr(0x4E00 + 7 * k)}{chr(0x4E01 + 7 * k)}" for k, i in enumerate(ds.items)
        },
    )
    words.transcripts = {
        v.video_id: words.titles.get(v.sold_item, "欢迎") for v in ds.videos.values()
    }
    cal = SplitScorer(words, ["product", "other"], sizes, ds, MatcherConfig())
    blind = SplitScorer(store, ["product", "other"], sizes, ds, MatcherConfig())
    grid = [0.0, 0.1, 1.0]
    chosen, sweeps = coordinate_ascent(cal, START, {"text_weight": grid}, rounds=1)
    assert chosen.text_weight > 0 and cal.score(chosen) > cal.score(START) + 0.2
    assert chosen.overrides()["matcher"]["voting"]["text_weight"] == chosen.text_weight
    assert [blind.score(replace(START, text_weight=w)) for w in grid] == [blind.score(START)] * 3
    items, clips = sorted(ds.items)[:3], sorted(ds.videos)[:2]
    part = cal.part(items, clips)  # a held-out part votes with its own folders' and clips' words
    assert part.store.titles == {i: words.titles[i] for i in items}
    assert set(part.store.transcripts) == set(clips) and part.text is not None
    cfg = load_config(None, ["matcher.voting.text_weight=0.2"])
    grids = fit_grids(cfg, ["garment"], None, text_weights=(0.1, 0.3))
    assert grids["text_weight"] == [0.0, 0.1, 0.3] and list(grids)[-2:] == ["text_weight", "vote"]
    assert "text_weight" not in fit_grids(load_config(None), ["garment"], None, text_weights=(0.1,))


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
    cal = SplitScorer(
        FeatureStore(store.shop, video), ["product", "other"], sizes, ds, MatcherConfig()
    )
    grid = default_grids([0.0], ["garment"], None, min_worn=[0.5, 0.9])["min_worn"]
    assert grid == [0.0, 0.5, 0.9]
    chosen, sweeps = coordinate_ascent(cal, START, {"min_worn": grid}, rounds=1)
    assert (
        chosen.min_worn == 0.5
        and sweeps[0].scores[2] == 0.0
        and cal.score(chosen) > cal.score(START) + 0.2
    )
    assert chosen.overrides()["detector"]["infer"]["frame_min_worn"] == 0.5
    video.worn = np.where(extra, 0.8, 0.2).astype(
        np.float32
    )  # the scorer gets it backwards: nothing gained
    cal = SplitScorer(
        FeatureStore(store.shop, video), ["product", "other"], sizes, ds, MatcherConfig()
    )
    assert coordinate_ascent(cal, START, {"min_worn": grid}, rounds=1)[0].min_worn == 0.0
    assert "min_worn" not in default_grids([0.0], ["garment"], None)  # no scorer, no coordinate


def test_calibration_trusts_the_detectors_worn_label_where_the_worn_scorer_misses(hijacked):
    ds, store, sizes = hijacked
    thieves = store.video.scores == np.float32(0.3)  # labelled alone (2), garments worn (1) at 0.6
    video = store.video[np.arange(len(store.video))]
    clips = sorted(set(video.owner))
    missed = (
        np.isin(video.owner, clips[::2]) & ~thieves
    )  # the scorer misses every other clip's garments
    video.worn = np.where(thieves | missed, 0.2, 0.8).astype(np.float32)
    cal = SplitScorer(
        FeatureStore(store.shop, video), ["worn", "alone"], sizes, ds, MatcherConfig()
    )
    held = replace(START, min_worn=0.5)
    grid = default_grids([0.0], ["worn", "alone"], None, min_worn=[0.5], trust_worn=[0.5, 0.7])[
        "trust_worn"
    ]
    assert grid == [0.0, 0.5, 0.7]
    chosen, sweeps = coordinate_ascent(cal, held, {"trust_worn": grid}, rounds=1)
    assert (
        chosen.trust_worn == 0.5 and cal.score(chosen) > cal.score(held) + 0.2
    )  # the garments are back
    assert sweeps[0].scores[2] == sweeps[0].scores[0]  # 0.7 is above their 0.6: nothing comes back
    assert (
        len(cal.tables(chosen)[1]) == len(video) - thieves.sum()
    )  # the alone-labelled thieves stay out
    assert chosen.overrides()["detector"]["infer"]["frame_trust_worn"] == 0.5
    assert "trust_worn" not in default_grids(
        [0.0], ["product", "other"], None, min_worn=[0.5], trust_worn=[0.5]
    )
    assert "trust_worn" not in default_grids(
        [0.0], ["worn", "alone"], None, trust_worn=[0.5]
    )  # no scorer


def test_a_folder_without_a_box_above_the_photo_threshold_keeps_its_best(hijacked):
    ds, store, sizes = hijacked
    shop = store.shop[np.arange(len(store.shop))]
    folders = sorted(set(shop.owner))
    shop.scores = np.where(np.isin(shop.owner, folders[::2]), 0.5, 0.95).astype(np.float32)
    cal = SplitScorer(
        FeatureStore(shop, store.video), ["product", "other"], sizes, ds, MatcherConfig()
    )
    cut = replace(START, photo_threshold=0.9, frame_threshold=0.4)  # the thieves dropped
    assert set(cal.tables(cut)[0].owner) == set(folders[1::2])
    floor = replace(cut, photo_min_boxes=1)
    kept = cal.tables(floor)[0]
    assert (
        set(kept.owner) == set(folders)
        and len(kept) == len(folders[::2]) + np.isin(shop.owner, folders[1::2]).sum()
    )
    assert (
        cal.score(floor) > cal.score(cut)
        and floor.overrides()["detector"]["infer"]["photo_min_boxes"] == 1
    )


def test_a_gain_below_min_gain_keeps_the_held_value(hijacked):
    ds, store, sizes = hijacked
    cal = SplitScorer(store, ["product", "other"], sizes, ds, MatcherConfig())
    helpful = (0.1, 0.1, 1.0, 1.0)
    gain = cal.score(replace(START, region=helpful)) - cal.score(START)
    assert gain > 0.05
    held, _ = coordinate_ascent(cal, START, {"region": [(), helpful]}, rounds=1, margin=gain + 0.01)
    assert held.region == ()
    moved, _ = coordinate_ascent(
        cal, START, {"region": [(), helpful]}, rounds=1, margin=gain - 0.01
    )
    assert moved.region == helpful
    # a vote sweep that does not move: its curve names the held cut-offs, at the held score
    held, sweeps = coordinate_ascent(
        cal, START, {"vote": [("written", "greedy")]}, rounds=1, margin=1.0
    )
    vote = sweeps[-1]
    key = (held.keep_fraction, held.vote_fraction, held.max_distance, held.rule, held.assign)
    assert held == START and vote.chosen == key
    assert vote.scores[vote.values.index(key)] == pytest.approx(cal.score(START))


def test_the_vote_coordinate_chooses_the_rule_and_assignment(hijacked):
    ds, store, sizes = hijacked
    cal = SplitScorer(store, ["product", "other"], sizes, ds, MatcherConfig())
    rules = default_grids([0.1], ["product", "other"], None)["vote"]
    assert set(rules) == {
        (r, a) for r in ("written", "original", "set") for a in ("greedy", "global")
    }
    grid = {"keep_fraction": [0.28, 1.0], "vote_fraction": [0.5], "max_distance": [4.0]}
    chosen, sweeps = coordinate_ascent(cal, START, {"vote": rules}, rounds=1, vote_grid=grid)
    scored = {v: sc for v, sc in zip(sweeps[0].values, sweeps[0].scores)}
    held = (START.keep_fraction, START.vote_fraction, START.max_distance, START.rule, START.assign)
    assert held in scored  # off this grid (vote fraction 1.0), so the curve adds it at its score
    assert len(scored) == 2 * 2 * 2 + 2 + 1 and {v[3:] for v in scored} == set(
        rules
    )  # set: no kept fraction
    best = max(scored.values())
    assert cal.score(chosen) == pytest.approx(best) and scored[sweeps[0].chosen] == best
    for (keep, vote, cut, rule, assign), sc in scored.items():
        one = replace(
            START,
            keep_fraction=keep,
            vote_fraction=vote,
            max_distance=cut,
            rule=rule,
            assign=assign,
        )
        assert cal.score(one) == pytest.approx(sc)


def test_default_grids_offer_only_what_the_models_support():
    plain = default_grids([0.1, 0.5], ["garment"], None)
    assert "frame_classes" not in plain and "region" not in plain and list(plain)[-1] == "vote"
    assert plain["vote"][0] == ("written", "greedy")
    assert default_grids([0.1], ["garment"], None, ["set/global"])["vote"] == [("set", "global")]
    with pytest.raises(ConfigError, match="vote rule 'set/hungarian'"):
        default_grids([0.1], ["garment"], None, ["set/hungarian"])
    split = default_grids([0.1, 0.5], ["product", "other"], [0.1, 0.1, 0.9, 0.9])
    assert split["frame_classes"] == [(), ("product",), ("other",)] and split["region"][1] == (
        0.1,
        0.1,
        0.9,
        0.9,
    )
    assert default_grids([0.1], ["worn", "alone"], None)["frame_classes"] == [
        (),
        ("worn",),
        ("alone",),
    ]


def test_fit_trains_from_imagenet_weights_by_default(sample_root, val_root, tmp_path):
    """Without --init-from, fit's default recipe starts the embedder and the detector from the
    packaged ImageNet EfficientNet-Lite0 (ground.pretrained), never from random weights."""
    import torch

    from embedder.model import build_embedder
    from ground.pretrained import resolve_weights
    from livematch.fit.inputs import fit_config

    cfg = fit_config([sample_root], [val_root], tmp_path, {})
    assert cfg.fit.recipe == "lite0"
    assert (cfg.embedder.model.backbone, cfg.embedder.model.weights) == (
        "tf_efficientnet_lite0",
        "imagenet",
    )
    assert (cfg.detector.model.backbone, cfg.detector.model.weights) == (
        "timm:tf_efficientnet_lite0",
        "imagenet",
    )
    stem = resolve_weights("imagenet", "tf_efficientnet_lite0")["conv_stem.weight"]
    assert torch.equal(build_embedder(cfg.embedder.model).backbone.conv_stem.weight, stem)


def test_init_from_finds_checkpoints_in_a_folder_or_a_pipeline(tmp_path):
    from ground.errors import ConfigError
    from livematch.fit.inputs import find_init

    found = find_init("weights")  # the shipped demo models, told apart by their configs
    assert found == {
        "detector": Path("weights/detector_lite0"),
        "embedder": Path("weights/embedder_lite0"),
    }
    for name, kind in (
        ("a", "worn"),
        ("b", "embedder"),
        ("c", "detector"),
    ):  # meta.json's kind decides
        (tmp_path / "ckpts" / name).mkdir(parents=True)
        (tmp_path / "ckpts" / name / "config.yaml").write_text("model: {}\n")
        (tmp_path / "ckpts" / name / "meta.json").write_text(json.dumps({"kind": kind}))
    assert find_init(tmp_path / "ckpts") == {
        "embedder": tmp_path / "ckpts" / "b",
        "detector": tmp_path / "ckpts" / "c",
    }
    (tmp_path / "pipeline.yaml").write_text("weights:\n  detector: d\n  embedders: [e]\n")
    assert find_init(tmp_path) == {
        "detector": tmp_path / "d",
        "embedder": tmp_path / "e",
    }  # beside the config
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
    assert (
        chosen.frame_threshold == 0.4 and chosen.photo_threshold < 0.9 and cal.score(chosen) > 0.5
    )
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
    assert (
        len({frozenset(folds(cal, 2, seed=s)[0].gt.videos) for s in range(8)}) > 1
    )  # other seeds, other cuts


@pytest.mark.timeout(900)
def test_fit_under_torchrun_trains_on_every_rank_and_calibrates_on_rank_0(
    sample_root, val_root, tmp_path
):
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
    cmd = [
        torchrun,
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "livematch.cli",
        "fit",
        "--data",
        str(sample_root),
        "--val",
        str(val_root),
        "--out",
        str(out),
        *DET,
        *EMB,
        *FAST,
        "run.workers=0",
    ]
    done = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=880
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "pipeline.yaml").is_file() and (
        out / "weights" / "detector" / "model.safetensors"
    ).is_file()
    assert json.loads((out / "calibration" / "val_run" / "summary.json").read_text())["ranks"] == 2
    assert (
        json.loads((out / "calibration" / "train_run0" / "summary.json").read_text())["ranks"] == 2
    )
    assert done.stdout.count("at the starting settings") == 1  # rank 0 alone reports


def test_diagnose_turns_the_words_off_when_the_pipeline_votes_with_them():
    from livematch.diagnose import variants

    chosen = replace(START, text_weight=0.3, max_distance=1.0)
    off = variants(chosen, replace(START, text_weight=0.2))
    assert off["text_weight -> 0 (the pictures alone)"] == replace(chosen, text_weight=0.0)
    assert not any("text" in k for k in variants(START, START))


def test_diagnose_reverts_each_setting_scores_the_oracle_and_explains_each_clip(
    fitted, val_root, tmp_path, capsys
):
    """livematch diagnose on a VAL root: its chosen score is the one fit measured there, each
    reverted setting and the oracle get a row, and every clip gets one reason whose counts agree
    with the metric's (fully right = correct at box level; right item = correct at item level)."""
    out = tmp_path / "diag"
    assert main(["diagnose", "--fit", str(fitted), "--data", str(val_root), "--out", str(out)]) == 0
    result = json.loads((out / "diagnose.json").read_text())
    record = json.loads((fitted / "fit.json").read_text())
    name = val_root.name
    assert result["scores"]["chosen"][name] == pytest.approx(record["val"][0]["score"])
    assert {"start (nothing calibrated)", "oracle: sold garments' crops only"} <= set(
        result["scores"]
    )
    counts, why = record["val"][0]["counts"], result["reasons"]
    assert why["right"] == counts["correct_box"]
    assert why["right"] + why["evidence"] == counts["correct_item"]
    from ground.metric import sold_items

    selling = len(sold_items(load_dataset(val_root, probe_media=False)))
    assert sum(n for k, n in why.items() if k != "false positive") == selling  # one reason each
    printed = capsys.readouterr().out
    assert "where each comes from" in printed and "oracle: sold garments' crops only" in printed
    page = (out / "diagnose.html").read_text()
    assert "Where each failure comes from" in page and "<table>" in page
    assert (
        main(["diagnose", "--fit", str(tmp_path), "--data", str(val_root), "--out", str(out)]) == 2
    )
