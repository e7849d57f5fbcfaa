"""The Python API gives ``livematch run``'s numbers."""

import json

import pytest

from ground.errors import ConfigError, MediaError
from livematch.api import Pipeline
from livematch.config import load_config
from livematch.pipeline import run
from matcher.result import to_result
from matcher.text import text_scores

# one image per detector batch (the run groups images of several units, the API one unit at a
# time); three frames per clip to keep the test short
SAME = [
    "detector.infer.batch_size=1",
    "run.workers=0",
    "media.infer_frames.start=80",
    "media.infer_frames.stop=160",
    "media.infer_frames.step=40",
]


@pytest.fixture(scope="module")
def small_root(sample_root, tmp_path_factory):
    """Two clips of the sample and the items they sell, plus one other item."""
    import shutil

    from ground.dataset import load_dataset

    ds = load_dataset(sample_root, probe_media=False)
    clips = [v for v in ds.videos.values() if v.sold_item in ds.items][:2]
    items = {v.sold_item for v in clips} | {sorted(set(ds.items) - {v.sold_item for v in clips})[0]}
    root = tmp_path_factory.mktemp("api") / "data"
    for sub, names in (("image", items), ("image_annotation", items)):
        for name in names:
            shutil.copytree(sample_root / sub / name, root / sub / name)
    for v in clips:
        for sub, ext in (("video", ".mp4"), ("video_annotation", ".json")):
            (root / sub).mkdir(parents=True, exist_ok=True)
            shutil.copy(sample_root / sub / f"{v.video_id}{ext}", root / sub)
    return root


@pytest.fixture(scope="module")
def pipe():
    return Pipeline.load("configs/pipeline/demo.yaml", SAME)


@pytest.fixture(scope="module")
def catalogue(pipe, small_root):
    return pipe.catalogue(small_root)


def test_api_matches_the_run_on_the_same_root(pipe, catalogue, small_root, tmp_path):
    clips = pipe.clips(small_root)
    assert len(catalogue) and len(clips) and catalogue.dim == clips.dim == pipe.dim
    result = pipe.match(catalogue, clips)
    cfg = load_config("configs/pipeline/demo.yaml", SAME)
    run(
        cfg,
        [small_root],
        tmp_path / "run",
        cfg.weights.detector,
        cfg.weights.embedders,
        progress=False,
    )
    assert result.matches  # the demo models link some clips of the sample
    assert to_result(result) == json.loads((tmp_path / "run" / "result.json").read_text())
    details = json.loads((tmp_path / "run" / "match_details.json").read_text())["videos"]
    for vid, m in result.matches.items():
        assert m.distance == pytest.approx(details[vid]["distance"], abs=1e-5)


def test_the_result_saves_and_scores_itself_as_the_run_does(pipe, catalogue, small_root, tmp_path):
    import livematch

    assert livematch.Pipeline is Pipeline
    result = pipe.match(catalogue, pipe.clips(small_root))
    out = result.save(tmp_path / "api", gt=[small_root])
    cfg = load_config("configs/pipeline/demo.yaml", SAME)
    run(
        cfg,
        [small_root],
        tmp_path / "run",
        cfg.weights.detector,
        cfg.weights.embedders,
        gt=[small_root],
        progress=False,
    )
    for name in ("result.json", "score.json"):
        assert json.loads((out / name).read_text()) == json.loads(
            (tmp_path / "run" / name).read_text()
        ), name
    rounded = lambda path: json.loads(  # noqa: E731
        path.read_text(),
        parse_float=lambda s: round(float(s), 4),
    )
    # distances: the API embeds one unit per pass, the run several (float32 sums in another order)
    assert rounded(out / "match_details.json") == rounded(tmp_path / "run" / "match_details.json")
    assert result.score(small_root) == json.loads((out / "score.json").read_text())
    page = (out / "report.html").read_text()
    assert all(vid in page for vid in result.matches) and (out / "report").is_dir()


def test_catalogue_and_clips_show_progress_in_logs(small_root, capsys, monkeypatch):
    from ground.progress import ENV, INTERVAL_ENV

    monkeypatch.setenv(INTERVAL_ENV, "3600")
    monkeypatch.delenv(ENV, raising=False)
    pipe = Pipeline.load("configs/pipeline/demo.yaml", SAME)
    pipe.catalogue(small_root)
    pipe.clips(small_root)
    err = capsys.readouterr().err
    assert "catalogue: 3/3 (100%)" in err and "clips: 2/2 (100%)" in err


def test_match_one_clip(pipe, catalogue, small_root):
    clip = next((small_root / "video").glob("*.mp4"))
    table = pipe.clip(clip)
    assert set(table.owner) <= {clip.stem} and set(table.frame) <= set(
        pipe.cfg.media.infer_frames.indices()
    )
    match = pipe.match_clip(clip, catalogue)
    assert match is None or (match.video_id == clip.stem and match.item_id in set(catalogue.owner))


def test_bad_inputs(pipe, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"garbage")
    with pytest.raises(MediaError, match="bad.mp4"):
        pipe.clip(bad)
    with pytest.raises(ConfigError, match="weights"):
        Pipeline.load(None)


def test_a_root_is_loaded_once_and_its_bad_clip_counted_once(small_root, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(small_root, root)
    clip = next((root / "video").glob("*.mp4"))
    clip.write_bytes(b"garbage")
    pipe = Pipeline.load("configs/pipeline/demo.yaml", SAME)
    clips = pipe.clips(root)
    assert clip.stem not in set(clips.owner)
    assert [i.path for i in pipe.summary.issues].count(str(clip)) == 1  # the clips' load counts it
    pipe.catalogue(root)
    assert [i.path for i in pipe.summary.issues].count(
        str(clip)
    ) == 1  # and the root is not loaded again


def test_the_api_votes_with_the_words_it_is_given(pipe, catalogue, small_root, monkeypatch):
    """With a text weight, a clip whose transcript says another folder's title can go to that
    folder (one that voted for it); at weight 0 (the demo's) the words change nothing."""
    clips = pipe.clips(small_root)
    plain = pipe.match(catalogue, clips)
    folders = sorted(set(catalogue.owner))
    titles = {str(i): f"款{k} {chr(0x4E00 + 9 * k) * 3}" for k, i in enumerate(folders)}
    tries = [(v, str(o)) for v in sorted(plain.matches) for o in folders]
    tries = [(v, o) for v, o in tries if o != plain.matches[v].item_id]
    assert to_result(pipe.match(catalogue, clips, titles, {tries[0][0]: titles[tries[0][1]]})) == (
        to_result(plain)
    )
    voting = pipe.cfg.matcher.voting  # every folder's every vote a finalist: words can move it
    for key, value in (("text_weight", 5.0), ("keep_fraction", 1.0), ("vote_fraction", 1.0)):
        monkeypatch.setattr(voting, key, value)
    flipped = []
    for vid, other in tries:
        moved = pipe.match(catalogue, clips, titles, {vid: titles[other]})
        m = moved.matches.get(vid)
        if m is not None and m.item_id == other:
            expected = text_scores(titles, {vid: titles[other]})(other, vid)
            assert expected > 0.5 and m.text_score == pytest.approx(expected, abs=1e-6)
            flipped.append((vid, other))
    assert flipped  # a folder that voted for the clip takes it when the presenter says its title
