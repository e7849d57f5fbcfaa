from dataclasses import replace

import numpy as np
import pytest

from ground.errors import ConfigError
from matcher.config import VotingConfig
from matcher.crops import CropTable
from matcher.voting import keep_count, match_catalogue

REF = VotingConfig()


def scenario(cands, dim=8, seed=0):
    """``cands``: item -> list of (video, frame, distance), one per shop crop of the item. Each
    candidate becomes its own gallery crop; features are random (used only for evidence rules)."""
    rng = np.random.default_rng(seed)
    shop_rows, video_rows, dist, rows = [], [], [], []
    for item, items in sorted(cands.items()):
        for k, (video, frame, d) in enumerate(items):
            shop_rows.append((item, str(k), -1, [k, k, k + 10, k + 10], 0.9))
            rows.append(len(video_rows))
            dist.append(d)
            video_rows.append((video, "", frame, [frame, 0, frame + 20, 20], 0.9))
    return (
        table(shop_rows, rng, dim),
        table(video_rows, rng, dim),
        np.array(dist)[:, None],
        np.array(rows)[:, None],
    )


def table(rows, rng, dim):
    owner, name, frame, boxes, scores = zip(*rows) if rows else ([], [], [], np.empty((0, 4)), [])
    feats = rng.normal(size=(len(owner), dim)).astype(np.float32)
    feats /= np.linalg.norm(feats, axis=1, keepdims=True) + 1e-12
    return CropTable(owner, name, frame, boxes, scores, feats)


def test_keep_count_rounding():
    assert keep_count(0.28, 25) == 7  # 0.28 * 25 = 7.000000000000001 in floating point
    assert keep_count(0.28, 10) == 3
    assert keep_count(0.28, 1) == 1
    assert keep_count(0.5, 3) == 2
    assert keep_count(0.5, 0) == 0


def test_the_28_percent_cut_decides():
    # 7 nearest candidates -> video A; the 18 others -> video B (B has more votes overall).
    cands = {
        "000001": [("A", 80, 0.1 + 0.01 * i) for i in range(7)]
        + [("B", 80, 0.5 + 0.01 * i) for i in range(18)]
    }
    result = match_catalogue(*scenario(cands))
    assert result.matches["A"].item_id == "000001"
    assert result.claims[0].kept == 7 and result.claims[0].votes == 7
    everything = match_catalogue(*scenario(cands), replace(REF, keep_fraction=1.0))
    assert list(everything.matches) == ["B"]


def test_vote_cut_and_the_m_rules():
    # kept candidates: A x3 (0.5..0.7), B x1 (0.1), C x1 (0.2) -> V = 3
    cands = {
        "000001": [("A", 80, 0.5), ("A", 80, 0.6), ("A", 80, 0.7), ("B", 80, 0.1), ("C", 80, 0.2)]
    }
    all_kept = replace(REF, keep_fraction=1.0)
    # 50 %: ceil(1.5) = 2 finalists, A (most votes) and B (nearer than C): M > 1 -> nearest -> B
    result = match_catalogue(*scenario(cands), all_kept)
    claim = result.claims[0]
    assert (claim.videos, claim.finalists, claim.video_id) == (3, 2, "B")
    assert result.matches["B"].distance == pytest.approx(0.1) and result.matches["B"].votes == 1
    # 30 %: ceil(0.9) = 1 finalist: M = 1 -> the most voted video, A, at its nearest candidate
    result = match_catalogue(*scenario(cands), replace(all_kept, vote_fraction=0.3))
    assert (result.claims[0].finalists, result.claims[0].video_id) == (1, "A")
    assert result.matches["A"].distance == pytest.approx(0.5) and result.matches["A"].votes == 3


def test_m_zero_when_a_folder_has_no_candidate():
    shop, video, dist, rows = scenario({"000001": [("A", 80, 0.1)], "000002": [("A", 80, 0.2)]})
    rows[1, 0], dist[1, 0] = -1, np.inf  # the second folder's crop found nothing
    result = match_catalogue(shop, video, dist, rows)
    assert [c.item_id for c in result.claims] == ["000001"]
    empty = match_catalogue(shop, CropTable.empty(8), np.full((2, 1), np.inf), np.full((2, 1), -1))
    assert empty.matches == {} and empty.claims == []


def test_a_video_keeps_its_nearest_folder():
    cands = {"000001": [("A", 80, 0.4)], "000002": [("A", 80, 0.3)], "000003": [("A", 80, 0.5)]}
    result = match_catalogue(*scenario(cands))
    match = result.matches["A"]
    assert (match.item_id, match.runner_up_item) == ("000002", "000001")
    assert match.runner_up_distance == pytest.approx(0.4)


