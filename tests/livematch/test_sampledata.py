import hashlib
import json
from collections import Counter

import numpy as np
import pytest

from ground.dataset import load_dataset
from ground.structures import instance_item
from livematch.sampledata.garments import PALETTE, random_spec, render_garment, similar_spec
from livematch.sampledata.generate import SampleConfig, generate_dataset, plan_dataset
from tests.conftest import SMALL

TINY = dict(items=5, videos=4, width=160, height=96, frames=60)


def _digest(root):
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes_whatever_the_workers(tmp_path):
    generate_dataset(tmp_path / "a", SampleConfig(seed=3, workers=1, **TINY), progress=False)
    generate_dataset(tmp_path / "b", SampleConfig(seed=3, workers=2, **TINY), progress=False)
    generate_dataset(tmp_path / "c", SampleConfig(seed=4, workers=1, **TINY), progress=False)
    a, b, c = (_digest(tmp_path / k) for k in "abc")
    assert a == b and len(a) > 20
    assert a != c


def test_refuses_to_overwrite_by_accident(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        generate_dataset(tmp_path / "x", SampleConfig(**TINY), progress=False)
    assert (tmp_path / "x" / "keep.txt").exists()


def test_layout_and_annotations_are_valid(sample_root):
    ds = load_dataset(sample_root)
    assert ds.summary.issues == []  # every box inside its image, every file where it belongs
    for video in ds.videos.values():
        assert 390 <= video.num_frames <= 410
        assert sorted(video.frames) == list(range(0, 361, 40))
        w, h = video.size
        for anns in video.frames.values():
            for a in anns:
                assert 0 <= a.box[0] < a.box[2] <= w and 0 <= a.box[1] < a.box[3] <= h
    for photo in ds.photos():
        assert photo.annotations, f"{photo.path} has no garment box"
        assert any(a.item_id == photo.item_id for a in photo.annotations)


def test_instance_ids_link_photos_and_clips(sample_root):
    ds = load_dataset(sample_root)
    listed = [v for v in ds.videos.values() if v.sold_item in ds.items]
    unlisted = [v for v in ds.videos.values() if v.sold_item not in ds.items]
    assert listed and unlisted  # some clips sell an item without a folder
    assert set(ds.items) - {v.sold_item for v in listed}  # some folders have no clip
    for video in listed:
        photo_ids = {a.instance_id for p in ds.items[video.sold_item].photos for a in p.annotations}
        ids = {a.instance_id for anns in video.frames.values() for a in anns if a.instance_id > 0}
        assert ids <= photo_ids
        assert {instance_item(i) for i in ids} == {video.sold_item}
    assert not set(ds.videos) & set(ds.items)  # clip ids are unrelated to item ids


def test_clips_vary_like_live_streams(sample_root):
    ds = load_dataset(sample_root)
    shapes = {v.size[0] > v.size[1] for v in ds.videos.values()}
    assert shapes == {True, False}  # portrait and landscape
    late = sum(not any(a.instance_id for a in v.frames[0]) for v in ds.videos.values())
    assert late >= len(ds.videos) // 2  # the garment usually shows up after a delay
    distractors = sum(
        any(a.instance_id == 0 for anns in v.frames.values() for a in anns)
        for v in ds.videos.values()
    )
    assert distractors >= 1
    sizes = {
        v.frames[360][0].box[2] - v.frames[360][0].box[0]
        for v in ds.videos.values()
        if v.frames[360]
    }
    assert len(sizes) > 1


def test_colour_alone_does_not_identify_an_item():
    plan = plan_dataset(SampleConfig(items=24, videos=20, seed=0))
    base = Counter(p.specs[0].colors[0] for p in plan.products)
    assert max(base.values()) >= 2 and len(base) <= len(PALETTE)
    shared = sum(n for n in base.values() if n > 1)
    assert shared >= len(plan.products) // 2  # most items share their main colour with another
    similar = sum(
        a.specs[0].category == b.specs[0].category and a.specs[0].pattern == b.specs[0].pattern
        for a, b in zip(plan.products, plan.products[1:])
    )
    assert similar >= 3  # deliberately close neighbours


def test_similar_spec_changes_the_look_but_not_the_family():
    rng = np.random.default_rng(0)
    for _ in range(20):
        spec = random_spec(rng)
        twin = similar_spec(spec, rng)
        assert twin != spec and twin.category == spec.category and twin.pattern == spec.pattern
        a, b = render_garment(spec, 96), render_garment(twin, 96)
        if a.shape == b.shape and spec.pattern not in ("blocks", "knit"):
            assert np.abs(a.astype(int) - b.astype(int)).mean() > 1.0


def test_annotation_json_matches_format(sample_root):
    ann = json.loads(
        next((sample_root / "video_annotation").glob("*.json")).read_text(encoding="utf-8")
    )
    assert set(ann) == {"video_id", "frames"}
    frame = ann["frames"][0]
    assert set(frame) == {"frame_index", "annotations"}
    photo = json.loads(
        next((sample_root / "image_annotation").rglob("*.json")).read_text(encoding="utf-8")
    )
    assert set(photo) == {"item_id", "img_name", "annotations"}
    box = photo["annotations"][0]
    assert set(box) == {"label", "viewpoint", "display", "instance_id", "box"}
    assert all(isinstance(v, int) for v in box["box"])
    assert len(list((sample_root / "image").iterdir())) == SMALL["items"]


def test_varied_style_plants_no_position_cue(sample_root, classic_root):
    """Varied clips put the sold garment anywhere across the frame, and other garments where
    it stands; classic clips keep it mid-frame, racks at the sides (the cue a region learns)."""

    def spread(root):
        ds = load_dataset(root)
        sold, alone = [], []
        for v in ds.videos.values():
            w = v.size[0]
            for anns in v.frames.values():
                for a in anns:
                    cx = (a.box[0] + a.box[2]) / (2 * w)
                    (sold if a.instance_id > 0 else alone if a.display == 1 else []).append(cx)
        return np.array(sold), np.array(alone), ds

    sold, alone, ds = spread(sample_root)
    assert sold.min() < 0.25 and sold.max() > 0.75  # presenters near both edges
    mid_racks = ((alone > 0.3) & (alone < 0.7)).mean()
    assert mid_racks > 0.2  # racks stand in the middle too, behind or beside the presenter
    assert any(v.sold_item is None for v in ds.videos.values())  # clips that sell nothing
    worn_other = sum(
        a.instance_id == 0 and a.display == 0
        for v in ds.videos.values()
        for anns in v.frames.values()
        for a in anns
    )
    assert worn_other > 0
    c_sold, c_alone, _ = spread(classic_root)
    assert 0.25 < np.median(c_sold) < 0.75 and ((c_alone > 0.3) & (c_alone < 0.7)).mean() < 0.05


def test_twin_spec_changes_one_whole_aspect():
    from livematch.sampledata.garments import VARIED_PATTERNS, twin_spec

    rng = np.random.default_rng(1)
    kinds = set()
    for _ in range(40):
        spec = random_spec(rng, patterns=VARIED_PATTERNS)
        twin = twin_spec(spec, rng)
        same_cut = twin.category == spec.category and twin.width == spec.width
        same_print = (twin.pattern, twin.colors, twin.motif_seed) == (
            spec.pattern,
            spec.colors,
            spec.motif_seed,
        )
        assert same_cut != same_print
        kinds.add(same_cut)
    assert kinds == {True, False}


def test_photo_prints_come_from_real_photographs():
    from livematch.sampledata import textures

    spec = random_spec(np.random.default_rng(0), patterns=("photo",))
    assert spec.texture in textures.names()
    a, b = render_garment(spec, 80), render_garment(spec, 80)
    assert np.array_equal(a, b)  # the same window of the same photo
    inside = a[..., 3] > 0
    assert a[..., :3][inside].std() > 10  # not a flat colour
