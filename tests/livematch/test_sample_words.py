"""The sample data's words: shop titles and presenters' transcripts."""

import numpy as np

from ground.dataset import load_dataset
from livematch.sampledata import words
from livematch.sampledata.garments import VARIED_PATTERNS, random_spec, similar_spec, twin_spec
from livematch.sampledata.generate import SampleConfig, generate_dataset
from matcher.text import text_scores
from tests.livematch.test_sampledata import TINY, _digest


def _specs(n=30, seed=0):
    rng = np.random.default_rng(seed)
    return [random_spec(rng, patterns=VARIED_PATTERNS) for _ in range(n)]


def test_a_title_says_the_garment_in_a_shops_words():
    spec = _specs(1)[0]
    title = words.title([spec], np.random.default_rng(1))
    assert spec.label in title and words.PATTERNS[spec.pattern][0] in title
    assert words.COLOURS[spec.colors[0]][0] in title
    two = words.title([spec, _specs(2, 5)[1]], np.random.default_rng(1))
    assert "套装" in two


def test_near_twins_differ_in_a_word_or_two():
    rng = np.random.default_rng(3)
    differ = []
    for spec in _specs(40, 7):
        for twin in (twin_spec(spec, rng), similar_spec(spec, rng)):
            a, b = set(words.attributes(spec)), set(words.attributes(twin))
            differ.append(len(a ^ b))
    assert np.median(differ) <= 4  # a word or two on each side
    assert sum(d > 0 for d in differ) >= 0.6 * len(differ)  # some twins only the pixels tell


def test_transcripts_say_the_sold_garment_loosely_and_sometimes_nothing():
    specs = _specs(60, 11)
    rng = np.random.default_rng(0)
    said = [words.transcript([s], specs[:3], rng, silent=0.15) for s in specs]
    named = [any(c in t for c in words.CALLED[s.label]) for s, t in zip(specs, said)]
    assert 0.7 <= np.mean(named) < 1.0  # most clips name the garment, some say nothing useful
    assert all("元" in t for t in said)  # a price in every clip
    nothing = words.transcript(None, [], np.random.default_rng(1), silent=0.0)
    assert not any(c in nothing for called in words.CALLED.values() for c in called)


def test_the_transcript_points_at_its_title_more_often_than_chance():
    specs = _specs(30, 2)
    titles = {
        f"{k:03d}": words.title([s], np.random.default_rng([1, k])) for k, s in enumerate(specs)
    }
    said = {
        f"v{k}": words.transcript([s], [], np.random.default_rng([2, k]), silent=0.0)
        for k, s in enumerate(specs)
    }
    ts = text_scores(titles, said)
    top1 = np.mean(
        [max(titles, key=lambda i, v=f"v{k}": ts(i, v)) == f"{k:03d}" for k in range(len(specs))]
    )
    assert top1 >= 0.3  # chance is 1/30; near-identical specs and loose speech keep it below 1


def test_words_never_name_the_item_and_leave_the_pictures_alone(tmp_path):
    generate_dataset(tmp_path / "t", SampleConfig(seed=5, workers=1, **TINY), progress=False)
    cfg = SampleConfig(seed=5, workers=1, text=False, **TINY)
    generate_dataset(tmp_path / "n", cfg, progress=False)
    with_text, without = _digest(tmp_path / "t"), _digest(tmp_path / "n")
    assert {k: v for k, v in with_text.items() if "_text" not in k} == without
    ds = load_dataset(tmp_path / "t")
    assert all(i.text and i.item_id not in i.text for i in ds.items.values())
    assert all(v.text for v in ds.videos.values())
    assert not any(i in v.text for v in ds.videos.values() for i in ds.items)
