"""``livematch run`` end to end with untrained tiny models (the plumbing, not the accuracy)."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from detector.model import build_detector
from embedder.model import build_embedder
from ground.checkpoint import save_checkpoint
from ground.dataset import load_dataset
from ground.errors import LiveMatchError
from ground.metric import validate_entry
from livematch.cli import main
from livematch.config import load_config, run_config
from livematch.pipeline import run
from matcher.crops import CropTable
from tests.detector.test_train import OVERRIDES as DET
from tests.embedder.test_train import OVERRIDES as EMB

FAST = [
    "detector.infer.photo_threshold=0.0",
    "detector.infer.frame_threshold=0.0",
    "detector.infer.photo_short_side=128",
    "detector.infer.frame_short_side=128",
    "media.infer_frames.step=100",
    "data.probe_media=false",
]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt")
    cfg = load_config(None, DET + EMB)
    torch.manual_seed(0)
    save_checkpoint(
        root / "det", {"model": build_detector(cfg.detector.model)}, cfg.detector, {"epoch": 0}
    )
    save_checkpoint(
        root / "emb", {"model": build_embedder(cfg.embedder.model)}, cfg.embedder, {"epoch": 0}
    )
    return root / "det", root / "emb"


@pytest.fixture(scope="module")
def bad_root(sample_root, tmp_path_factory):
    root = tmp_path_factory.mktemp("bad") / "data"
    shutil.copytree(sample_root, root)
    clip = sorted((root / "video").glob("*.mp4"))[0]
    clip.write_bytes(clip.read_bytes()[:5000])  # truncated
    photo = sorted((root / "image").glob("*/0.jpg"))[0]
    photo.write_bytes(b"not a jpeg")
    (root / "image" / "099999").mkdir()  # empty item folder
    ann = sorted((root / "image_annotation").glob("*/1.json"))[0]
    ann.write_text("{broken")
    return root, clip, photo


def test_run_completes_on_bad_input_and_names_each_bad_file(bad_root, checkpoints, tmp_path):
    root, clip, photo = bad_root
    cfg = load_config(None, DET + EMB + FAST)
    report = run(
        cfg, [root], tmp_path / "out", *checkpoints[:1], [checkpoints[1]], gt=[root], progress=False
    )
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert all(validate_entry(e) is None for e in result.values())
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    named = {
        i["path"]: i["reason"] for group in summary["issues_by_reason"].values() for i in group
    }
    assert all(
        i["reason"].startswith(kind)
        for kind, group in summary["issues_by_reason"].items()
        for i in group
    )
    assert any(str(clip) == p and r.startswith("unreadable video") for p, r in named.items())
    assert any(str(photo) == p and r.startswith("unreadable photo") for p, r in named.items())
    assert any(p.endswith("099999") and r.startswith("empty item folder") for p, r in named.items())
    assert any(p.endswith("1.json") and r.startswith("invalid JSON") for p, r in named.items())
    assert summary["counts"]["shop crops"] > 0 and summary["counts"]["video crops"] > 0
    assert set(report.seconds) >= {"load", "decode", "detect", "embed", "match"}
    assert "score" in json.loads((tmp_path / "out" / "score.json").read_text())
    assert (tmp_path / "out" / "features" / "shop.npz").exists()
    ran = load_config(tmp_path / "out" / "config.yaml")  # what ran: roots and weights as used
    assert ran.data.roots == [str(root.resolve())] and ran.weights.detector == str(
        checkpoints[0].resolve()
    )
    assert ran.weights.embedders == [str(checkpoints[1].resolve())]
    page = (tmp_path / "out" / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    clips = set(load_dataset(root, probe_media=False).videos) | set(result)  # as the run loaded it
    assert page.count("<section") == len(clips) and len(result) == len(
        report.result.matches
    )  # every clip
    assert (
        page.count('data-verdict="') == len(clips) and "<svg" in page and "data:image" not in page
    )
    from html.parser import HTMLParser

    HTMLParser().feed(page)  # parses


def test_a_run_takes_input_sizes_from_its_checkpoints_unless_its_config_sets_them(
    checkpoints, tmp_path
):
    det, emb = checkpoints
    trained = load_config(None, DET + EMB)
    assert trained.detector.infer.frame_short_side != load_config().detector.infer.frame_short_side
    cfg = run_config(None, [], det, [emb])
    assert (
        cfg.detector.infer.frame_short_side == trained.detector.infer.frame_short_side
    )  # not the default
    assert (
        cfg.embedder.extract.scale
        == trained.embedder.extract.scale
        != load_config().embedder.extract.scale
    )
    assert (
        run_config(
            None, ["detector.infer.frame_short_side=96"], det, [emb]
        ).detector.infer.frame_short_side
        == 96
    )
    recipe = tmp_path / "pipeline.yaml"
    recipe.write_text(
        f"weights: {{detector: {det}, embedders: [{emb}]}}\nembedder: {{extract: {{scale: 80}}}}\n"
    )
    from_file = run_config(recipe)
    assert from_file.embedder.extract.scale == 80  # the file wins over the checkpoint
    assert from_file.detector.infer.frame_short_side == trained.detector.infer.frame_short_side
    # the model sections are always the checkpoints' (the weights are that model), whatever the file
    # says
    recipe.write_text(
        f"weights: {{detector: {det}, embedders: [{emb}]}}\nembedder: {{model: {{backbone: "
        "resnet50}}\n"
    )
    assert (
        run_config(recipe).embedder.model.backbone == trained.embedder.model.backbone != "resnet50"
    )
    # the model commands follow the same rule (livematch.config.use_checkpoints)
    from livematch.cli import _checkpoint_cfg

    assert (
        _checkpoint_cfg(emb, None, [], "embedder").embedder.extract.scale
        == trained.embedder.extract.scale
    )
    assert (
        _checkpoint_cfg(emb, None, ["embedder.extract.scale=72"], "embedder").embedder.extract.scale
        == 72
    )


def test_an_ensemble_member_runs_at_its_own_checkpoint_scale(checkpoints, tmp_path):
    from livematch.pipeline import Models, Stopwatch

    det, emb = checkpoints
    cfg = load_config(None, DET + EMB + ["embedder.extract.scale=80"])
    save_checkpoint(
        tmp_path / "emb80",
        {"model": build_embedder(cfg.embedder.model)},
        cfg.embedder,
        {"epoch": 0},
    )
    run_cfg = run_config(None, [], det, [emb, tmp_path / "emb80"])
    models = Models(det, [emb, tmp_path / "emb80"], run_cfg, Stopwatch(), torch.device("cpu"))
    assert models.scales == [load_config(None, EMB).embedder.extract.scale, 80]


def test_unwritable_output_fails_at_start(sample_root, checkpoints, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(LiveMatchError, match="not writable"):
        run(
            load_config(None, DET + EMB + FAST),
            [sample_root],
            blocker / "out",
            checkpoints[0],
            [checkpoints[1]],
            progress=False,
        )


def test_ranks_checking_one_output_folder_at_once_do_not_trip_each_other(tmp_path, monkeypatch):
    """torchrun ranks check the shared output folder at the same time: a rank that writes and
    removes its probe between another's write and removal must not make that one fail."""
    import os
    from pathlib import Path

    from livematch.pipeline import check_output_dir

    pids, write = iter([101, 202]), Path.write_text
    monkeypatch.setattr(os, "getpid", lambda: next(pids))
    state = {"inside": False}

    def interleaved(self, text, *args, **kwargs):
        out = write(self, text, *args, **kwargs)
        if not state["inside"]:  # the other rank runs its whole check right after this write
            state["inside"] = True
            check_output_dir(self.parent)
        return out

    monkeypatch.setattr(Path, "write_text", interleaved)
    assert check_output_dir(tmp_path / "out") == tmp_path / "out"
    assert not list((tmp_path / "out").iterdir())  # both probes removed


