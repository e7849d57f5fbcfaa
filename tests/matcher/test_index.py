import faiss
import numpy as np
import pytest

from matcher.config import IndexConfig
from matcher.crops import FeatureError
from matcher.index import KnnIndex, build_index, distance_from_similarity, pairwise_distance


def unit(rng, n, d):
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def clustered(rng, n_clusters, per, d, spread=0.3):
    centers = unit(rng, n_clusters, d)
    x = np.repeat(centers, per, axis=0) + spread * rng.normal(size=(n_clusters * per, d)) / np.sqrt(
        d
    )
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def brute_force(q, g, k):
    d = np.sqrt(np.clip(((q[:, None, :] - g[None, :, :]) ** 2).sum(-1), 0, None))
    rows = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, rows, 1), rows


def test_distance_is_euclidean_on_unit_vectors():
    rng = np.random.default_rng(0)
    a, b = unit(rng, 5, 16), unit(rng, 7, 16)
    expected = np.linalg.norm(a[:, None] - b[None], axis=-1)
    np.testing.assert_allclose(pairwise_distance(a, b), expected, atol=1e-5)
    np.testing.assert_allclose(
        distance_from_similarity([1.0, 0.0, -1.0]), [0.0, np.sqrt(2), 2.0], atol=1e-6
    )


def test_flat_search_equals_brute_force():
    rng = np.random.default_rng(1)
    g, q = unit(rng, 500, 32), unit(rng, 40, 32)
    dist, rows = build_index(g).search(q, 5)
    ref_d, ref_r = brute_force(q, g, 5)
    np.testing.assert_array_equal(rows, ref_r)
    np.testing.assert_allclose(dist, ref_d, atol=1e-4)


def test_fp16_storage_keeps_the_nearest_neighbour():
    rng = np.random.default_rng(2)
    g, q = unit(rng, 2000, 64), unit(rng, 200, 64)
    _, exact = build_index(g).search(q, 1)
    _, half = build_index(g, IndexConfig(storage="fp16")).search(q, 1)
    assert (exact == half).mean() >= 0.99


