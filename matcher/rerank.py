"""Re-ranking options (off by default until measured): average / alpha query expansion,
database-side augmentation, and k-reciprocal re-ranking of each query's top candidates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ground.errors import ConfigError
from matcher.config import IndexConfig, RerankConfig
from matcher.index import KnnIndex, build_index, pairwise_distance


def _normalize(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def expand(
    x: np.ndarray, neighbours: np.ndarray, dist: np.ndarray, alpha: float = 0.0
) -> np.ndarray:
    """Query expansion: ``x' = normalize(x + sum_i w_i n_i)`` over ``(Q, k, D)`` neighbours with
    ``w_i = 1`` (average QE, ``alpha = 0``) or ``w_i = max(cos_i, 0) ** alpha`` (alpha-QE);
    ``cos_i = 1 - d_i^2 / 2``. Missing neighbours (``d = inf``) weigh 0."""
    cos = np.where(np.isfinite(dist), 1.0 - dist.astype(np.float32) ** 2 / 2.0, 0.0)
    w = np.where(np.isfinite(dist), np.maximum(cos, 0.0) ** alpha if alpha else 1.0, 0.0)
    return _normalize(x + np.einsum("qk,qkd->qd", w, neighbours))


def _augmented(gallery: np.ndarray, dist: np.ndarray, rows: np.ndarray, alpha: float) -> np.ndarray:
    """Each row of ``(N, k)`` neighbours ``rows`` (distances ``dist``; ``-1`` / ``inf``: none) as
    their mean, weighted by ``cos ** alpha`` (``alpha`` 0: equal weights), normalised."""
    weights = np.where(np.isfinite(dist), 1.0, 0.0)
    if alpha:
        weights *= np.maximum(1.0 - np.where(np.isfinite(dist), dist, 0) ** 2 / 2.0, 0.0) ** alpha
    return _normalize(np.einsum("nk,nkd->nd", weights, gallery[np.maximum(rows, 0)]))


def database_augmentation(
    gallery: np.ndarray, k: int, alpha: float = 0.0, cfg: IndexConfig | None = None
) -> np.ndarray:
    """DBA: each gallery row becomes the (weighted) mean of itself and its ``k - 1`` nearest
    rows."""
    if k <= 1 or len(gallery) < 2:
        return gallery
    index = build_index(gallery, cfg or IndexConfig())
    dist, rows = index.search(gallery, min(k, len(gallery)))
    return _augmented(gallery, dist, rows, alpha)


class NeighbourLists:
    """Every gallery row's ``m`` nearest rows (itself first), searched once, so that database-side
    augmentation of any subset of the rows needs no new search: within a subset, a row's ``k``
    nearest rows are the first ``k`` of its list that the subset keeps. Rows with fewer than ``k``
    of them on the list are searched exactly. Calibration filters one root's video crops hundreds
    of ways (thresholds, classes, region); each filter's :func:`database_augmentation` would search
    the whole filtered gallery again."""

    def __init__(self, gallery: np.ndarray, m: int = 64):
        self.gallery = np.asarray(gallery, np.float32)
        self.dist, self.rows = (
            build_index(self.gallery, IndexConfig()).search(self.gallery, min(m, len(self.gallery)))
            if len(self.gallery)
            else (np.empty((0, 0), np.float32), np.empty((0, 0), np.int64))
        )

    def augment(self, keep: np.ndarray, k: int, alpha: float = 0.0) -> np.ndarray:
        """``database_augmentation(gallery[keep], k, alpha)`` (an exact flat search) from the
        lists."""
        idx = np.flatnonzero(keep)
        subset = self.gallery[idx]
        if k <= 1 or len(idx) < 2:
            return subset
        k = min(k, len(idx))
        rows, dist = self.rows[idx], self.dist[idx]
        kept = (rows >= 0) & keep[np.maximum(rows, 0)]
        order = np.argsort(~kept, axis=1, kind="stable")[
            :, :k
        ]  # the first k kept, in distance order
        enough = kept.sum(axis=1) >= k
        near_rows = np.take_along_axis(rows, order, axis=1)
        near_dist = np.take_along_axis(dist, order, axis=1)
        out = np.empty_like(subset)
        if enough.any():
            out[enough] = _augmented(self.gallery, near_dist[enough], near_rows[enough], alpha)
        if not enough.all():  # too few kept rows on their lists: search the subset itself
            d, r = build_index(subset, IndexConfig()).search(subset[~enough], k)
            out[~enough] = _augmented(subset, d, r, alpha)
        return out


def _reciprocal(rank: np.ndarray, i: int, k: int) -> np.ndarray:
    forward = rank[i, : k + 1]
    return forward[(rank[forward, : k + 1] == i).any(axis=1)]


def _encode(rank: np.ndarray, dist: np.ndarray, k1: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each point's k-reciprocal neighbourhood (expanded by the 2/3 rule) as sparse weights
    ``exp(-d)`` normalised to sum 1 (Zhong et al., CVPR 2017)."""
    half = max(1, int(round(k1 / 2)))
    rows = []
    for i in range(len(rank)):
        r = _reciprocal(rank, i, k1)
        expansion = [r]
        for c in r:
            rc = _reciprocal(rank, int(c), half)
            if len(np.intersect1d(rc, r)) > 2.0 / 3.0 * len(rc):
                expansion.append(rc)
        members = np.unique(np.concatenate(expansion))
        weight = np.exp(-dist[i, members])
        rows.append((members, weight / weight.sum()))
    return rows


def _local_expansion(rows, rank: np.ndarray, k2: int, n: int):
    out = []
    buf = np.zeros(n, np.float64)
    for i in range(len(rows)):
        for j in rank[i, :k2]:
            buf[rows[j][0]] += rows[j][1] / k2
        members = np.flatnonzero(buf)
        out.append((members, buf[members].copy()))
        buf[members] = 0.0
    return out