def test_cli_run_and_missing_weights(sample_root, checkpoints, tmp_path, capsys):
    assert (
        main(
            [
                "run",
                "--data",
                str(sample_root),
                "--out",
                str(tmp_path / "o"),
                "--detector",
                str(checkpoints[0]),
                "--embedder",
                str(checkpoints[1]),
                "--gt",
                str(sample_root),
                *DET,
                *EMB,
                *FAST,
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "contest score" in out and "seconds per stage" in out
    assert main(["run", "--data", str(sample_root), "--out", str(tmp_path / "o2")]) == 2
    assert "needs a detector" in capsys.readouterr().err


def test_exported_fp16_checkpoint_gives_nearly_the_same_features(checkpoints, tmp_path):
    from embedder.checkpoint import load_embedder
    from livematch.export import export_checkpoint

    out = export_checkpoint(checkpoints[1], tmp_path / "emb16")
    assert not (out / "train_state.pt").exists()
    assert (out / "model.safetensors").stat().st_size < 0.6 * (
        checkpoints[1] / "model.safetensors"
    ).stat().st_size
    images = torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8)
    a, b = load_embedder(checkpoints[1])[0].embed(images), load_embedder(out)[0].embed(images)
    assert torch.allclose(a, b, atol=2e-2)


def _run(root, out, checkpoints, extra=()):
    cfg = load_config(None, DET + EMB + FAST + list(extra))
    return run(cfg, [root], out, checkpoints[0], [checkpoints[1]], progress=False)


def test_cache_resume_incremental_and_invalidation(sample_root, checkpoints, tmp_path, monkeypatch):
    root = tmp_path / "data"
    shutil.copytree(sample_root, root)
    out = tmp_path / "out"
    first = _run(root, out, checkpoints)
    reference = (out / "result.json").read_text()
    assert (
        first.summary.counts["clips processed"] == 6
        and first.summary.counts["items processed"] == 8
    )
    again = _run(root, out, checkpoints)  # everything cached: no model work
    assert (
        again.summary.counts["clips processed"] == 0
        and again.summary.counts["items processed"] == 0
    )
    assert (out / "result.json").read_text() == reference
    for key in sorted((out / "cache" / "clips").glob("*.key"))[:3]:  # as if killed after 3 clips
        key.unlink()
    resumed = _run(root, out, checkpoints)
    assert (
        resumed.summary.counts["clips processed"] == 3
        and (out / "result.json").read_text() == reference
    )
    clip = sorted((root / "video").glob("*.mp4"))[0]
    shutil.copy(clip, root / "video" / "999999.mp4")  # a new clip
    grown = _run(root, out, checkpoints)
    assert (
        grown.summary.counts["clips processed"] == 1
        and grown.summary.counts["items processed"] == 0
    )
    changed = _run(
        root, out, checkpoints, ["detector.infer.frame_short_side=96"]
    )  # a changed setting
    assert (
        changed.summary.counts["clips processed"] == 7
        and changed.summary.counts["items processed"] == 8
    )
    from ground import media

    monkeypatch.setattr(
        media, "SCHEDULE_RULE", media.SCHEDULE_RULE + 1
    )  # a release that reads other frames
    upgraded = _run(root, out, checkpoints, ["detector.infer.frame_short_side=96"])
    assert upgraded.summary.counts["clips processed"] == 7


def test_grouping_and_loader_workers_do_not_change_the_result(sample_root, checkpoints, tmp_path):
    one = _run(sample_root, tmp_path / "a", checkpoints, ["run.workers=0", "run.batch_images=1"])
    many = _run(sample_root, tmp_path / "b", checkpoints, ["run.workers=2", "run.batch_images=64"])
    assert one.summary.counts["clips processed"] == many.summary.counts["clips processed"] == 6
    assert (tmp_path / "a" / "result.json").read_text() == (
        tmp_path / "b" / "result.json"
    ).read_text()
    for part in ("shop.npz", "video.npz"):
        a, b = (CropTable.load(tmp_path / d / "features" / part) for d in "ab")
        assert len(a) > 0 and (a.owner == b.owner).all() and (a.frame == b.frame).all()
        # a batch of another size may round differently in the last float bit, nothing more
        assert np.allclose(a.boxes, b.boxes, atol=1e-3) and np.allclose(
            a.scores, b.scores, atol=1e-5
        )
        assert np.allclose(a.features.astype(np.float32), b.features.astype(np.float32), atol=1e-3)


@pytest.mark.timeout(600)
def test_torchrun_two_ranks_shard_the_work_and_equal_one_process(bad_root, checkpoints, tmp_path):
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    if not os.path.exists(torchrun):
        pytest.skip("torchrun not installed beside this python")
    root = bad_root[0]
    args = [
        "run",
        "--data",
        str(root),
        "--detector",
        str(checkpoints[0]),
        "--embedder",
        str(checkpoints[1]),
        *DET,
        *EMB,
        *FAST,
        "run.workers=1",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [
            torchrun,
            "--standalone",
            "--nproc-per-node",
            "2",
            "-m",
            "livematch",
            *args,
            "--out",
            str(tmp_path / "sharded"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=580,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("videos matched") == 1  # rank 0 reports, rank 1 stays quiet
    assert main([*args, "--out", str(tmp_path / "single")]) == 0
    read = lambda d, f: (tmp_path / d / f).read_text()  # noqa: E731
    assert read("sharded", "result.json") == read("single", "result.json")
    sharded, single = (json.loads(read(d, "summary.json")) for d in ("sharded", "single"))
    assert sharded["ranks"] == 2 and single["ranks"] == 1
    assert {k: sorted(map(str, v)) for k, v in sharded["issues_by_reason"].items()} == {
        k: sorted(map(str, v)) for k, v in single["issues_by_reason"].items()
    }
    for key in ("items processed", "clips processed", "shop crops", "video crops"):
        assert sharded["counts"][key] == single["counts"][key] > 0


def test_heap_is_trimmed_after_each_pass_unless_switched_off(
    sample_root, checkpoints, tmp_path, monkeypatch
):
    import platform

    import livematch.pipeline as pipeline
    from ground.memory import trim_heap

    assert trim_heap() is (platform.libc_ver()[0] == "glibc")  # elsewhere a harmless no-op
    calls = []
    monkeypatch.setattr(pipeline, "trim_heap", lambda: calls.append(1) or True)
    report = _run(
        sample_root, tmp_path / "on", checkpoints, ["run.workers=0", "run.batch_images=1"]
    )
    passes = report.summary.counts["items processed"] + report.summary.counts["clips processed"]
    assert passes > 0 and len(calls) == passes  # one unit per pass
    calls.clear()
    _run(sample_root, tmp_path / "off", checkpoints, ["run.workers=0", "run.trim_memory=false"])
    assert calls == []


def test_frame_classes_keep_only_the_worn_class_on_frames(sample_root, checkpoints, tmp_path):
    cfg = load_config(None, DET + EMB + ["detector.model.split_by=display"])
    torch.manual_seed(0)
    save_checkpoint(
        tmp_path / "det2", {"model": build_detector(cfg.detector.model)}, cfg.detector, {"epoch": 0}
    )
    two = (tmp_path / "det2", checkpoints[1])
    every = _run(sample_root, tmp_path / "every", two)
    worn = _run(sample_root, tmp_path / "worn", two, ["detector.infer.frame_classes=[worn]"])
    tables = {
        name: {
            kind: CropTable.load(tmp_path / name / "features" / f"{kind}.npz")
            for kind in ("shop", "video")
        }
        for name in ("every", "worn")
    }
    assert len(tables["worn"]["shop"]) == len(tables["every"]["shop"])  # photos keep every class
    kept, all_ = tables["worn"]["video"], tables["every"]["video"]
    assert 0 < len(kept) < len(all_)
    rows = {(o, f, tuple(b)) for o, f, b in zip(all_.owner, all_.frame, all_.boxes.tolist())}
    assert all(
        (o, f, tuple(b)) in rows for o, f, b in zip(kept.owner, kept.frame, kept.boxes.tolist())
    )
    assert every.summary.counts["video crops"] == len(all_) and worn.summary.counts[
        "video crops"
    ] == len(kept)
    with pytest.raises(LiveMatchError, match="frame_classes.*garment"):
        _run(sample_root, tmp_path / "bad", two, ["detector.infer.frame_classes=[garment]"])


def test_the_worn_scorer_scores_frame_crops_and_its_cutoff_drops_the_low_ones(
    sample_root, checkpoints, tmp_path
):
    from detector.config import WornConfig
    from detector.worn import WornNet

    torch.manual_seed(0)
    cfg = WornConfig(size=32, widths=[8, 16])
    save_checkpoint(tmp_path / "worn", {"model": WornNet(cfg.widths)}, cfg, {"epoch": 0})
    _run(sample_root, tmp_path / "plain", checkpoints)
    _run(sample_root, tmp_path / "every", checkpoints, [f"weights.worn={tmp_path / 'worn'}"])
    load = lambda name, kind: CropTable.load(  # noqa: E731
        tmp_path / name / "features" / f"{kind}.npz",
    )
    assert (load("plain", "video").worn == 1).all()  # no scorer: every crop counts as worn
    scored = load("every", "video")
    assert len(scored) == len(load("plain", "video")) and (load("every", "shop").worn == 1).all()
    assert (
        0 < scored.worn.min() < scored.worn.max() < 1
    )  # a random net: probabilities, all different
    cut = float(np.median(scored.worn))
    kept_run = _run(
        sample_root,
        tmp_path / "cut",
        checkpoints,
        [f"weights.worn={tmp_path / 'worn'}", f"detector.infer.frame_min_worn={cut}"],
    )
    kept = load("cut", "video")
    np.testing.assert_allclose(kept.boxes, scored.boxes[scored.worn >= cut])
    np.testing.assert_allclose(kept.worn, scored.worn[scored.worn >= cut], atol=1e-6)
    assert kept_run.summary.counts["video crops"] == len(kept) < len(scored)
    result = lambda name: json.loads((tmp_path / name / "result.json").read_text())  # noqa: E731
    assert result("every") == result("plain")  # with the cut-off at 0 the scorer drops nothing
    with pytest.raises(
        LiveMatchError, match="frame_min_worn is 0.5 .*weights.worn"
    ):  # a cut-off without a scorer
        _run(sample_root, tmp_path / "none", checkpoints, ["detector.infer.frame_min_worn=0.5"])
    assert not (tmp_path / "none" / "result.json").exists()


def test_a_box_the_detector_labels_worn_confidently_keeps_past_the_worn_cutoff(
    sample_root, checkpoints, tmp_path
):
    from detector.config import WornConfig
    from detector.worn import WornNet

    split = [
        "detector.model.class_agnostic=true",
        "detector.model.split_by=display",
    ]  # classes worn / alone
    cfg = load_config(None, DET + split)
    torch.manual_seed(0)
    save_checkpoint(
        tmp_path / "det", {"model": build_detector(cfg.detector.model)}, cfg.detector, {"epoch": 0}
    )
    save_checkpoint(
        tmp_path / "emb",
        {"model": build_embedder(load_config(None, EMB).embedder.model)},
        load_config(None, EMB).embedder,
        {"epoch": 0},
    )
    worn = WornConfig(size=32, widths=[8, 16])
    save_checkpoint(tmp_path / "worn", {"model": WornNet(worn.widths)}, worn, {"epoch": 0})
    ckpts = (tmp_path / "det", tmp_path / "emb")
    scorer = [f"weights.worn={tmp_path / 'worn'}"] + split
    _run(sample_root, tmp_path / "every", ckpts, scorer)
    every = CropTable.load(tmp_path / "every" / "features" / "video.npz")
    assert set(every.labels) == {1, 2}  # both classes among the untrained detector's boxes
    cut, trust = float(np.median(every.worn)), float(np.median(every.scores[every.labels == 1]))
    _run(
        sample_root,
        tmp_path / "trust",
        ckpts,
        scorer
        + [f"detector.infer.frame_min_worn={cut}", f"detector.infer.frame_trust_worn={trust}"],
    )
    kept = CropTable.load(tmp_path / "trust" / "features" / "video.npz")
    want = (every.worn >= cut) | ((every.labels == 1) & (every.scores >= trust))
    assert 0 < (want & (every.worn < cut)).sum()  # some boxes kept only by the detector's word
    np.testing.assert_allclose(kept.boxes, every.boxes[want])
    with pytest.raises(LiveMatchError, match="frame_trust_worn is 0.5 but the detector's classes"):
        _run(
            sample_root,
            tmp_path / "one",
            checkpoints,
            scorer[:1]
            + ["detector.infer.frame_min_worn=0.5", "detector.infer.frame_trust_worn=0.5"],
        )


def test_each_folder_keeps_its_most_confident_photo_box_below_the_threshold(
    sample_root, checkpoints, tmp_path
):
    low = _run(sample_root, tmp_path / "low", checkpoints, ["detector.infer.photo_threshold=0.0"])
    every = CropTable.load(tmp_path / "low" / "features" / "shop.npz")
    cut = float(np.quantile(every.scores, 0.9))  # most folders keep nothing at this threshold
    folders = sorted(set(every.owner))
    bare = [f for f in folders if not (every.scores[every.owner == f] >= cut).any()]
    assert bare and low.summary.counts["items processed"] == len(folders)
    _run(sample_root, tmp_path / "cut", checkpoints, [f"detector.infer.photo_threshold={cut}"])
    assert set(CropTable.load(tmp_path / "cut" / "features" / "shop.npz").owner) == set(
        folders
    ) - set(bare)
    _run(
        sample_root,
        tmp_path / "floor",
        checkpoints,
        [f"detector.infer.photo_threshold={cut}", "detector.infer.photo_min_boxes=1"],
    )
    kept = CropTable.load(tmp_path / "floor" / "features" / "shop.npz")
    assert set(kept.owner) == set(folders)  # every folder has a box to match with
    for f in bare:
        mine = every.scores[every.owner == f]
        np.testing.assert_allclose(kept.scores[kept.owner == f], [mine.max()], rtol=1e-5)


def test_frame_region_keeps_only_frame_boxes_centred_in_it(sample_root, checkpoints, tmp_path):
    every = _run(sample_root, tmp_path / "every", checkpoints)
    right = _run(
        sample_root,
        tmp_path / "right",
        checkpoints,
        ["detector.infer.frame_region=[0.5,0.0,1.0,1.0]"],
    )
    tables = {
        name: {
            kind: CropTable.load(tmp_path / name / "features" / f"{kind}.npz")
            for kind in ("shop", "video")
        }
        for name in ("every", "right")
    }
    assert len(tables["right"]["shop"]) == len(tables["every"]["shop"])  # photos are not filtered
    width = {v.video_id: v.size[0] for v in load_dataset(sample_root).videos.values()}
    all_, kept = tables["every"]["video"], tables["right"]["video"]
    centred = (all_.boxes[:, 0] + all_.boxes[:, 2]) / 2 >= 0.5 * np.array(
        [width[o] for o in all_.owner]
    )
    assert 0 < len(kept) == centred.sum() < len(all_)
    np.testing.assert_allclose(kept.boxes, all_.boxes[centred])
    assert right.summary.counts["video crops"] == len(kept) < every.summary.counts["video crops"]
    pages = {name: (tmp_path / name / "report.html").read_text() for name in ("every", "right")}
    assert "blue: frame_region" not in pages["every"]
    assert (
        pages["right"].count("blue: frame_region</figcaption>")
        == pages["right"].count('data-verdict="matched"')
        > 0
    )
    with pytest.raises(LiveMatchError, match="frame_region"):
        _run(
            sample_root,
            tmp_path / "bad",
            checkpoints,
            ["detector.infer.frame_region=[0.6,0.0,0.4,1.0]"],
        )


def test_a_missing_gt_root_fails_before_any_work(sample_root, checkpoints, tmp_path):
    cfg = load_config(None, DET + EMB + FAST)
    with pytest.raises(LiveMatchError, match="nowhere: dataset root does not exist"):
        run(
            cfg,
            [sample_root],
            tmp_path / "out",
            checkpoints[0],
            [checkpoints[1]],
            gt=[tmp_path / "nowhere"],
            progress=False,
        )
    assert not [
        p for p in (tmp_path / "out").rglob("*") if p.is_file()
    ]  # nothing detected, cached or written


def test_run_drops_non_finite_features_with_a_warning(
    sample_root, checkpoints, tmp_path, monkeypatch, caplog
):
    """A degenerate crop's NaN feature must not reach faiss: it is dropped, named and counted."""
    import embedder.extract

    real = embedder.extract.embed_images

    def poisoned(models, images, cfg, progress=False, **kwargs):
        feats = real(models, images, cfg, progress, **kwargs)
        if len(feats):
            feats[0] = np.nan
        return feats

    monkeypatch.setattr(embedder.extract, "embed_images", poisoned)
    cfg = load_config(None, DET + EMB + FAST + ["run.workers=0"])
    run(cfg, [sample_root], tmp_path / "out", checkpoints[0], [checkpoints[1]], progress=False)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert (
        summary["counts"]["crops dropped (feature NaN, inf or zero)"] >= 2
    )  # one per model pass at least
    assert "feature has NaN or inf" in caplog.text
    store = CropTable.load(tmp_path / "out" / "features" / "video.npz")
    assert np.isfinite(store.features.astype(np.float32)).all()


def test_run_with_gt_on_its_own_data_warns_once(bad_root, checkpoints, tmp_path, caplog):
    root, _, _ = bad_root
    cfg = load_config(None, DET + EMB + FAST + ["run.workers=0"])
    run(cfg, [root], tmp_path / "out", checkpoints[0], [checkpoints[1]], gt=[root], progress=False)
    assert (
        caplog.text.count("invalid JSON") == 1
    )  # the root was loaded twice, each warning printed twice


def _children(pid: int) -> set[int]:
    from pathlib import Path

    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            pass
    return found


def _alive(pid: int) -> bool:
    from pathlib import Path

    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_kill_9_of_run_leaves_no_loader_worker(sample_root, checkpoints, tmp_path):
    import signal
    import time

    cmd = [
        sys.executable,
        "-m",
        "livematch",
        "run",
        "--data",
        str(sample_root),
        "--out",
        str(tmp_path / "o"),
        "--detector",
        str(checkpoints[0]),
        "--embedder",
        str(checkpoints[1]),
        *DET,
        *EMB,
        *FAST,
        "run.workers=2",
        "run.batch_images=1",
        "run.prefetch=1",
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    workers, deadline = set(), time.time() + 120
    while len(workers) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
        workers = _children(proc.pid)
    assert len(workers) >= 2, "the run finished or never started its loader workers"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 10
    while any(_alive(w) for w in workers) and time.time() < deadline:
        time.sleep(0.2)
    left = [w for w in workers if _alive(w)]
    for w in left:
        os.kill(w, signal.SIGKILL)
    assert not left
