"""The authors' voting arithmetic (``rule: original``), the set rule and the global
assignment, on hand-built contests. Distances passed in are Euclidean; the original rule
squares them."""

import logging
import math
from dataclasses import replace

import numpy as np
import pytest

from ground.errors import ConfigError
from matcher.config import VotingConfig
from matcher.sweep import sweep_votes
from matcher.voting import match_catalogue
from tests.matcher.test_voting import scenario, with_scores

ORIGINAL = VotingConfig(rule="original", prefer_annotation_grid=False)
GLOBAL = VotingConfig(
    assign="global", keep_fraction=1.0, vote_fraction=1.0, max_distance=float("inf")
)


def e(squared: float) -> float:
    """The Euclidean distance whose square is ``squared``."""
    return math.sqrt(squared)


def test_one_crop_keeps_nothing_under_the_original_rule():
    cands = {"000001": [("A", 80, 0.1)]}
    assert match_catalogue(*scenario(cands), ORIGINAL).matches == {}
    assert list(match_catalogue(*scenario(cands)).matches) == [
        "A"
    ]  # written: max(1, ceil) keeps one


def test_ties_at_the_quantile_drop_out():
    # squared distances 0.1, 0.3, 0.3, 0.3: quantile(0.5) = 0.3, strict < keeps only the 0.1 on A
    cands = {"000001": [("A", 80, e(0.1)), ("B", 80, e(0.3)), ("B", 80, e(0.3)), ("B", 80, e(0.3))]}
    result = match_catalogue(*scenario(cands), replace(ORIGINAL, keep_fraction=0.5))
    assert list(result.matches) == ["A"] and result.claims[0].kept == 1
    written = match_catalogue(*scenario(cands), replace(VotingConfig(), keep_fraction=0.5))
    assert written.claims[0].kept == 2  # ceil(0.5 * 4) = 2 nearest: A and one B


@pytest.mark.parametrize(
    "kept_videos, expected",
    [
        (["A"], ["A"]),  # K = 1: round(0.5) = 0, every kept video passes
        (
            ["A", "B", "C"],
            [],
        ),  # K = 3: round(1.5) = 2 votes needed: three single votes give no match
        (["A", "A", "B"], ["A"]),
        (
            ["A", "A", "B", "B", "C"],
            ["B"],
        ),  # K = 5: round(2.5) = 2: A and B pass; B has the larger mean
    ],
)
def test_vote_cut_rounds_half_to_even(kept_videos, expected):
    # the kept candidates sit at squared 0.01 * k; one far candidate per folder sets the quantile
    near = [(v, 80, e(0.01 * (k + 1))) for k, v in enumerate(kept_videos)]
    cands = {"000001": near + [("Z", 80, e(0.9))] * 3}
    k = len(kept_videos)
    # quantile at fraction f of n = k + 3 sorted values lands between the k-th and (k+1)-th
    frac = (k - 0.5) / (k + 2)
    result = match_catalogue(
        *scenario(cands), replace(ORIGINAL, keep_fraction=frac, max_distance=9.0)
    )
    if expected:
        assert result.claims[0].kept == k
    assert list(result.matches) == expected


def test_several_finalists_take_the_largest_mean_distance():
    # kept: A (0.01), B (0.02); B's mean over all its candidates (0.02, 0.8) beats A's (0.01, 0.05)
    cands = {
        "000001": [("A", 80, e(0.01)), ("B", 80, e(0.02)), ("A", 80, e(0.05)), ("B", 80, e(0.8))]
    }
    result = match_catalogue(*scenario(cands), replace(ORIGINAL, keep_fraction=0.5))
    assert list(result.matches) == ["B"]
    assert result.matches["B"].distance == pytest.approx(
        0.02, abs=1e-3
    )  # mean of the kept voters, squared
    assert list(
        match_catalogue(*scenario(cands), replace(VotingConfig(), keep_fraction=0.5)).matches
    ) == ["A"]


def test_stale_video_case_is_no_match_with_a_warning(caplog):
    # kept: A and B at distance 0 (one vote each, both finalists); no mean above 0
    cands = {"000001": [("A", 80, 0.0), ("B", 80, 0.0), ("C", 80, e(0.5)), ("C", 80, e(0.6))]}
    with caplog.at_level(logging.WARNING):
        result = match_catalogue(*scenario(cands), replace(ORIGINAL, keep_fraction=0.5))
    assert result.matches == {} and "stale" in caplog.text