def kreciprocal(
    queries: np.ndarray,
    gallery: np.ndarray,
    candidates: np.ndarray,
    k1: int = 20,
    k2: int = 6,
    lambda_: float = 0.3,
) -> tuple[np.ndarray, np.ndarray]:
    """Re-rank each query's ``(Q, K)`` candidate gallery rows by
    ``(1 - lambda) * jaccard + lambda * d``; returns re-ordered distances and rows.

    Exact neighbour lists over queries + gallery, so its cost grows with their square: an
    option for validation-size sets and careful tuning, not for a million-crop gallery.
    """
    points = np.concatenate([queries, gallery]).astype(np.float32)
    n, nq = len(points), len(queries)
    k = min(n, k1 + 1)
    dist = pairwise_distance(points, points)
    rank = np.argsort(dist, axis=1, kind="stable")[:, :k]
    v = _local_expansion(_encode(rank, dist, min(k1, n - 1)), rank, max(1, min(k2, k)), n)
    out_d = np.full(candidates.shape, np.inf, np.float32)
    out_r = np.full(candidates.shape, -1, np.int64)
    for q in range(nq):
        valid = candidates[q][candidates[q] >= 0]
        scores = []
        for g in valid:
            (a, wa), (b, wb) = v[q], v[nq + g]
            common, ia, ib = np.intersect1d(a, b, return_indices=True)
            overlap = np.minimum(wa[ia], wb[ib]).sum()
            jaccard = 1.0 - overlap / max(2.0 - overlap, 1e-12)
            scores.append((1 - lambda_) * jaccard + lambda_ * dist[q, nq + g])
        order = np.argsort(scores, kind="stable")
        out_d[q, : len(valid)] = np.asarray(scores, np.float32)[order]
        out_r[q, : len(valid)] = valid[order]
    return out_d, out_r


def search_store(store, cfg) -> tuple[np.ndarray, np.ndarray]:
    """Nearest video crop of every shop crop of a :class:`~matcher.store.FeatureStore`, with the
    index and re-ranking of ``cfg`` (a :class:`~matcher.config.MatcherConfig`)."""
    return search(store.shop.features, store.video.features, cfg.index, cfg.rerank)


def _plain(index: KnnIndex, queries, gallery, rerank: RerankConfig, k: int, alpha: float):
    return index.search(queries, k)


def _expanded(index: KnnIndex, queries, gallery, rerank: RerankConfig, k: int, alpha: float):
    """Query expansion (:func:`expand`) over each query's ``qe_k`` nearest rows, then search."""
    dist, rows = index.search(queries, rerank.qe_k)
    queries = expand(queries, gallery[np.maximum(rows, 0)], dist, alpha)
    return index.search(queries, k)


def _reciprocal_ranked(
    index: KnnIndex, queries, gallery, rerank: RerankConfig, k: int, alpha: float
):
    """:func:`kreciprocal` over each query's ``top_k`` candidates."""
    _, rows = index.search(queries, max(k, rerank.top_k))
    dist, rows = kreciprocal(queries, gallery, rows, rerank.k1, rerank.k2, rerank.lambda_)
    return dist[:, :k], rows[:, :k]


@dataclass(frozen=True)
class Method:
    """A re-ranking method (``rerank.method``): ``search(index, queries, gallery, rerank, k,
    alpha) -> (Q, k)`` distances and rows from a filled index, and the alpha its query expansion
    weighs neighbours with: ``cos ** rerank.alpha`` when ``weighted`` (alpha-QE), else equal
    weights (alpha 0)."""

    search: Callable[..., tuple[np.ndarray, np.ndarray]]
    weighted: bool = False

    def alpha(self, rerank: RerankConfig) -> float:
        return rerank.alpha if self.weighted else 0.0


# rerank.method -> the method (its name is what the config checks when it loads: CHOICES).
METHODS = {
    "none": Method(_plain),
    "aqe": Method(_expanded),
    "alpha_qe": Method(_expanded, weighted=True),
    "kreciprocal": Method(_reciprocal_ranked),
}
CHOICES = {"rerank.method": METHODS}


def search(
    queries: np.ndarray,
    gallery: np.ndarray,
    index_cfg: IndexConfig | None = None,
    rerank: RerankConfig | None = None,
    k: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Shop -> video search with the configured post-processing; ``(Q, k)`` distances and rows.

    Distances after k-reciprocal re-ranking are its blended distance, not Euclidean: calibrate
    ``max_distance`` for it (``livematch calibrate``)."""
    rerank, index_cfg = rerank or RerankConfig(), index_cfg or IndexConfig()
    if rerank.method not in METHODS:
        raise ConfigError(
            f"unknown rerank.method {rerank.method!r}; choose one of {tuple(METHODS)}"
        )
    queries, gallery = np.asarray(queries, np.float32), np.asarray(gallery, np.float32)
    if rerank.dba_k > 1:
        gallery = database_augmentation(gallery, rerank.dba_k, rerank.alpha, index_cfg)
    index = KnnIndex(queries.shape[1] if queries.ndim == 2 else gallery.shape[1], index_cfg)
    if len(gallery):
        index.add(gallery)
        if index_cfg.target_recall > 0:
            index.tune(queries[: index_cfg.tune_queries], gallery, index_cfg.target_recall)
    if not index.ntotal:  # nothing to re-rank: every neighbour is missing
        return index.search(queries, k)
    method = METHODS[rerank.method]
    return method.search(index, queries, gallery, rerank, k, method.alpha(rerank))
