import shutil

import numpy as np
import pytest
from PIL import Image

from ground.dataset import load_dataset
from ground.errors import DatasetError
from livematch.sampledata.video import write_video
from tests.conftest import index_frame, write_json

LABEL = "长袖上衣"


def _photo(root, item, name, size=(100, 80)):
    path = root / "image" / item / f"{name}.jpg"
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), 128, np.uint8)).save(path)
    return path


def _ann(box, iid=20000101, label=LABEL, **kw):
    return {"label": label, "viewpoint": 0, "display": 1, "instance_id": iid, "box": box, **kw}


def _photo_ann(root, item, name, anns):
    return write_json(
        root / "image_annotation" / item / f"{name}.json",
        {"item_id": item, "img_name": f"{name}.jpg", "annotations": anns},
    )


@pytest.fixture
def clean_root(tmp_path):
    """One item with one annotated photo (100x80) and one annotated clip (160x32, 120 frames)."""
    root = tmp_path / "root"
    _photo(root, "000001", "0")
    _photo_ann(root, "000001", "0", [_ann([10, 10, 50, 60])])
    write_video(root / "video" / "555555.mp4", (index_frame(i) for i in range(120)))
    write_json(
        root / "video_annotation" / "555555.json",
        {
            "video_id": "555555",
            "frames": [
                {"frame_index": 0, "annotations": [_ann([0, 0, 50, 30])]},
                {"frame_index": 40, "annotations": []},
            ],
        },
    )
    return root


def _issues(ds):
    return [
        (i.path.split("/root/")[-1], i.reason.split(":")[0], i.action) for i in ds.summary.issues
    ]


def test_clean_root_loads_without_issues(clean_root):
    ds = load_dataset(clean_root)
    assert ds.summary.issues == []
    assert list(ds.items) == ["000001"] and list(ds.videos) == ["555555"]
    photo = ds.items["000001"].photos[0]
    assert photo.size == (100, 80) and photo.name == "0"
    assert photo.annotations[0].box == (10.0, 10.0, 50.0, 60.0)
    assert photo.annotations[0].instance_id == 20000101
    video = ds.videos["555555"]
    assert video.size == (160, 32) and video.num_frames == 120
    assert sorted(video.frames) == [0, 40] and video.sold_item == "000001"
    assert ds.summary.counts["videos selling an item"] == 1
    assert ds.annotated