def test_video_claimed_by_two_folders_keeps_the_smaller_mean():
    cands = {
        "000001": [("A", 80, e(0.3)), ("A", 80, e(0.5)), ("Z", 80, e(1.5))] * 2,
        "000002": [("A", 80, e(0.2)), ("A", 80, e(0.4)), ("Z", 80, e(1.5))] * 2,
    }
    result = match_catalogue(
        *scenario(cands), replace(ORIGINAL, keep_fraction=0.7, max_distance=9.0)
    )
    match = result.matches["A"]
    assert (match.item_id, match.runner_up_item) == ("000002", "000001")  # kept means 0.3 < 0.4
    assert (match.distance, match.runner_up_distance) == pytest.approx((0.3, 0.4), abs=1e-3)


@pytest.mark.parametrize("squared, kept", [(1.11, True), (1.12, False), (1.13, False)])
def test_original_cut_drops_from_1_12_squared(squared, kept):
    cands = {"000001": [("A", 80, e(squared)), ("A", 80, e(squared)), ("Z", 80, e(3.0))]}
    result = match_catalogue(*scenario(cands), replace(ORIGINAL, keep_fraction=0.9))
    assert ("A" in result.matches) is kept


def test_original_evidence_is_the_most_confident_voter():
    # the three crops all vote for A; the second shop crop and the third video crop are the most
    # confident
    cands = {
        "000001": [("A", 80, e(0.1)), ("A", 120, e(0.2)), ("A", 160, e(0.3)), ("Z", 80, e(1.9))]
    }
    args = with_scores(*scenario(cands), [0.91, 0.99, 0.95, 0.999], [0.97, 0.92, 0.99, 0.5])
    match = match_catalogue(*args, replace(ORIGINAL, keep_fraction=0.9)).matches["A"]
    assert (
        match.img_name == "1"
        and match.frame == 160
        and match.frame_box == args[1].boxes[2].tolist()
    )


def test_global_assignment_gives_the_loser_its_next_video():
    # both folders' nearest is A; folder 1 also reaches B. Greedy: A keeps its nearest folder, B
    # stays empty
    cands = {"000001": [("A", 80, 0.2), ("B", 80, 0.3)], "000002": [("A", 80, 0.25)]}
    greedy = match_catalogue(*scenario(cands), replace(GLOBAL, assign="greedy"))
    assert {v: m.item_id for v, m in greedy.matches.items()} == {"A": "000001"}
    assert greedy.rejected["B"].startswith("unclaimed")
    both = match_catalogue(*scenario(cands), GLOBAL)
    assert {v: m.item_id for v, m in both.matches.items()} == {"A": "000002", "B": "000001"}
    assert both.matches["A"].runner_up_item == "000001"
    # with a cut below B's pair, the cheaper single pair wins: A -> 000001 (0.2 < 0.25)
    cut = match_catalogue(*scenario(cands), replace(GLOBAL, max_distance=0.26))
    assert {v: m.item_id for v, m in cut.matches.items()} == {"A": "000001"}
    assert cut.rejected["B"].startswith("too far")


def test_global_assignment_prefers_the_smaller_total_distance():
    # two folders, two videos, every pair allowed: 1A + 2B = 0.5 beats 1B + 2A = 0.9
    cands = {"000001": [("A", 80, 0.2), ("B", 80, 0.4)], "000002": [("A", 80, 0.5), ("B", 80, 0.3)]}
    result = match_catalogue(*scenario(cands), GLOBAL)
    assert {v: m.item_id for v, m in result.matches.items()} == {"A": "000001", "B": "000002"}


def test_calibrating_a_global_assignment_re_solves_at_each_cut():
    cands = {"000001": [("A", 80, 0.2), ("B", 80, 0.3)], "000002": [("A", 80, 0.25)]}
    truth = {"A": "000002", "B": "000001"}

    def accuracy(pred):
        return sum(truth.get(v) == e["item_id"] for v, e in pred.items()) / len(truth)

    grid = {"keep_fraction": [1.0], "vote_fraction": [1.0], "max_distance": [0.26, 1.0]}
    table = sweep_votes(*scenario(cands), accuracy, GLOBAL, grid)
    assert (table[0]["max_distance"], table[0]["score"]) == (1.0, 1.0)
    assert [r["score"] for r in table if r["max_distance"] == 0.26] == [0.0]


@pytest.mark.parametrize("key, value", [("rule", "paper"), ("assign", "hungarian")])
def test_unknown_choices_name_the_key(key, value):
    with pytest.raises(ConfigError, match=f"matcher.voting.{key}"):
        match_catalogue(
            *scenario({"000001": [("A", 80, 0.1)]}), replace(VotingConfig(), **{key: value})
        )


def test_a_config_with_an_unknown_rule_fails_at_load(tmp_path):
    from livematch.config import load_config

    path = tmp_path / "bad.yaml"
    path.write_text("matcher:\n  voting:\n    assign: hungarian\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*matcher\.voting\.assign.*greedy, global"):
        load_config(path)
    assert load_config(None, ["matcher.voting.rule=original"]).matcher.voting.rule == "original"


