"""Aspect-ratio bucketed batches at a random scale per batch (docs/METHOD.md section 2).

Each crop goes to the bucket whose aspect ratio (width / height) is nearest in log space; a
batch holds crops of one bucket only and is resized to that bucket's shape at a short side
drawn from ``scales``, so garments keep their proportions without padding. The sampler yields
lists of ``(index, (height, width), draw)``: the dataset resizes to the shape and seeds the crop's
augmentation with ``draw``, so a training run's random draws depend on the seed and the epoch
alone (not on the number of loader workers, nor on where a resumed run started).
"""

from __future__ import annotations

import math

import numpy as np


def assign_buckets(aspects, buckets) -> np.ndarray:
    """Index of the nearest bucket (in log aspect ratio) for each crop."""
    log_a = np.log(np.asarray(aspects, np.float64))[:, None]
    return np.argmin(np.abs(log_a - np.log(np.asarray(buckets, np.float64))[None, :]), axis=1)


def bucket_shape(aspect: float, short_side: int, multiple: int = 32) -> tuple[int, int]:
    """``(height, width)`` of a bucket at ``short_side``, the long side rounded to ``multiple``."""
    long_side = max(
        multiple, int(round(short_side * max(aspect, 1 / aspect) / multiple)) * multiple
    )
    return (short_side, long_side) if aspect >= 1 else (long_side, short_side)


class AspectRatioBatchSampler:
    """Batches of one aspect bucket each, shuffled per epoch, split across DDP ranks.

    Without P x K (``k_per_identity = 0``) an epoch covers every crop exactly once (the last
    batch of a bucket may be short). With P x K, each batch holds ``p_identities`` identities of
    the bucket with ``k_per_identity`` crops each (drawn with replacement when an identity has
    fewer), as many batches as plain batching would give. Ranks take every ``world_size``-th
    batch after the epoch's batch list is cut to a multiple of ``world_size`` (equal steps on
    every rank; no batch on two ranks, and without P x K no crop on two ranks).
    """

    def __init__(
        self,
        aspects,
        labels,
        batch_size: int,
        buckets,
        scales,
        p_identities: int = 0,
        k_per_identity: int = 0,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ):
        self.bucket_of = assign_buckets(aspects, buckets)
        self.buckets, self.scales = list(buckets), list(scales)
        self.labels = np.asarray(labels)
        self.batch_size, self.p, self.k = batch_size, p_identities, k_per_identity
        self.seed, self.rank, self.world_size, self.epoch = seed, rank, world_size, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _bucket_batches(self, rows: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
        rows = rng.permutation(rows)
        n_batches = math.ceil(len(rows) / self.batch_size)
        if not (self.p and self.k):
            return [rows[i * self.batch_size : (i + 1) * self.batch_size] for i in range(n_batches)]
        by_label = {}
        for r in rows:
            by_label.setdefault(int(self.labels[r]), []).append(r)
        ids = [i for i, members in by_label.items() if len(members) >= 2] or list(by_label)
        batches = []
        for _ in range(n_batches):
            chosen = rng.choice(ids, size=min(self.p, len(ids)), replace=False)
            batches.append(
                np.concatenate(
                    [
                        rng.choice(by_label[i], self.k, replace=len(by_label[i]) < self.k)
                        for i in chosen
                    ]
                )
            )
        return batches

    def _epoch_batches(self) -> list[tuple[np.ndarray, tuple[int, int], np.ndarray]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        batches = []
        for b, aspect in enumerate(self.buckets):
            for rows in self._bucket_batches(np.flatnonzero(self.bucket_of == b), rng):
                batches.append((rows, bucket_shape(aspect, int(rng.choice(self.scales)))))
        order = rng.permutation(len(batches))
        usable = (
            len(batches) - len(batches) % self.world_size if self.world_size > 1 else len(batches)
        )
        return [
            (
                rows,
                shape,
                rng.integers(0, 2**63, size=len(rows), dtype=np.int64),
            )  # every rank draws all
            for rows, shape in (batches[i] for i in order[:usable])
        ][self.rank :: self.world_size]

    def __iter__(self):
        for rows, shape, draws in self._epoch_batches():
            yield [(int(r), shape, int(d)) for r, d in zip(rows, draws)]

    def __len__(self) -> int:
        return len(self._epoch_batches())