def test_distance_ties_go_to_the_smaller_item_id():
    cands = {"000009": [("A", 80, 0.3)], "000002": [("A", 80, 0.3)]}
    assert match_catalogue(*scenario(cands)).matches["A"].item_id == "000002"


def test_max_distance_cut_is_inclusive():
    cands = {"000001": [("A", 80, 1.12)], "000002": [("B", 80, 1.13)]}
    result = match_catalogue(*scenario(cands))
    assert list(result.matches) == ["A"]
    assert result.rejected["B"].startswith("too far")


def test_unclaimed_videos_are_reported():
    shop, video, dist, rows = scenario({"000001": [("A", 80, 0.1)]})
    extra = CropTable(
        ["Z"], [""], [80], [[0, 0, 5, 5]], [0.9], np.ones((1, 8), np.float32) / np.sqrt(8)
    )
    result = match_catalogue(shop, CropTable.concat([video, extra]), dist, rows)
    assert result.rejected == {"Z": "unclaimed: no folder voted for this video"}


def test_candidate_ties_break_by_query_order():
    cands = {"000001": [("B", 80, 0.2), ("A", 80, 0.2)]}
    result = match_catalogue(*scenario(cands), replace(REF, keep_fraction=0.5))
    assert result.claims[0].video_id == "B"  # equal distance: the earlier crop is kept


def with_scores(shop, video, dist, rows, shop_scores, video_scores):
    shop.scores[:] = shop_scores
    video.scores[:] = video_scores
    return shop, video, dist, rows


def test_boxes_come_from_the_highest_confidence_crops():
    cands = {"000001": [("A", 80, 0.1), ("A", 80, 0.2), ("A", 80, 0.3)]}
    args = with_scores(*scenario(cands), [0.91, 0.99, 0.95], [0.97, 0.92, 0.99])
    match = match_catalogue(*args).matches["A"]
    assert match.img_name == "1" and match.item_box == [1, 1, 11, 11]
    assert match.frame == 80 and match.frame_box == args[1].boxes[2].tolist()
    nearest = match_catalogue(*args, replace(REF, item_box="nearest"))
    assert nearest.matches["A"].img_name == "0"


def test_evidence_frame_moves_to_the_annotation_grid():
    # the nearest candidate sits on frame 100 (off the 40-frame grid); the video also has crops on
    # frames 80 and 120; the folder's crop is closest to the one on frame 120.
    shop, video, dist, rows = scenario({"000001": [("A", 100, 0.1)]})
    grid = CropTable(
        ["A", "A"],
        ["", ""],
        [80, 120],
        [[0, 0, 9, 9], [1, 1, 8, 8]],
        [0.9, 0.9],
        np.stack([-shop.features[0], shop.features[0] * 0.9 + 0.1 * video.features[0]]),
    )
    grid.features /= np.linalg.norm(grid.features, axis=1, keepdims=True)
    video = CropTable.concat([video, grid])
    match = match_catalogue(shop, video, dist, rows).matches["A"]
    assert match.frame == 120 and match.frame_box == [1, 1, 8, 8]
    off = match_catalogue(shop, video, dist, rows, replace(REF, prefer_annotation_grid=False))
    assert off.matches["A"].frame == 100
    alone = match_catalogue(*scenario({"000001": [("A", 100, 0.1)]}))
    assert alone.matches["A"].frame == 100  # no grid frame in the video: stays


def test_frame_box_nearest_option_picks_the_folder_lookalike():
    shop, video, dist, rows = scenario({"000001": [("A", 80, 0.1)]})
    other = CropTable(["A"], [""], [80], [[50, 50, 90, 90]], [0.99], -shop.features[:1])
    video = CropTable.concat([video, other])
    assert match_catalogue(shop, video, dist, rows).matches["A"].frame_box == [50, 50, 90, 90]
    near = match_catalogue(shop, video, dist, rows, replace(REF, frame_box="nearest"))
    assert near.matches["A"].frame_box == video.boxes[0].tolist()


def test_voting_is_deterministic_under_input_order():
    rng = np.random.default_rng(3)
    cands = {
        f"{i:06d}": [(f"V{rng.integers(5)}", 80, float(rng.uniform(0, 1.2))) for _ in range(6)]
        for i in range(8)
    }
    shop, video, dist, rows = scenario(cands)
    perm = rng.permutation(len(shop))
    a = match_catalogue(shop, video, dist, rows)
    b = match_catalogue(shop[perm], video, dist[perm], rows[perm])
    assert {v: m.item_id for v, m in a.matches.items()} == {
        v: m.item_id for v, m in b.matches.items()
    }


