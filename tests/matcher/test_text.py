"""The text similarity of titles and transcripts (character n-gram TF-IDF) and the vote's text
score."""

import math

import pytest

from ground.errors import ConfigError
from livematch.config import load_config
from matcher.config import TextConfig
from matcher.crops import FeatureError
from matcher.text import grams, shared_words, text_scores


def test_grams_are_runs_of_letters_only():
    g = grams("红色，条纹 裙 99元 XL", TextConfig(ngram_min=1, ngram_max=2))
    assert g == {
        "红": 1, "色": 1, "条": 1, "纹": 1, "裙": 1, "元": 1, "x": 1, "l": 1,
        "红色": 1, "条纹": 1, "xl": 1,
    }  # fmt: skip


def _cos(x, y):
    dot = sum(x[k] * y.get(k, 0.0) for k in x)
    return (
        dot / math.sqrt(sum(t * t for t in x.values())) / math.sqrt(sum(t * t for t in y.values()))
    )


def test_similarity_against_a_plain_tf_idf():
    titles = {"a": "红色条纹", "b": "蓝色格子"}
    ts = text_scores(titles, {"v": "红红的条纹"}, TextConfig(ngram_min=1, ngram_max=1))
    # by hand: idf of a character in one of two titles is log(3/2) + 1, in both log(3/3) + 1
    rare, common = math.log(1.5) + 1, 1.0
    a = {"红": rare, "色": common, "条": rare, "纹": rare}
    v = {"红": (1 + math.log(2)) * rare, "条": rare, "纹": rare}  # 的 is in no title: dropped
    assert ts.similarity("a", "v") == pytest.approx(_cos(a, v), abs=1e-6)
    assert ts.similarity("b", "v") == 0.0
    # the vote's score: minus the clip's mean similarity over the titled folders
    assert ts("a", "v") == pytest.approx(_cos(a, v) / 2, abs=1e-6)
    assert ts("b", "v") == pytest.approx(-_cos(a, v) / 2, abs=1e-6)


def test_words_every_title_has_lift_no_folder():
    """款 is in every title: a transcript saying only it scores 0 for each (no edge over a folder
    without a title)."""
    ts = text_scores({"a": "红色 新款", "b": "黑色 新款", "c": None}, {"v": "这一款"})
    assert ts.similarity("a", "v") > 0 and ts("a", "v") == pytest.approx(0.0, abs=1e-9)
    assert ts("b", "v") == pytest.approx(0.0, abs=1e-9) and ts("c", "v") is None


def test_a_price_never_matches_a_year():
    ts = text_scores({"a": "2026新款 红色 短裙", "b": "韩版 黑色 长裤"}, {"v": "福利价126元"})
    assert ts.similarity("a", "v") == 0.0 and ts.similarity("b", "v") == 0.0


def test_absent_or_empty_texts_score_none_and_no_text_at_all_is_none():
    ts = text_scores({"a": "红色", "b": None, "e": ""}, {"v": "红色", "w": None, 7: "红"})
    assert ts.similarity("a", "v") == pytest.approx(1.0) and ts("a", "7") is not None
    assert ts("b", "v") is None and ts("e", "v") is None and ts("a", "w") is None
    assert text_scores({"a": None}, {"v": "红色"}) is None
    assert text_scores({"a": "红色"}, {}) is None


def test_words_no_title_has_weigh_nothing():
    ts = text_scores({"a": "红色裙子", "b": "黑色裤子"}, {"v": "家人们晚上好 三二一上链接"})
    assert ts.similarity("a", "v") == 0.0 and ts("a", "v") == 0.0


@pytest.mark.parametrize(
    "override",
    ["matcher.text.ngram_min=0", "matcher.text.ngram_max=0", "matcher.voting.text_weight=-1"],
)
def test_bad_text_settings_fail_when_the_config_loads(override):
    with pytest.raises(ConfigError, match=override.split("=")[0].rsplit(".", 1)[1]):
        load_config(None, [override])


def test_shared_words_are_the_longer_grams_both_have():
    assert shared_words("红色条纹短裙", "今天这款红色的条条短裙") == {"红色", "短裙"}


def test_a_twin_word_moves_the_score():
    """Near twins differ in a word: the transcript's word decides between them."""
    ts = text_scores({"a": "红色 竖条纹 短裙", "b": "红色 横条纹 短裙"}, {"v": "竖条纹的裙子"})
    assert 0 < ts.similarity("b", "v") < ts.similarity("a", "v") <= 1
    assert ts("a", "v") > 0 > ts("b", "v")


def _store(**texts):
    import numpy as np

    from matcher.crops import CropTable
    from matcher.store import FeatureStore

    def table(owners):
        f = np.eye(4, dtype=np.float32)[: len(owners)]
        return CropTable(
            owners,
            ["0"] * len(owners),
            [-1] * len(owners),
            np.ones((len(owners), 4)),
            np.ones(len(owners)),
            f,
        )

    return FeatureStore(table(["1", "2"]), table(["v", "w"]), **texts)


def test_the_store_carries_its_texts_to_disk_and_back(tmp_path):
    from matcher.store import TEXT_FILE, load_store, save_store

    store = _store(titles={1: "红色 短裙", "2": "黑色 长裤"}, transcripts={"v": "红色的裙子"})
    assert store.titles == {"1": "红色 短裙", "2": "黑色 长裤"}  # ids as the tables hold them
    save_store(tmp_path, store)
    back = load_store(tmp_path)
    assert back.titles == store.titles and back.transcripts == store.transcripts
    save_store(tmp_path, _store())  # a store without text leaves no earlier text.json behind
    assert not (tmp_path / TEXT_FILE).exists() and load_store(tmp_path).titles == {}
    (tmp_path / TEXT_FILE).write_text('{"titles": {"1": 5}}')
    with pytest.raises(FeatureError, match=f"{TEXT_FILE}: not a text file"):
        load_store(tmp_path)


def test_a_part_of_the_store_keeps_the_texts_of_its_folders_and_clips():
    store = _store(titles={"1": "红色", "2": "黑色"}, transcripts={"v": "红", "w": "黑"})
    part = store.subset(store.shop[[0]], store.video[[1]])
    assert part.titles == {"1": "红色"} and part.transcripts == {"w": "黑"}
    wide = store.subset(store.shop[[0]], store.video[[1]], items={"1", "2"}, clips={"v"})
    assert wide.titles == store.titles and wide.transcripts == {"v": "红"}
