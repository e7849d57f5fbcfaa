from collections import Counter

import numpy as np

from embedder.samplers import AspectRatioBatchSampler, assign_buckets, bucket_shape

BUCKETS = [0.5, 1.0, 2.0]


def sampler(n=103, **kw):
    rng = np.random.default_rng(0)
    aspects = np.exp(rng.uniform(np.log(0.4), np.log(2.5), n))
    labels = rng.integers(0, 12, n)
    args = dict(batch_size=8, buckets=BUCKETS, scales=[64, 96])
    args.update(kw)
    return AspectRatioBatchSampler(aspects, labels, **args), aspects, labels


def test_nearest_bucket_in_log_space():
    np.testing.assert_array_equal(
        assign_buckets([0.45, 0.71, 0.7, 1.4, 1.42, 3.0], BUCKETS), [0, 1, 0, 1, 2, 2]
    )


def test_bucket_shapes_keep_the_aspect_and_the_short_side():
    assert bucket_shape(1.0, 96) == (96, 96)
    assert bucket_shape(2.0, 96) == (96, 192)
    assert bucket_shape(0.5, 96) == (192, 96)
    h, w = bucket_shape(0.67, 128)
    assert w == 128 and h % 32 == 0 and abs(w / h - 0.67) < 0.1


def test_every_batch_is_one_bucket_and_the_epoch_covers_each_crop_once():
    s, aspects, _ = sampler()
    buckets = assign_buckets(aspects, BUCKETS)
    seen = []
    for batch in s:
        rows = [r for r, *_ in batch]
        shapes = {shape for _, shape, _ in batch}
        assert len(shapes) == 1 and len(set(buckets[rows])) == 1
        ((h, w),) = shapes
        assert min(h, w) in (64, 96)
        assert len(rows) <= 8
        seen += rows
    assert sorted(seen) == list(range(103))


def test_epochs_differ_but_are_reproducible():
    s, *_ = sampler()
    first = [r for b in s for r, *_ in b]
    s.set_epoch(1)
    second = [r for b in s for r, *_ in b]
    s.set_epoch(0)
    assert [r for b in s for r, *_ in b] == first != second


def test_ranks_split_without_duplicates():
    parts = [[r for b in sampler(rank=k, world_size=3)[0] for r, *_ in b] for k in range(3)]
    counts = [len(list(sampler(rank=k, world_size=3)[0])) for k in range(3)]
    assert len(set(counts)) == 1  # equal number of steps on every rank
    flat = [r for p in parts for r in p]
    assert len(flat) == len(set(flat))  # no crop on two ranks
    assert len(flat) >= 103 - 3 * 8  # at most world_size - 1 batches cut


def test_pk_batches_hold_p_identities_with_k_crops():
    s, _, labels = sampler(n=400, batch_size=16, p_identities=4, k_per_identity=4)
    for batch in s:
        per_label = Counter(labels[[r for r, *_ in batch]])
        assert len(per_label) <= 4 and all(n % 4 == 0 for n in per_label.values())


def test_each_item_carries_its_own_augmentation_draw():
    draws = lambda s: [d for b in s for *_, d in b]  # noqa: E731
    s, *_ = sampler()
    first = draws(s)
    assert len(set(first)) == len(first) == 103  # no two items of an epoch augmented alike
    s.set_epoch(1)
    second = draws(s)
    s.set_epoch(0)
    assert draws(s) == first and not set(first) & set(second)
    parts = [draws(sampler(rank=k, world_size=3)[0]) for k in range(3)]
    flat = [d for p in parts for d in p]
    assert len(flat) == len(set(flat))  # ranks draw apart
