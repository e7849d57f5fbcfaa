"""The words beside the pictures in the vote: each claim's distance minus the weighted text
similarity of the folder's title and the clip's transcript."""

import json
from dataclasses import replace

import pytest

from matcher.config import VotingConfig
from matcher.result import to_details, to_result
from matcher.text import text_scores
from matcher.voting import RULES, match_catalogue
from tests.matcher.test_voting import scenario

# Twins A (000001) and B (000002) both vote for clip v; B is a little nearer in pixels.
TWINS = {
    "000001": [("v", 40, 0.52), ("v", 80, 0.53)],
    "000002": [("v", 40, 0.50), ("v", 80, 0.51)],
}
TITLES = {"000001": "红色 竖条纹 短裙", "000002": "红色 横条纹 短裙"}
SAID = {"v": "家人们 今天这款竖条纹的裙子 只要99元"}


def _details(result):
    return json.dumps(to_details(result), sort_keys=True)


def test_the_transcript_decides_between_twins():
    text = text_scores(TITLES, SAID)
    pictures = match_catalogue(*scenario(TWINS), VotingConfig(), text)  # weight 0: pictures
    assert pictures.matches["v"].item_id == "000002"
    words = match_catalogue(*scenario(TWINS), VotingConfig(text_weight=0.2), text)
    m = words.matches["v"]
    assert m.item_id == "000001" and m.text_score == pytest.approx(text("000001", "v"))
    assert m.distance == pytest.approx(0.52 - 0.2 * text("000001", "v"), abs=1e-6)
    assert m.runner_up_item == "000002"
    details = to_details(words)
    assert details["videos"]["v"]["text_score"] == m.text_score
    assert details["folders"]["000002"]["text_score"] == pytest.approx(text("000002", "v"))


# Multi-finalist folders: 000001 votes for A (nearer) and B, 000002 for B and C.
MANY = {
    "000001": [("A", 40, 0.30), ("B", 40, 0.34), ("A", 80, 0.36), ("B", 80, 0.60)],
    "000002": [("B", 40, 0.32), ("C", 40, 0.33), ("C", 80, 0.40), ("B", 80, 0.41)],
}
MANY_TEXT = {"000001": "红色 波点 连衣裙", "000002": "黑色 格子 长裤"}
SAY = {"A": "今天这款波点裙子", "B": "欢迎 家人们", "C": "黑色格子的裤子"}


@pytest.mark.parametrize("rule", list(RULES))
@pytest.mark.parametrize("assign", ["greedy", "global"])
@pytest.mark.parametrize("cands", [TWINS, MANY], ids=["twins", "several finalists"])
def test_without_text_or_at_weight_0_the_vote_is_the_visual_one(rule, assign, cands):
    cfg = VotingConfig(rule=rule, assign=assign, keep_fraction=1.0, vote_fraction=1.0)
    plain = match_catalogue(*scenario(cands), cfg)
    text = text_scores(MANY_TEXT | TITLES, SAY | SAID)
    for weight, words in [(0.0, text), (0.3, None)]:
        other = match_catalogue(*scenario(cands), replace(cfg, text_weight=weight), words)
        assert _details(other) == _details(plain) and to_result(other) == to_result(plain)
    assert "text_score" not in _details(plain)


@pytest.mark.parametrize("rule", list(RULES))
def test_words_that_say_nothing_leave_every_pick(rule):
    """Transcripts sharing no word with any title: every text score is 0, and each folder picks
    what the pictures picked, under every rule (the original rule's largest-mean pick too)."""
    cfg = VotingConfig(rule=rule, keep_fraction=1.0, vote_fraction=1.0)
    quiet = text_scores(MANY_TEXT, {v: "欢迎 家人们" for v in "ABC"})
    plain = match_catalogue(*scenario(MANY), cfg)
    words = match_catalogue(*scenario(MANY), replace(cfg, text_weight=0.5), quiet)
    assert to_result(words) == to_result(plain)
    assert [c.video_id for c in words.claims] == [c.video_id for c in plain.claims]
    assert all(c.text_score == 0.0 for c in words.claims)


def test_the_original_rule_keeps_its_largest_mean_pick_with_words():
    """The original rule picks its largest-mean finalist (B), not its nearest (A): words that say
    nothing of either leave that pick."""
    from tests.matcher.test_voting_rules import e

    cands = {
        "000001": [("A", 80, e(0.01)), ("B", 80, e(0.02)), ("A", 80, e(0.05)), ("B", 80, e(0.8))]
    }
    cfg = VotingConfig(rule="original", keep_fraction=0.5)
    assert list(match_catalogue(*scenario(cands), cfg).matches) == ["B"]
    quiet = text_scores({"000001": "红色 短裙", "000002": "黑色 长裤"}, {v: "欢迎" for v in "ABC"})
    words = match_catalogue(*scenario(cands), replace(cfg, text_weight=0.5), quiet)
    assert list(words.matches) == ["B"] and words.matches["B"].text_score == 0.0


def test_a_pair_without_text_keeps_its_visual_distance():
    """Folder 000002 has no title: its claim is the visual one; 000001's moves."""
    text = text_scores({"000001": TITLES["000001"], "000002": None}, SAID)
    words = match_catalogue(*scenario(TWINS), VotingConfig(text_weight=0.2), text)
    folders = to_details(words)["folders"]
    assert (
        folders["000002"]["distance"] == pytest.approx(0.50)
        and "text_score" not in folders["000002"]
    )
    assert folders["000001"]["distance"] < 0.52


def test_text_reorders_a_folders_claims():
    """A folder's pick is its nearest claim after the words: the clip whose transcript says its
    title wins over a clip a little nearer in pixels."""
    cands = {"000001": [("u", 40, 0.40), ("w", 40, 0.42)], "000002": [("x", 40, 0.5)]}
    titles = {"000001": "黑色 波点 连衣裙", "000002": "白色 格子 长裤"}
    text = text_scores(titles, {"u": "欢迎 家人们", "w": "黑色波点的裙子", "x": "格子长裤"})
    cfg = VotingConfig(keep_fraction=1.0, vote_fraction=1.0)
    assert sorted(match_catalogue(*scenario(cands), cfg, text).matches) == ["u", "x"]
    moved = match_catalogue(*scenario(cands), replace(cfg, text_weight=0.1), text)
    assert sorted(moved.matches) == ["w", "x"]