@pytest.mark.parametrize(
    "kind, k, minimum",
    [("ivf_flat", 1, 0.95), ("hnsw", 1, 0.95), ("ivf_pq", 40, 0.9), ("ivf_fastscan", 1, 0.95)],
)
def test_approximate_indexes_recall_on_clustered_data(kind, k, minimum):
    rng = np.random.default_rng(3)
    g = clustered(rng, 100, 40, 64)
    q = clustered(np.random.default_rng(3), 100, 1, 64, spread=0.0) + 0.0  # the cluster centres
    _, exact = build_index(g).search(q, 1)
    # fast-scan's 4-bit codes cannot order 40 near-copies: the exact re-scoring must see them all
    cfg = IndexConfig(kind=kind, nlist=64, nprobe=16, pq_m=16, refine=64)
    _, approx = build_index(g, cfg).search(q, k)
    recall = (approx == exact[:, :1]).any(axis=1).mean()  # 1-recall@k, faiss's usual measure
    assert recall >= minimum
    assert (approx[:, 0] // 40 == np.arange(100)).mean() >= 0.98  # the right cluster, nearly always


def test_save_load_round_trip_and_incremental_add(tmp_path):
    rng = np.random.default_rng(5)
    g, extra, q = unit(rng, 300, 16), unit(rng, 50, 16), unit(rng, 20, 16)
    index = build_index(g)
    index.save(tmp_path / "gallery.faiss")
    loaded = KnnIndex.load(tmp_path / "gallery.faiss")
    assert loaded.ntotal == 300 and loaded.dim == 16
    np.testing.assert_array_equal(loaded.search(q, 3)[1], index.search(q, 3)[1])
    loaded.add(extra)  # videos added to a saved index, no rebuild
    full = build_index(np.concatenate([g, extra]))
    np.testing.assert_array_equal(loaded.search(q, 3)[1], full.search(q, 3)[1])


def test_empty_and_small_galleries():
    q = unit(np.random.default_rng(6), 3, 8)
    dist, rows = KnnIndex(8).search(q, 2)
    assert np.isinf(dist).all() and (rows == -1).all()
    dist, rows = build_index(q[:1]).search(q, 3)
    assert (rows[:, 0] == 0).all() and (rows[:, 1:] == -1).all() and np.isinf(dist[:, 1:]).all()


def test_dimension_mismatch_is_a_clear_error(tmp_path):
    index = build_index(unit(np.random.default_rng(7), 10, 8))
    with pytest.raises(FeatureError, match="index holds 8-d"):
        index.search(np.zeros((2, 16), np.float32))
    with pytest.raises(FeatureError, match="not a saved faiss index"):
        (tmp_path / "x.faiss").write_bytes(b"junk")
        KnnIndex.load(tmp_path / "x.faiss")


def test_queries_stream_in_batches():
    rng = np.random.default_rng(8)
    g, q = unit(rng, 100, 8), unit(rng, 25, 8)
    whole = build_index(g).search(q, 2)
    batched = build_index(g, IndexConfig(query_batch=7)).search(q, 2)
    np.testing.assert_array_equal(whole[1], batched[1])


def _gallery(n=400, d=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_use_gpu_without_one_searches_on_the_cpu_and_says_so_once(caplog):
    x = _gallery()
    cpu = build_index(x, IndexConfig(kind="flat"))
    asked = build_index(x, IndexConfig(kind="flat", use_gpu=True))
    if hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0:
        pytest.skip("this machine has a GPU: see the gpu test")
    for _ in range(3):
        np.testing.assert_array_equal(asked.search(x[:50])[1], cpu.search(x[:50])[1])
    assert caplog.text.count("no GPU here") == 1  # decided once per gallery, not per search
    asked.add(x[:10])
    asked.search(x[:5])
    assert caplog.text.count("no GPU here") == 2  # a changed gallery is copied again


@pytest.mark.gpu
@pytest.mark.parametrize(
    "kind,storage", [("flat", "fp32"), ("ivf_flat", "fp32"), ("hnsw", "fp32"), ("flat", "fp16")]
)
def test_faiss_gpu_search_equals_the_cpu_top1(kind, storage):
    if not hasattr(faiss, "get_num_gpus") or faiss.get_num_gpus() == 0:
        pytest.skip("needs faiss with a GPU")
    x = _gallery(4000, 64)
    cfg = IndexConfig(kind=kind, storage=storage, nlist=16, nprobe=16)
    cpu, gpu = build_index(x, cfg), build_index(x, IndexConfig(**{**vars(cfg), "use_gpu": True}))
    q = x[:500]
    assert (gpu.search(q)[1][:, 0] == cpu.search(q)[1][:, 0]).mean() >= 0.99
    assert gpu._searcher() is gpu._searcher()  # one GPU copy, reused


def test_tuning_picks_the_smallest_nprobe_that_reaches_the_target_recall():
    from matcher.index import _ivf

    rng = np.random.default_rng(7)
    g, q = unit(rng, 4000, 32), unit(rng, 200, 32)  # no clusters: few probes miss many neighbours
    index = build_index(g, IndexConfig(kind="ivf_flat", nlist=64, nprobe=1))
    curve = index.tune(q, g, target=0.97)
    chosen = _ivf(index.index).nprobe
    assert curve[chosen] >= 0.97 and curve[1] < 0.97  # one probe was not enough
    assert all(curve[p] < 0.97 for p in curve if p < chosen) and max(curve) == chosen
    _, rows = index.search(q, 1)
    exact = np.argmax(q @ g.T, axis=1)
    assert (rows[:, 0] == exact).mean() == pytest.approx(
        curve[chosen]
    )  # what it measured is what it does
    assert build_index(g).tune(q, g, 0.99) == {}  # exact search: nothing to tune


def test_search_tunes_an_ivf_index_when_a_target_recall_is_set(caplog):
    from matcher.rerank import search

    rng = np.random.default_rng(8)
    g, q = unit(rng, 3000, 32), unit(rng, 100, 32)
    caplog.set_level("INFO", logger="matcher.index")
    cfg = IndexConfig(kind="ivf_flat", nlist=32, nprobe=1, target_recall=0.99, tune_queries=50)
    _, rows = search(q, g, cfg)
    assert "reaches recall@1" in caplog.text and "on 50 queries" in caplog.text
    assert (rows[:, 0] == np.argmax(q @ g.T, axis=1)).mean() >= 0.95


def test_fastscan_round_trips_through_save_and_load(tmp_path):
    rng = np.random.default_rng(9)
    g, q = unit(rng, 2000, 32), unit(rng, 30, 32)
    index = build_index(g, IndexConfig(kind="ivf_fastscan", nlist=16, nprobe=4, fastscan_dims=2))
    index.save(tmp_path / "g.faiss")
    np.testing.assert_array_equal(
        KnnIndex.load(tmp_path / "g.faiss").search(q, 3)[1], index.search(q, 3)[1]
    )


@pytest.mark.parametrize("engine", ["numpy", "faiss"])
def test_every_exact_engine_returns_the_brute_force_neighbours(engine):
    rng = np.random.default_rng(11)
    g, q = unit(rng, 700, 24), unit(rng, 300, 24)
    index = build_index(g, IndexConfig(flat_engine=engine, query_batch=128))
    dist, rows = index.search(q, 5)
    ref_d, ref_r = brute_force(q, g, 5)
    np.testing.assert_array_equal(rows, ref_r)
    np.testing.assert_allclose(dist, ref_d, atol=1e-4)
    assert index._gallery().base is not None  # a view of faiss's storage, not a copy
    extra = unit(rng, 5, 24)
    index.add(extra)  # the view follows a grown gallery
    assert (index.search(extra, 1)[1][:, 0] == np.arange(700, 705)).all()


def test_numpy_engine_with_a_gallery_smaller_than_k():
    rng = np.random.default_rng(12)
    g, q = unit(rng, 3, 8), unit(rng, 4, 8)
    dist, rows = build_index(g, IndexConfig(flat_engine="numpy")).search(q, 5)
    assert (rows[:, 3:] == -1).all() and np.isinf(dist[:, 3:]).all()
    np.testing.assert_array_equal(rows[:, :3], brute_force(q, g, 3)[1])


@pytest.mark.parametrize("kind", ["flat", "ivf_flat", "ivf_pq", "ivf_fastscan", "hnsw"])
def test_each_index_kind_entry_says_whether_it_is_exact(kind):
    """matcher.index.KINDS / STORAGE / ENGINES: the config's allowed kinds, storages and engines
    are their names; a kind whose entry says ``exact`` scores every row, so the numpy engine
    searches its fp32 gallery (any other kind, or fp16 storage, searches through faiss)."""
    from matcher import CHOICES
    from matcher.index import ENGINES, KINDS, STORAGE, is_exact

    assert CHOICES["index.kind"] is KINDS
    assert list(KINDS) == ["flat", "ivf_flat", "ivf_pq", "ivf_fastscan", "hnsw"]
    assert CHOICES["index.storage"] is STORAGE and list(STORAGE) == ["fp32", "fp16"]
    assert CHOICES["index.flat_engine"] is ENGINES and list(ENGINES) == ["faiss", "numpy"]
    rng = np.random.default_rng(13)
    g, q = clustered(rng, 8, 40, 16), unit(rng, 20, 16)
    cfg = IndexConfig(kind=kind, nlist=8, nprobe=8, pq_m=4, flat_engine="numpy")
    index = build_index(g, cfg)
    assert is_exact(kind) is KINDS[kind].exact is (kind == "flat")
    assert (index._gallery() is not None) is KINDS[kind].exact
    assert (
        build_index(g, IndexConfig(kind=kind, storage="fp16", nlist=8, pq_m=4))._gallery() is None
    )
    if KINDS[kind].exact:
        np.testing.assert_array_equal(index.search(q, 3)[1], brute_force(q, g, 3)[1])
