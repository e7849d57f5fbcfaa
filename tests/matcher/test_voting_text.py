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


@pytest.mark.parametrize("rule", list(RULES))
@pytest.mark.parametrize("assign", ["greedy", "global"])
def test_without_text_or_at_weight_0_the_vote_is_the_visual_one(rule, assign):
    cfg = VotingConfig(rule=rule, assign=assign)
    plain = match_catalogue(*scenario(TWINS), cfg)
    for weight, text in [(0.0, text_scores(TITLES, SAID)), (0.3, None)]:
        other = match_catalogue(*scenario(TWINS), replace(cfg, text_weight=weight), text)
        assert _details(other) == _details(plain) and to_result(other) == to_result(plain)
    assert "text_score" not in _details(plain)


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
    cands = {"000001": [("u", 40, 0.40), ("w", 40, 0.42)]}
    text = text_scores({"000001": "黑色 波点 连衣裙"}, {"u": "欢迎 家人们", "w": "黑色波点的裙子"})
    cfg = VotingConfig(keep_fraction=1.0, vote_fraction=1.0)
    assert list(match_catalogue(*scenario(cands), cfg, text).matches) == ["u"]
    moved = match_catalogue(*scenario(cands), replace(cfg, text_weight=0.1), text)
    assert list(moved.matches) == ["w"]
