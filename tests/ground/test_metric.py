import json

import pytest

from ground.dataset import Dataset, load_dataset
from ground.errors import ResultFormatError
from ground.metric import (
    clip_counts,
    evaluate,
    load_result,
    oracle_result,
    score_of_counts,
    validate_entry,
)
from ground.structures import BoxAnnotation as B
from ground.structures import Item, Photo, Video

A1, A2, B1 = 20000101, 20000102, 20000201


@pytest.fixture
def gt():
    """Item 000001 (a two-piece set), item 000002; clips selling each, one selling an item with
    no folder (000003), one selling nothing."""
    items = {
        "000001": Item(
            "000001",
            [
                Photo("000001", "0", None, [B((10, 10, 50, 50), instance_id=A1)]),
                Photo("000001", "1", None, [B((0, 0, 20, 20), instance_id=A2)]),
            ],
        ),
        "000002": Item("000002", [Photo("000002", "0", None, [B((0, 0, 30, 30), instance_id=B1)])]),
    }
    videos = {
        "100001": Video(
            "100001",
            None,
            {
                0: [],
                40: [B((100, 100, 200, 200), instance_id=A1), B((0, 0, 10, 10), instance_id=0)],
                80: [B((0, 0, 10, 10), instance_id=0)],
                120: [B((0, 0, 40, 40), instance_id=A2)],
            },
        ),
        "100002": Video("100002", None, {40: [B((0, 0, 60, 60), instance_id=B1)]}),
        "100003": Video("100003", None, {40: [B((0, 0, 60, 60), instance_id=20000301)]}),
        "100004": Video("100004", None, {40: [B((0, 0, 60, 60), instance_id=0)]}),
    }
    return Dataset(roots=[], items=items, videos=videos)


def entry(
    item="000001", frame=40, img="0", item_box=(10, 10, 50, 50), frame_box=(100, 100, 200, 200)
):
    return {
        "item_id": item,
        "frame_index": frame,
        "result": [{"img_name": img, "item_box": list(item_box), "frame_box": list(frame_box)}],
    }


def levels(ev):
    return {k: s.correct for k, s in ev.levels.items()}


def test_perfect_entry_is_correct_at_every_level(gt):
    ev = evaluate({"100001": entry()}, gt)
    assert levels(ev) == {"item": 1, "frame": 1, "box": 1}
    assert ev.levels["box"].precision == 1.0 and ev.levels["box"].recall == 0.5
    assert ev.score == pytest.approx(2 * 0.5 / 1.5)  # every level F1 = 2/3


@pytest.mark.parametrize(
    "bad, failed_at, reason",
    [
        (entry(item="000002"), "item", "wrong item"),
        (entry(frame=20), "frame", "frame not annotated"),
        (entry(frame=80), "frame", "garment absent"),
        (entry(frame=0), "frame", "garment absent"),
        (entry(frame_box=(100, 100, 170, 170)), "box", "frame_box IoU"),
        (entry(item_box=(30, 30, 70, 70)), "box", "item_box IoU"),
        (entry(img="9"), "box", "unknown photo"),
        (
            entry(img="1", item_box=(0, 0, 20, 20)),
            "box",
            "item_box IoU",
        ),  # photo 1 shows the other piece
    ],
)
def test_each_condition_fails_at_its_level(gt, bad, failed_at, reason):
    ev = evaluate({"100001": bad}, gt)
    expected = {"item": 1, "frame": 1, "box": 0}
    if failed_at in ("item", "frame"):
        expected["frame"] = 0
    if failed_at == "item":
        expected["item"] = 0
    assert levels(ev) == expected
    assert [r for c, r in ev.failures[failed_at] if c == "100001"][0].startswith(reason)


def test_second_garment_of_a_set_counts(gt):
    ev = evaluate(
        {"100001": entry(frame=120, img="1", item_box=(0, 0, 20, 20), frame_box=(0, 0, 40, 40))}, gt
    )
    assert levels(ev) == {"item": 1, "frame": 1, "box": 1}


def test_iou_exactly_one_half_is_enough(gt):
    # frame box [100,100,200,150] has IoU 0.5 with [100,100,200,200]
    ev = evaluate({"100001": entry(frame_box=(100, 100, 200, 150))}, gt)
    assert levels(ev)["box"] == 1