def test_item_box_paired_takes_the_photo_crop_nearest_the_frame_box():
    # three photo crops (say top, bottom, top from the back); the frame box is the video crop 2,
    # which looks like photo crop 2: "paired" shows the same garment on both sides.
    cands = {"000001": [("A", 80, 0.1), ("A", 80, 0.2), ("A", 80, 0.3)]}
    shop, video, dist, rows = with_scores(*scenario(cands), [0.9, 0.99, 0.9], [0.5, 0.5, 0.99])
    video.features[2] = shop.features[2]
    picks = {
        mode: match_catalogue(shop, video, dist, rows, replace(REF, item_box=mode)).matches["A"]
        for mode in ("confidence", "nearest", "paired")
    }
    assert {m: p.img_name for m, p in picks.items()} == {
        "confidence": "1",
        "nearest": "0",
        "paired": "2",
    }
    assert picks["paired"].item_box == shop.boxes[2].tolist()
    assert all(p.frame_box == video.boxes[2].tolist() for p in picks.values())


@pytest.mark.parametrize("bad", [{"item_box": "best"}, {"frame_box": "paired"}])
def test_unknown_evidence_rule_is_a_config_error(bad):
    with pytest.raises(ConfigError, match=next(iter(bad))):
        match_catalogue(*scenario({"000001": [("A", 80, 0.1)]}), replace(REF, **bad))


def test_a_match_lists_the_strongest_votes_behind_it():
    """vote_pairs: the folder's crops whose nearest video crop lies in the matched clip, nearest
    first, at most five, each with the frame crop it retrieved and their distance."""
    cands = {
        "A": [
            ("v1", 40, 0.5),
            ("v1", 80, 0.2),
            ("v2", 40, 0.1),
            ("v1", 120, 0.4),
            ("v1", 160, 0.3),
            ("v1", 200, 0.6),
            ("v1", 240, 0.7),
        ]
    }
    shop, video, dist, rows = scenario(cands)
    m = match_catalogue(
        shop, video, dist, rows, replace(REF, keep_fraction=1.0, max_distance=9.0)
    ).matches["v1"]
    assert [p["distance"] for p in m.pairs] == pytest.approx(
        [0.2, 0.3, 0.4, 0.5, 0.6]
    )  # v2's vote is not v1's
    assert [p["frame"] for p in m.pairs] == [80, 160, 120, 40, 200]
    assert m.pairs[0]["img_name"] == "1" and m.pairs[0]["frame_box"] == [80, 0, 100, 20]


def test_a_rejected_clip_keeps_the_votes_of_the_folder_that_came_nearest():
    """A clip whose nearest claim is beyond max_distance has no match, but its details say which
    folder came nearest and with which crop pairs (what a person checks for a missed clip)."""
    from matcher.result import to_details

    cands = {"A": [("v1", 40, 0.9), ("v1", 80, 0.8)]}
    result = match_catalogue(*scenario(cands), replace(REF, keep_fraction=1.0, max_distance=0.5))
    assert not result.matches and result.rejected["v1"].startswith("too far")
    item, pairs = result.near_misses["v1"]
    assert item == "A" and [p["distance"] for p in pairs] == pytest.approx([0.8, 0.9])
    details = to_details(result)["videos"]["v1"]
    assert details["nearest_item"] == "A" and [p["frame"] for p in details["pairs"]] == [80, 40]


def test_the_evidence_boxes_are_their_tables_functions(monkeypatch):
    """matcher.voting.FRAME_BOX / ITEM_BOX: the config's allowed boxes are their names, in the
    order the calibration tries them, and the box a match shows is the crop its entry picks."""
    from matcher import CHOICES
    from matcher.voting import FRAME_BOX, ITEM_BOX

    assert CHOICES["voting.frame_box"] is FRAME_BOX and list(FRAME_BOX) == ["confidence", "nearest"]
    assert CHOICES["voting.item_box"] is ITEM_BOX
    assert list(ITEM_BOX) == ["confidence", "nearest", "paired"]
    shop, video, dist, rows = scenario({"000001": [("A", 80, 0.1), ("A", 80, 0.2)]})
    for frame_box in FRAME_BOX:
        for item_box in ITEM_BOX:
            monkeypatch.setitem(FRAME_BOX, frame_box, lambda *a: 1)
            monkeypatch.setitem(ITEM_BOX, item_box, lambda *a: 1)
            cfg = replace(REF, frame_box=frame_box, item_box=item_box)
            match = match_catalogue(shop, video, dist, rows, cfg).matches["A"]
            assert match.frame_box == video.boxes[1].tolist() and match.img_name == shop.name[1]