def set_case():
    """Two folders, two clips, features built by hand. Folder 1 (photo u) is sold in clip A,
    folder 2 (photo w) in clip B. Clip A shows u once at cosine 0.8 (its other crops are
    unrelated); clip B shows w three times."""
    from matcher.crops import CropTable

    dim = 6
    e = np.eye(dim, dtype=np.float32)
    u, w = e[0], e[1]

    def unit(v):
        return (v / np.linalg.norm(v)).astype(np.float32)

    shop = CropTable(
        ["000001", "000002"],
        ["0", "0"],
        [-1, -1],
        [[0, 0, 9, 9], [1, 1, 8, 8]],
        [0.9, 0.9],
        np.stack([u, w]),
    )
    a = [unit(0.8 * u + 0.6 * e[2]), e[3], e[4]]
    b = [unit(w + 0.1 * e[5])] * 3
    video = CropTable(
        ["A"] * len(a) + ["B"] * len(b),
        [""] * (len(a) + len(b)),
        [80] * (len(a) + len(b)),
        [[k, k, k + 5, k + 5] for k in range(len(a) + len(b))],
        [0.9] * (len(a) + len(b)),
        np.stack(a + b),
    )
    return shop, video, np.zeros((2, 1), np.float32), np.zeros((2, 1), np.int64)


SET = VotingConfig(
    rule="set", set_top_k=1, hub_k=0, max_distance=float("inf"), prefer_annotation_grid=False
)


def test_set_rule_scores_each_folder_clip_pair_as_a_whole():
    result = match_catalogue(*set_case(), SET)
    assert {v: m.item_id for v, m in result.matches.items()} == {"A": "000001", "B": "000002"}
    assert result.matches["A"].distance == pytest.approx(
        1 - 0.8, abs=1e-5
    )  # 1 - best cosine (top_k 1)
    assert result.matches["B"].frame_box == [3, 3, 8, 8]  # B's best crop for folder 2 is its first


def test_set_rule_top_k_averages_the_clip_s_best_crops():
    shop, video, dist, rows = set_case()
    top3 = match_catalogue(shop, video, dist, rows, replace(SET, set_top_k=3))
    # folder 1 vs A: cosines 0.8, 0, 0 -> mean 0.267; folder 2 vs B: three near copies of w
    assert top3.matches["A"].distance == pytest.approx(1 - 0.8 / 3, abs=1e-5)
    assert top3.matches["B"].distance == pytest.approx(1 - 1 / np.sqrt(1.01), abs=1e-5)


def test_hub_correction_stops_a_clip_from_drawing_every_folder():
    """Folders 1-3 (photos e0, e1, e2) are sold in clips A, B, C (cosines 0.6, 0.9, 0.9); clip H
    sells nothing but holds one crop at cosine 0.7 to each folder: a hub."""
    from matcher.crops import CropTable

    e = np.eye(10, dtype=np.float32)

    def crop(i, cos, spare):
        return cos * e[i] + np.sqrt(1 - cos**2) * e[spare]

    shop = CropTable(
        ["000001", "000002", "000003"], ["0"] * 3, [-1] * 3, [[0, 0, 9, 9]] * 3, [0.9] * 3, e[:3]
    )
    crops = [
        ("A", crop(0, 0.6, 3)),
        ("B", crop(1, 0.9, 4)),
        ("C", crop(2, 0.9, 5)),
        ("H", crop(0, 0.7, 6)),
        ("H", crop(1, 0.7, 7)),
        ("H", crop(2, 0.7, 8)),
    ]
    video = CropTable(
        [c[0] for c in crops],
        [""] * 6,
        [80] * 6,
        [[k, k, k + 5, k + 5] for k in range(6)],
        [0.9] * 6,
        np.stack([c[1] for c in crops]).astype(np.float32),
    )
    args = (shop, video, np.zeros((3, 1), np.float32), np.zeros((3, 1), np.int64))
    greedy = replace(SET, assign="greedy")
    plain = match_catalogue(*args, greedy)
    assert {v: m.item_id for v, m in plain.matches.items()} == {
        "H": "000001",
        "B": "000002",
        "C": "000003",
    }
    # hub_k 2: folder 1 -> A 2(0.6) - 0.65 - 0.3 = 0.25 beats H 2(0.7) - 0.65 - 0.7 = 0.05
    fixed = match_catalogue(*args, replace(greedy, hub_k=2))
    assert {v: m.item_id for v, m in fixed.matches.items()} == {
        "A": "000001",
        "B": "000002",
        "C": "000003",
    }
    assert fixed.matches["A"].distance == pytest.approx(1 - 0.25, abs=1e-5)


