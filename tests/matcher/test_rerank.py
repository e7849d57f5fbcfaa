import numpy as np
import pytest

from ground.errors import ConfigError
from matcher.config import RerankConfig
from matcher.index import build_index, pairwise_distance
from matcher.rerank import database_augmentation, expand, kreciprocal, search
from tests.matcher.test_index import clustered, unit


def test_average_query_expansion_formula():
    rng = np.random.default_rng(0)
    q, g = unit(rng, 3, 8), unit(rng, 10, 8)
    dist, rows = build_index(g).search(q, 2)
    out = expand(q, g[rows], dist, alpha=0.0)
    ref = q + g[rows].sum(axis=1)
    np.testing.assert_allclose(out, ref / np.linalg.norm(ref, axis=1, keepdims=True), atol=1e-5)


def test_alpha_query_expansion_weights_by_similarity():
    q = np.array([[1.0, 0.0]], np.float32)
    n = np.array([[[0.0, 1.0], [np.sqrt(0.5), np.sqrt(0.5)]]], np.float32)
    dist = pairwise_distance(q, n[0])
    out = expand(q, n, dist, alpha=2.0)
    ref = q + 0.0 * n[0, 0] + 0.5 * n[0, 1]  # cos 0 -> weight 0; cos 0.707 -> 0.5
    np.testing.assert_allclose(out, ref / np.linalg.norm(ref), atol=1e-5)


def test_database_augmentation_averages_neighbours():
    g = unit(np.random.default_rng(1), 20, 8)
    np.testing.assert_array_equal(database_augmentation(g, 1), g)
    out = database_augmentation(g, 2)
    _, rows = build_index(g).search(g, 2)
    ref = g[rows].sum(axis=1)
    np.testing.assert_allclose(out, ref / np.linalg.norm(ref, axis=1, keepdims=True), atol=1e-5)


def test_kreciprocal_with_lambda_one_is_the_original_ranking():
    rng = np.random.default_rng(2)
    g, q = clustered(rng, 10, 8, 16), clustered(np.random.default_rng(2), 10, 1, 16)
    dist, rows = build_index(g).search(q, 15)
    rd, rr = kreciprocal(q, g, rows, k1=6, k2=3, lambda_=1.0)
    np.testing.assert_array_equal(rr, rows)
    np.testing.assert_allclose(rd, dist, atol=1e-4)


def test_kreciprocal_keeps_the_right_cluster_and_sorts():
    rng = np.random.default_rng(3)
    g, q = clustered(rng, 10, 8, 16), clustered(np.random.default_rng(3), 10, 1, 16, spread=0.0)
    _, rows = build_index(g).search(q, 20)
    rd, rr = kreciprocal(q, g, rows, k1=6, k2=3, lambda_=0.3)
    assert (np.diff(rd, axis=1) >= -1e-6).all()
    assert sorted(rr[0]) == sorted(rows[0])
    assert (rr[:, 0] // 8 == np.arange(10)).mean() >= 0.9


@pytest.mark.parametrize("method", ["none", "aqe", "alpha_qe", "kreciprocal"])
def test_every_method_runs_through_search(method):
    rng = np.random.default_rng(4)
    g, q = clustered(rng, 10, 8, 16), clustered(np.random.default_rng(4), 10, 1, 16)
    dist, rows = search(
        q, g, rerank=RerankConfig(method=method, k1=6, k2=3, top_k=10, dba_k=2), k=3
    )
    assert dist.shape == rows.shape == (10, 3)
    assert (rows[:, 0] // 8 == np.arange(10)).mean() >= 0.9
    with pytest.raises(ConfigError, match="unknown rerank.method"):
        search(q, g, rerank=RerankConfig(method="magic"))


@pytest.mark.parametrize("alpha", [0.0, 3.0])
def test_neighbour_lists_augment_any_subset_as_a_new_search_would(alpha):
    """Calibration's filters: database-side augmentation of a subset from lists searched once over
    all rows equals a search of the subset itself, also where a row's short list keeps too few
    of the subset's rows (those are searched exactly)."""
    from matcher.rerank import NeighbourLists, database_augmentation

    rng = np.random.default_rng(0)
    gallery = rng.normal(size=(300, 16)).astype(np.float32)
    gallery /= np.linalg.norm(gallery, axis=1, keepdims=True)
    lists = NeighbourLists(gallery, m=8)
    for share in (1.0, 0.5, 0.05):
        keep = rng.random(len(gallery)) < share
        for k in (2, 3):
            expected = database_augmentation(gallery[keep], k, alpha)
            assert np.allclose(lists.augment(keep, k, alpha), expected, atol=1e-5)
    keep = np.zeros(len(gallery), bool)
    keep[:1] = True
    assert np.array_equal(lists.augment(keep, 2, alpha), gallery[:1])  # one row: nothing to average


@pytest.mark.parametrize("method", ["aqe", "alpha_qe"])
def test_each_query_expansion_entry_weighs_with_its_alpha(method):
    """matcher.rerank.METHODS: the config's allowed methods are its names; query expansion
    weighs neighbours with the alpha its entry gives (``weighted``: rerank.alpha, else 0)."""
    from matcher import CHOICES
    from matcher.rerank import METHODS

    assert CHOICES["rerank.method"] is METHODS
    assert list(METHODS) == ["none", "aqe", "alpha_qe", "kreciprocal"]
    rr = RerankConfig(method=method, qe_k=3, alpha=3.0)
    assert METHODS[method].alpha(rr) == (3.0 if method == "alpha_qe" else 0.0)
    rng = np.random.default_rng(5)
    g, q = unit(rng, 40, 8), unit(rng, 6, 8)
    index = build_index(g)
    dist, rows = index.search(q, 3)
    expected = index.search(expand(q, g[rows], dist, METHODS[method].alpha(rr)), 2)
    got = search(q, g, rerank=rr, k=2)
    np.testing.assert_array_equal(got[1], expected[1])
    np.testing.assert_allclose(got[0], expected[0])