@pytest.mark.parametrize(
    "make, path, reason, action",
    [
        (
            lambda r: (r / "image_annotation/000001/0.json").write_text("{not json"),
            "image_annotation/000001/0.json",
            "invalid JSON",
            "unannotated",
        ),
        (
            lambda r: (r / "image_annotation/000001/0.json").unlink(),
            "image_annotation/000001/0.json",
            "missing annotation",
            "unannotated",
        ),
        (
            lambda r: write_json(r / "image_annotation/000001/0.json", {"item_id": "000001"}),
            "image_annotation/000001/0.json",
            "malformed annotation",
            "unannotated",
        ),
        (
            lambda r: _photo_ann(r, "000001", "0", [_ann([1, 1, 20, 20], label="外星服")]),
            "image_annotation/000001/0.json",
            "unknown label",
            "kept",
        ),
        (
            lambda r: _photo_ann(r, "000001", "0", [_ann([-5, 10, 500, 60])]),
            "image_annotation/000001/0.json",
            "box outside image",
            "clipped",
        ),
        (
            lambda r: _photo_ann(r, "000001", "0", [_ann([200, 10, 300, 60])]),
            "image_annotation/000001/0.json",
            "zero-area box",
            "skipped",
        ),
        (
            lambda r: _photo_ann(r, "000001", "0", [_ann([10, 10, 10, 60])]),
            "image_annotation/000001/0.json",
            "zero-area box",
            "skipped",
        ),
        (
            lambda r: _photo_ann(r, "000001", "0", [_ann([10, 10, 60])]),
            "image_annotation/000001/0.json",
            "malformed box",
            "skipped",
        ),
        (
            lambda r: _photo_ann(r, "000001", "0", [_ann([1, 1, 20, 20], iid="x")]),
            "image_annotation/000001/0.json",
            "malformed box",
            "skipped",
        ),
        (
            lambda r: _photo_ann(r, "000001", "0", [_ann([1, 1, 20, 20], iid=-3)]),
            "image_annotation/000001/0.json",
            "malformed box",
            "skipped",
        ),
        (
            lambda r: _photo_ann(r, "000001", "0", [_ann([1, 1, 20, 20], iid=123)]),
            "image_annotation/000001/0.json",
            "instance_id off convention",
            "kept",
        ),
        (
            lambda r: _photo_ann(r, "000001", "0", [{**_ann([1, 1, 20, 20]), "viewpoint": 9}]),
            "image_annotation/000001/0.json",
            "out-of-range field",
            "kept",
        ),
        (lambda r: (r / "image/000002").mkdir(), "image/000002", "empty item folder", "skipped"),
        (
            lambda r: (r / "image/readme.txt").write_text("x"),
            "image/readme.txt",
            "stray file",
            "skipped",
        ),
        (
            lambda r: (r / "image/000001/notes.txt").write_text("x"),
            "image/000001/notes.txt",
            "stray file",
            "skipped",
        ),
        (
            lambda r: (r / "video/list.csv").write_text("x"),
            "video/list.csv",
            "stray file",
            "skipped",
        ),
        (lambda r: (r / "extra").mkdir(), "extra", "stray entry", "ignored"),
        (
            lambda r: _photo_ann(r, "000001", "7", []),
            "image_annotation/000001/7.json",
            "orphan annotation",
            "skipped",
        ),
        (
            lambda r: write_json(r / "video_annotation/999999.json", {"frames": []}),
            "video_annotation/999999.json",
            "orphan annotation",
            "skipped",
        ),
        (
            lambda r: (r / "image/000001/1.jpg").write_text("not an image"),
            "image/000001/1.jpg",
            "unreadable photo",
            "skipped",
        ),
        (
            lambda r: (r / "video/666666.mp4").write_bytes(b"\0" * 1000),
            "video/666666.mp4",
            "unreadable video",
            "skipped",
        ),
        (
            lambda r: (r / "video/777777.mp4").write_bytes(b""),
            "video/777777.mp4",
            "unreadable video",
            "skipped",
        ),
        (
            lambda r: write_json(
                r / "video_annotation/555555.json", {"frames": [{"annotations": []}]}
            ),
            "video_annotation/555555.json",
            "malformed frame",
            "skipped",
        ),
        (
            lambda r: write_json(
                r / "video_annotation/555555.json",
                {
                    "frames": [
                        {"frame_index": 0, "annotations": []},
                        {"frame_index": 0, "annotations": []},
                    ]
                },
            ),
            "video_annotation/555555.json",
            "duplicate frame",
            "kept first",
        ),
        (
            lambda r: write_json(
                r / "video_annotation/555555.json",
                {"frames": [{"frame_index": 0, "annotations": [_ann([100, 0, 400, 30])]}]},
            ),
            "video_annotation/555555.json",
            "box outside image",
            "clipped",
        ),
        (
            lambda r: write_json(
                r / "video_annotation/555555.json", {"video_id": "1", "frames": []}
            ),
            "video_annotation/555555.json",
            "video_id mismatch",
            "kept file name",
        ),
    ],
)
def test_each_bad_input_gives_one_warning_and_the_load_goes_on(
    clean_root, make, path, reason, action
):
    make(clean_root)
    ds = load_dataset(clean_root)
    assert _issues(ds) == [(path, reason, action)]
    assert "000001" in ds.items and "555555" in ds.videos  # the rest of the data is still there
    assert ds.summary.by_reason() == {reason: 1}


def test_box_rules_clip_and_drop(clean_root):
    _photo_ann(
        clean_root,
        "000001",
        "0",
        [_ann([-5, 10, 500, 60]), _ann([200, 10, 300, 60]), _ann([1, 2, 3, 4])],
    )
    boxes = [a.box for a in load_dataset(clean_root).items["000001"].photos[0].annotations]
    assert boxes == [(0.0, 10.0, 100.0, 60.0), (1.0, 2.0, 3.0, 4.0)]


def test_unannotated_test_set_loads_silently(clean_root):
    shutil.rmtree(clean_root / "image_annotation")
    shutil.rmtree(clean_root / "video_annotation")
    ds = load_dataset(clean_root)
    assert ds.summary.issues == [] and not ds.annotated
    assert ds.items["000001"].photos[0].annotations is None and ds.videos["555555"].frames is None


def test_several_roots_merge_and_duplicates_are_skipped(clean_root, tmp_path):
    part2 = tmp_path / "part2"
    _photo(part2, "000002", "0")
    _photo(part2, "000001", "0")  # already in the first root
    ds = load_dataset([clean_root, part2])
    assert list(ds.items) == ["000001", "000002"]
    assert [(i.reason.split(":")[0]) for i in ds.summary.issues] == ["duplicate item id"]
    assert ds.items["000001"].photos[0].path.parent.parent.parent == clean_root


def test_text_files_are_read(clean_root):
    (clean_root / "image_text").mkdir()
    (clean_root / "image_text/000001.txt").write_text(
        "条纹 长袖上衣\n 第二行 \n\n", encoding="utf-8"
    )
    assert load_dataset(clean_root).items["000001"].text == "条纹 长袖上衣 第二行"


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_text_with_or_without_a_byte_order_mark_reads_alike(clean_root, bom):
    (clean_root / "image_text").mkdir()
    (clean_root / "image_text/000001.txt").write_bytes(bom + "红色 短裙\r\n".encode())
    ds = load_dataset(clean_root)
    assert ds.items["000001"].text == "红色 短裙" and not ds.summary.issues