def test_a_new_rule_is_one_function_and_one_table_line(monkeypatch):
    """A rule added to matcher.voting.RULES alone (one Rule entry): the config accepts its name,
    the calibration's vote grid offers it, and match_catalogue votes with it."""
    from livematch.calibration import vote_rules
    from livematch.config import load_config
    from matcher import voting
    from matcher.voting import RULES, Claim, Rule, per_folder

    def farthest(item_id, query_rows, dist, rows, shop, video, cfg):
        """Each folder claims the clip of its *farthest* crop pair (to tell it from every real
        rule)."""
        k = int(np.argmax(dist))
        video_id = str(video.owner[rows[k]])
        return [
            Claim(item_id, video_id, float(dist[k]), 1, 1, 1, 1, int(query_rows[k]), int(rows[k]))
        ]

    with pytest.raises(ConfigError, match="matcher.voting.rule is 'farthest'"):
        load_config(None, ["matcher.voting.rule=farthest"])
    monkeypatch.setitem(RULES, "farthest", Rule(per_folder(farthest)))
    assert load_config(None, ["matcher.voting.rule=farthest"]).matcher.voting.rule == "farthest"
    assert vote_rules(["farthest/greedy"]) == [("farthest", "greedy")]  # fit.vote_rules may name it
    cands = {"000001": [("A", 80, 0.1), ("B", 80, 0.3)]}
    cfg = replace(VotingConfig(), rule="farthest", max_distance=9.0)
    assert list(match_catalogue(*scenario(cands), cfg).matches) == ["B"]
    assert list(match_catalogue(*scenario(cands), replace(cfg, rule="written")).matches) == ["A"]
    assert voting.CHOICES["voting.rule"] is RULES  # the config's choices are the table itself


@pytest.mark.parametrize("name", ["written", "original", "set"])
def test_each_rule_entry_says_what_the_matcher_does_with_it(name):
    """matcher.voting.RULES: the config's allowed rules are its names; a rule whose entry says
    ``squared`` answers squared distances and is cut strictly; one whose entry says ``fractions``
    is swept over keep / vote fractions."""
    from matcher import CHOICES
    from matcher.voting import RULES, accepts

    assert CHOICES["voting.rule"] is RULES and name in RULES
    rule = RULES[name]
    cfg = replace(VotingConfig(), rule=name, keep_fraction=0.9, prefer_annotation_grid=False)
    assert accepts(0.5, replace(cfg, max_distance=0.5)) is not rule.squared
    cands = {"000001": [("A", 80, 0.5), ("A", 80, 0.5), ("Z", 80, 1.9)]}
    if name != "set":  # the set rule's distance is 1 - a similarity of the (random) features
        distance = match_catalogue(*scenario(cands), cfg).matches["A"].distance
        assert distance == pytest.approx(0.25 if rule.squared else 0.5, abs=1e-4)

    def claims(keep):
        result = match_catalogue(*scenario(cands), replace(cfg, keep_fraction=keep))
        return [(c.video_id, c.kept) for c in result.claims]

    assert (claims(0.3) != claims(1.0)) is rule.fractions  # the fractions shape its claims
    grid = {"keep_fraction": [0.3, 1.0], "vote_fraction": [1.0], "max_distance": [9.0]}
    table = sweep_votes(*scenario(cands), lambda pred: 0.0, cfg, grid)
    assert len({row["keep_fraction"] for row in table}) == (2 if rule.fractions else 1)


@pytest.mark.parametrize("name", ["greedy", "global"])
def test_each_assignment_entry_says_whether_the_sweep_solves_it_again(name):
    """matcher.voting.ASSIGN: the config's allowed assignments are its names; the sweep's score
    at a cut-off is the score of voting with that cut-off (a ``joint`` assignment changes with
    the cut, so the sweep solves it again)."""
    from matcher import CHOICES
    from matcher.result import to_result
    from matcher.voting import ASSIGN

    assert CHOICES["voting.assign"] is ASSIGN and list(ASSIGN) == ["greedy", "global"]
    cands = {"000001": [("A", 80, 0.2), ("B", 80, 0.3)], "000002": [("A", 80, 0.25)]}
    truth = {"A": "000001"}

    def score(pred):
        return sum(truth.get(v) == e["item_id"] for v, e in pred.items())

    cfg = replace(GLOBAL, assign=name)
    grid = {"keep_fraction": [1.0], "vote_fraction": [1.0], "max_distance": [0.26]}
    row = sweep_votes(*scenario(cands), score, cfg, grid)[0]
    at_cut = match_catalogue(*scenario(cands), replace(cfg, max_distance=0.26))
    assert row["score"] == score(to_result(at_cut))
    assert ASSIGN[name].joint is (name == "global")
