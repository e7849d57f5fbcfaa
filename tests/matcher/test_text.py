"""The text similarity of titles and transcripts (character n-gram TF-IDF)."""

import math

import pytest

from matcher.config import TextConfig
from matcher.text import grams, shared_words, text_scores


def test_grams_never_span_a_space_and_drop_punctuation():
    g = grams("红色，条纹 裙", TextConfig(ngram_min=1, ngram_max=2))
    assert g == {"红": 1, "色": 1, "条": 1, "纹": 1, "裙": 1, "红色": 1, "条纹": 1}


def test_similarity_against_a_plain_tf_idf():
    titles = {"a": "红色条纹", "b": "蓝色格子"}
    transcripts = {"v": "红红的条纹"}
    cfg = TextConfig(ngram_min=1, ngram_max=1)
    ts = text_scores(titles, transcripts, cfg)
    # by hand: idf of a character in one of two titles is log(3/2) + 1, in both log(3/3) + 1
    rare, common = math.log(1.5) + 1, 1.0
    a = {"红": rare, "色": common, "条": rare, "纹": rare}
    b = {"蓝": rare, "色": common, "格": rare, "子": rare}
    v = {"红": (1 + math.log(2)) * rare, "条": rare, "纹": rare}  # 的 is in no title: dropped

    def cos(x, y):
        dot = sum(x[k] * y.get(k, 0.0) for k in x)
        return (
            dot
            / math.sqrt(sum(t * t for t in x.values()))
            / math.sqrt(sum(t * t for t in y.values()))
        )

    assert ts("a", "v") == pytest.approx(cos(a, v), abs=1e-6)
    assert ts("b", "v") == pytest.approx(cos(b, v), abs=1e-6) == 0.0


def test_absent_texts_score_none_and_no_text_at_all_is_none():
    ts = text_scores({"a": "红色", "b": None}, {"v": "红色", "w": None})
    assert ts("a", "v") == pytest.approx(1.0)
    assert ts("b", "v") is None and ts("a", "w") is None and ts("x", "v") is None
    assert text_scores({"a": None}, {"v": "红色"}) is None
    assert text_scores({"a": "红色"}, {}) is None


def test_words_no_title_has_weigh_nothing():
    ts = text_scores({"a": "红色裙子", "b": "黑色裤子"}, {"v": "家人们晚上好 三二一上链接"})
    assert ts("a", "v") == 0.0 and ts("b", "v") == 0.0


def test_bad_ngram_range_is_refused():
    with pytest.raises(ValueError, match="ngram_min"):
        text_scores({"a": "x"}, {"v": "x"}, TextConfig(ngram_min=2, ngram_max=1))


def test_shared_words_are_the_longer_grams_both_have():
    assert shared_words("红色条纹短裙", "今天这款红色的条条短裙") == {"红色", "短裙"}


def test_a_twin_word_moves_the_score():
    """Near twins differ in a word: the transcript's word decides between them."""
    ts = text_scores({"a": "红色 竖条纹 短裙", "b": "红色 横条纹 短裙"}, {"v": "竖条纹的裙子"})
    assert 0 < ts("b", "v") < ts("a", "v") <= 1