@pytest.mark.parametrize(
    "clip, bad, reason",
    [
        ("100003", entry(item="000003"), "false positive"),
        ("100004", entry(), "false positive"),
        ("999999", entry(), "unknown clip"),
        ("100001", {"item_id": "000001", "result": []}, "malformed: missing key 'frame_index'"),
        ("100001", {**entry(), "result": []}, "malformed: 'result' is empty"),
        ("100001", {**entry(), "item_id": 1}, "malformed: 'item_id' must be str"),
        ("100001", entry(item_box=(50, 10, 10, 50)), "malformed: bad box"),
        (
            "100001",
            {**entry(), "result": [{"img_name": "0", "item_box": [1, 2, 3]}]},
            "malformed: missing key",
        ),
        ("100001", "000001", "malformed: entry is not an object"),
    ],
)
def test_wrong_and_malformed_entries_count_against_precision(gt, clip, bad, reason):
    ev = evaluate(
        {
            clip: bad,
            "100002": entry(
                item="000002", img="0", item_box=(0, 0, 30, 30), frame_box=(0, 0, 60, 60)
            ),
        },
        gt,
    )
    assert levels(ev) == {"item": 1, "frame": 1, "box": 1}
    assert ev.levels["item"].entries == 2 and ev.levels["item"].positives == 2
    assert ev.failures["item"][0] == (clip, ev.failures["item"][0][1])
    assert ev.failures["item"][0][1].startswith(reason)


def test_scores_follow_the_formula(gt):
    pred = {
        "100001": entry(frame=20),
        "100004": entry(),
    }  # item right / frame wrong; a false positive
    ev = evaluate(pred, gt)
    item = ev.levels["item"]
    assert (item.correct, item.entries, item.positives) == (1, 2, 2)
    assert item.f1 == pytest.approx(0.5)
    assert ev.levels["frame"].f1 == 0.0
    assert ev.score == pytest.approx(0.2 * 0.5)
    missed = [c for c, r in ev.failures["item"] if r.startswith("missed")]
    assert missed == ["100002"]


@pytest.mark.parametrize(
    "pred",
    [
        {},
        {"100001": entry()},
        {"100001": entry(frame=20), "100004": entry()},
        {
            "100001": entry(item="000002"),
            "100002": entry(item="000002", img="0"),
            "100003": entry(frame_box=(0, 0, 5, 5)),
        },
    ],
)
def test_clip_counts_sum_to_the_score_of_any_set_of_clips(gt, pred):
    """Each clip's counts (entry, sells a listed item, correct per level) summed give the score:
    of all clips, and of any subset scored alone (what a bootstrap over clips resamples)."""
    import numpy as np

    rows = clip_counts(pred, gt)
    assert set(rows) == set(gt.videos)
    assert score_of_counts(np.sum(list(rows.values()), axis=0)) == pytest.approx(
        evaluate(pred, gt).score
    )
    some = ["100001", "100004"]
    alone = Dataset(roots=[], items=gt.items, videos={v: gt.videos[v] for v in some})
    sub = {k: v for k, v in pred.items() if k in some}
    assert score_of_counts(np.sum([rows[v] for v in some], axis=0)) == pytest.approx(
        evaluate(sub, alone).score
    )
    assert rows["100004"][1] == 0 and rows["100002"][1] == 1  # sells nothing / sells a listed item


def test_empty_result_scores_zero(gt):
    ev = evaluate({}, gt)
    assert ev.score == 0.0 and ev.levels["item"].precision == 0.0


def test_json_report_has_the_documented_keys(gt):
    out = evaluate({"100001": entry()}, gt).to_dict()
    for level in ("item", "frame", "box"):
        assert set(out[level]) == {"precision", "recall", "f1"}
    assert {"score", "counts", "failure_counts", "failures"} <= set(out)
    assert out["failure_counts"]["item"] == {"missed": 1}
    json.dumps(out)


def test_oracle_scores_one(gt, sample_root):
    assert evaluate(oracle_result(gt), gt).score == pytest.approx(1.0)
    ds = load_dataset(sample_root)
    oracle = oracle_result(ds)
    assert len(oracle) == ds.summary.counts["videos selling an item"] > 0
    assert evaluate(oracle, ds).score == pytest.approx(1.0)


def test_load_result_rejects_non_objects(tmp_path):
    (tmp_path / "a.json").write_text("[1, 2]")
    (tmp_path / "b.json").write_text("{oops")
    with pytest.raises(ResultFormatError, match="a.json.*object"):
        load_result(tmp_path / "a.json")
    with pytest.raises(ResultFormatError, match="b.json.*not valid JSON"):
        load_result(tmp_path / "b.json")
    with pytest.raises(ResultFormatError, match="cannot read"):
        load_result(tmp_path / "missing.json")
    assert validate_entry(entry()) is None