@pytest.mark.parametrize(
    "payload, reason",
    [(b"\xff\xfe\x00garbage", "unreadable text"), (b"ab\x00\x01cd", "not text")],
)
def test_a_bad_text_file_is_named_and_skipped(clean_root, payload, reason):
    (clean_root / "image_text").mkdir()
    (clean_root / "image_text/000001.txt").write_bytes(payload)
    ds = load_dataset(clean_root)
    assert ds.items["000001"].text is None and ds.items["000001"].photos  # the item stays
    (issue,) = ds.summary.issues
    assert issue.reason.startswith(reason) and issue.path.endswith("000001.txt")


def test_missing_root_is_an_error(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "nope")


def test_probe_off_skips_media_checks(clean_root):
    (clean_root / "video/666666.mp4").write_bytes(b"\0" * 100)
    ds = load_dataset(clean_root, probe_media=False)
    assert "666666" in ds.videos and ds.items["000001"].photos[0].size is None


def test_generated_sample_loads_clean(sample_root):
    ds = load_dataset(sample_root)
    assert ds.summary.issues == []
    assert len(ds.items) == 8 and len(ds.videos) == 6
    assert all(v.frames for v in ds.videos.values())


def test_annotated_frame_past_the_clip_end_costs_that_frame_only(sample_root, tmp_path):
    """A frame_index beyond the last frame: the probed load skips it with a warning; detector
    samples and embedder crops keep the clip's other frames (it raised KeyError, and dropped the
    whole clip as 'undecodable')."""
    import json
    import shutil

    from detector.data import detection_samples
    from ground.dataset import read_images
    from ground.summary import RunSummary

    root = tmp_path / "data"
    shutil.copytree(sample_root, root)
    ann = sorted((root / "video_annotation").glob("*.json"))[0]
    data = json.loads(ann.read_text())
    data["frames"].append({"frame_index": 9999, "annotations": data["frames"][-1]["annotations"]})
    ann.write_text(json.dumps(data))
    clip = root / "video" / f"{ann.stem}.mp4"
    probed = load_dataset([root])
    assert 9999 not in probed.videos[ann.stem].frames
    assert any(i.kind == "frame past the clip's end" for i in probed.summary.issues)
    ds = load_dataset([root], probe_media=False)
    summary = RunSummary()
    samples = detection_samples(ds, ["garment"], tmp_path / "cache", summary)
    mine = [s for s in samples if s.source == ann.stem]
    assert len(mine) == len(data["frames"]) - 1
    assert any("9999" in i.reason for i in summary.issues)
    images = read_images(clip, [0, 40, 9999], summary)
    assert sorted(images) == [0, 40]


def test_annotation_grid_is_the_step_the_frames_share(clean_root, sample_root, tmp_path):
    from ground.dataset import annotation_grid

    assert annotation_grid([load_dataset(clean_root)]) == 40
    assert annotation_grid([load_dataset(sample_root, probe_media=False)]) == 40
    other = tmp_path / "other"
    _photo(other, "000002", "0")
    write_video(other / "video" / "666666.mp4", (index_frame(i) for i in range(120)))
    write_json(
        other / "video_annotation" / "666666.json",
        {
            "video_id": "666666",
            "frames": [
                {"frame_index": 30, "annotations": []},
                {"frame_index": 90, "annotations": []},
            ],
        },
    )
    assert annotation_grid([load_dataset(other)]) == 30
    assert (
        annotation_grid([load_dataset(clean_root), load_dataset(other)]) == 10
    )  # one grid both lie on
    write_json(
        other / "video_annotation" / "666666.json",
        {"video_id": "666666", "frames": [{"frame_index": 0, "annotations": []}]},
    )
    assert annotation_grid([load_dataset(other)]) is None  # frame 0 alone says nothing
    write_json(
        other / "video_annotation" / "666666.json",
        {
            "video_id": "666666",
            "frames": [
                {"frame_index": 30, "annotations": []},
                {"frame_index": 41, "annotations": []},
            ],
        },
    )
    assert (
        annotation_grid([load_dataset(other)]) == 1
    )  # irregular: every frame counts as on the grid


def test_the_run_summary_groups_bad_inputs_by_kind_with_the_instances_under_it(
    sample_root, tmp_path
):
    """Eight annotated frames past one short clip's end are one kind, not eight keys."""
    import json
    import shutil

    root = tmp_path / "data"
    shutil.copytree(sample_root, root)
    ann = sorted((root / "video_annotation").glob("*.json"))[0]
    data = json.loads(ann.read_text())
    data["frames"] += [{"frame_index": 5000 + 40 * k, "annotations": []} for k in range(8)]
    ann.write_text(json.dumps(data))
    grouped = load_dataset([root]).summary.to_dict()["issues_by_reason"]
    past = grouped["frame past the clip's end"]
    assert len(past) == 8 and {i["path"] for i in past} == {str(ann)}
    assert sorted(int(i["reason"].split("frame_index ")[1].split(",")[0]) for i in past) == [
        5000 + 40 * k for k in range(8)
    ]
    assert not any(k.startswith("frame_index") for k in grouped)
