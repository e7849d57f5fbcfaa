"""``KnnIndex``: one wrapper over faiss for exact and approximate search on l2-normalised rows.

Search runs on inner products and reports Euclidean distances, ``d = sqrt(2 - 2 cos)`` (0 for
identical directions, 2 for opposite ones), the unit docs/METHOD.md's thresholds use.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

try:
    import faiss
except ImportError as e:  # faiss comes from an extra (pyproject.toml): exactly one of cpu / gpu
    raise ImportError(
        "faiss is not installed: pip install 'livematch[cpu]' (or 'livematch[gpu]' on a CUDA "
        "machine; never both)"
    ) from e
import numpy as np

from ground.errors import ConfigError
from ground.io import atomic_write_bytes
from matcher.config import IndexConfig
from matcher.crops import FeatureError

log = logging.getLogger(__name__)


def distance_from_similarity(sim: np.ndarray) -> np.ndarray:
    """Euclidean distance of unit vectors from their inner product: ``sqrt(max(0, 2 - 2 s))``."""
    return np.sqrt(np.clip(2.0 - 2.0 * np.asarray(sim, np.float32), 0.0, None))


def pairwise_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(N, D) x (M, D) -> (N, M)`` Euclidean distances of unit rows, by one matrix product."""
    return distance_from_similarity(np.asarray(a, np.float32) @ np.asarray(b, np.float32).T)


def exact_topk(
    queries: np.ndarray, gallery: np.ndarray, k: int, block: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product top-k of unit rows by numpy's BLAS, ``block`` queries per matrix
    product (argmax for k = 1, else argpartition then sort): ``(Q, k)`` similarities and rows,
    ``-inf`` / ``-1`` past the gallery's size."""
    gallery, k_found = np.asarray(gallery, np.float32), min(k, len(gallery))
    sim = np.full((len(queries), k), -np.inf, np.float32)
    ids = np.full((len(queries), k), -1, np.int64)
    for lo in range(0, len(queries), block):
        s = queries[lo : lo + block] @ gallery.T
        if k_found == 1:
            top = np.argmax(s, axis=1)[:, None]
        else:
            part = np.argpartition(-s, k_found - 1, axis=1)[:, :k_found]
            top = np.take_along_axis(
                part, np.argsort(-np.take_along_axis(s, part, 1), axis=1, kind="stable"), 1
            )
        sim[lo : lo + len(s), :k_found], ids[lo : lo + len(s), :k_found] = (
            np.take_along_axis(s, top, 1),
            top,
        )
    return sim, ids


_IP = faiss.METRIC_INNER_PRODUCT
# index.storage -> how faiss holds the vectors: None (float32) or its scalar quantizer type
STORAGE = {"fp32": None, "fp16": faiss.ScalarQuantizer.QT_fp16}


def _flat(dim: int, cfg: IndexConfig, n_train: int, sq):
    return faiss.IndexScalarQuantizer(dim, sq, _IP) if sq is not None else faiss.IndexFlatIP(dim)


def _hnsw(dim: int, cfg: IndexConfig, n_train: int, sq):
    index = (
        faiss.IndexHNSWSQ(dim, sq, cfg.hnsw_m, _IP)
        if sq is not None
        else faiss.IndexHNSWFlat(dim, cfg.hnsw_m, _IP)
    )
    index.hnsw.efSearch = cfg.ef_search
    return index


def _inverted(cells):
    """An IVF kind: ``cells(quantizer, dim, nlist, cfg)`` makes its index over ``nlist`` cells
    (capped at the training size / 39), which visits ``nprobe`` of them per query."""

    def make(dim: int, cfg: IndexConfig, n_train: int, sq):
        nlist = max(1, min(cfg.nlist, n_train // 39))
        index = cells(faiss.IndexFlatIP(dim), dim, nlist, cfg)
        index.nprobe = min(cfg.nprobe, nlist)  # faiss keeps the quantizer referenced by the index
        return index

    return make


def _ivf_flat_cells(quantizer, dim: int, nlist: int, cfg: IndexConfig):
    return faiss.IndexIVFFlat(quantizer, dim, nlist, _IP)


def _ivf_pq_cells(quantizer, dim: int, nlist: int, cfg: IndexConfig):
    if dim % cfg.pq_m:
        raise ConfigError(f"index.pq_m={cfg.pq_m} must divide the feature dimension {dim}")
    return faiss.IndexIVFPQ(quantizer, dim, nlist, cfg.pq_m, 8, _IP)


def _fastscan_cells(quantizer, dim: int, nlist: int, cfg: IndexConfig):
    if dim % cfg.fastscan_dims:
        raise ConfigError(
            f"index.fastscan_dims={cfg.fastscan_dims} must divide the feature dimension {dim}"
        )
    return faiss.IndexIVFPQFastScan(quantizer, dim, nlist, dim // cfg.fastscan_dims, 4, _IP)


def _ivf_fastscan(dim: int, cfg: IndexConfig, n_train: int, sq):
    """4-bit codes find candidates; the exact vectors order them (``refine`` x k of them)."""
    index = faiss.IndexRefineFlat(_inverted(_fastscan_cells)(dim, cfg, n_train, sq))
    index.k_factor = float(cfg.refine)
    return index


@dataclass(frozen=True)
class Kind:
    """An index kind (``index.kind``): ``make(dim, cfg, n_train, sq) -> faiss index`` (``sq``:
    :data:`STORAGE`'s quantizer; approximate kinds train on ``n_train`` rows), and ``exact``: it
    scores every gallery row (BLAS blocks over the gallery, the numpy engine, and neighbour lists
    searched once stand in for its search)."""

    make: Callable
    exact: bool = False


# index.kind -> the kind (the order is the one the config's messages list)
KINDS = {
    "flat": Kind(_flat, exact=True),
    "ivf_flat": Kind(_inverted(_ivf_flat_cells)),
    "ivf_pq": Kind(_inverted(_ivf_pq_cells)),
    "ivf_fastscan": Kind(_ivf_fastscan),
    "hnsw": Kind(_hnsw),
}


def is_exact(kind: str) -> bool:
    """Whether index kind ``kind`` scores every gallery row (False for an unknown kind)."""
    return kind in KINDS and KINDS[kind].exact


def _exact_topk(index, gallery: np.ndarray | None, batch: np.ndarray, k: int):
    return exact_topk(batch, gallery, k)


def _faiss_topk(index, gallery: np.ndarray | None, batch: np.ndarray, k: int):
    return index.search(batch, k)


# index.flat_engine -> ``(faiss index, flat fp32 gallery, queries, k) -> (Q, k)`` similarities
# and rows (numpy: matmul + argmax / argpartition through numpy's BLAS)
ENGINES = {"faiss": _faiss_topk, "numpy": _exact_topk}
# The index settings that take one of a few words: the tables, by name (checked when a config
# loads, livematch.config).
CHOICES = {"index.kind": KINDS, "index.storage": STORAGE, "index.flat_engine": ENGINES}


def _make(dim: int, cfg: IndexConfig, n_train: int):
    if cfg.storage not in STORAGE:
        raise ConfigError(f"index.storage must be {' or '.join(STORAGE)}, got {cfg.storage!r}")
    if cfg.kind not in KINDS:
        raise ConfigError(f"unknown index.kind {cfg.kind!r}; choose one of {tuple(KINDS)}")
    return KINDS[cfg.kind].make(dim, cfg, n_train, STORAGE[cfg.storage])


def _ivf(index):
    """The IVF part of an index (inside an exact refinement), or None for other kinds."""
    if isinstance(index, faiss.IndexRefine):
        index = faiss.downcast_index(index.base_index)
    return index if isinstance(index, faiss.IndexIVF) else None


class KnnIndex:
    """A gallery of unit vectors with ``train`` / ``add`` / ``search`` / ``save`` / ``load``."""

    def __init__(self, dim: int, cfg: IndexConfig | None = None):
        self.dim, self.cfg = int(dim), cfg or IndexConfig()
        self.index = None
        self._gpu = None  # the GPU copy of ``index``, made once per gallery (add() drops it)

    @property
    def ntotal(self) -> int:
        return 0 if self.index is None else int(self.index.ntotal)

    def _check(self, x: np.ndarray, what: str) -> np.ndarray:
        x = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise FeatureError(
                f"{what} have shape {x.shape}, the index holds {self.dim}-d features"
            )
        return x

    def train(self, x: np.ndarray) -> None:
        """Create the index; approximate kinds learn their cells / codes from ``x``."""
        x = self._check(x, "training features")
        self.index = _make(self.dim, self.cfg, len(x))
        if not self.index.is_trained:
            if len(x) < 39:
                raise FeatureError(
                    f"{self.cfg.kind} needs at least 39 vectors to train, got {len(x)}"
                )
            start = time.perf_counter()
            self.index.train(x)
            log.info(
                "trained %s on %d vectors in %.2fs",
                self.cfg.kind,
                len(x),
                time.perf_counter() - start,
            )

    def add(self, x: np.ndarray) -> None:
        """Append rows to the gallery (row ids continue from ``ntotal``)."""
        x = self._check(x, "gallery features")
        if self.index is None:
            self.train(x)
        if len(x):
            self.index.add(x)
            self._gpu = None

    def search(self, queries: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """``(Q, D)`` queries -> ``(Q, k)`` Euclidean distances and gallery rows, nearest first;
        missing neighbours (a gallery smaller than ``k``) are ``inf`` / ``-1``."""
        queries = self._check(queries, "query features")
        dist = np.full((len(queries), k), np.inf, np.float32)
        rows = np.full((len(queries), k), -1, np.int64)
        if not self.ntotal or not len(queries):
            return dist, rows
        index = self._searcher()
        if is_exact(self.cfg.kind):  # larger BLAS blocks over the gallery (bench/knn.py)
            faiss.cvar.distance_compute_blas_database_bs = int(self.cfg.blas_block)
        gallery = self._gallery() if index is self.index else None
        topk = (
            ENGINES.get(self.cfg.flat_engine, _faiss_topk) if gallery is not None else _faiss_topk
        )
        start = time.perf_counter()
        for lo in range(0, len(queries), self.cfg.query_batch):
            batch = queries[lo : lo + self.cfg.query_batch]
            sim, ids = topk(index, gallery, batch, k)
            found = ids >= 0
            dist[lo : lo + len(ids)] = np.where(
                found, distance_from_similarity(np.where(found, sim, 0)), np.inf
            )
            rows[lo : lo + len(ids)] = ids
        log.info(
            "searched %d queries in %d rows in %.2fs",
            len(queries),
            self.ntotal,
            time.perf_counter() - start,
        )
        return dist, rows

    def _gallery(self) -> np.ndarray | None:
        """The flat fp32 gallery as a numpy view of faiss's own storage (no copy); else None."""
        if (
            not is_exact(self.cfg.kind)
            or self.cfg.storage not in STORAGE
            or STORAGE[self.cfg.storage] is not None
            or not isinstance(self.index, faiss.IndexFlat)
        ):
            return None
        return faiss.rev_swig_ptr(self.index.get_xb(), self.ntotal * self.dim).reshape(
            self.ntotal, self.dim
        )

    def tune(self, queries: np.ndarray, gallery: np.ndarray, target: float) -> dict:
        """Set an IVF index's ``nprobe`` to the smallest power of 2 whose recall@1 on
        ``queries`` (against their exact nearest row of ``gallery``, the index's rows) reaches
        ``target``; every measured point is returned and logged. Other kinds: nothing to tune."""
        ivf = _ivf(self.index)
        if ivf is None or not len(queries):
            return {}
        queries = self._check(queries, "tuning queries")
        truth = exact_topk(queries, gallery, 1)[1][:, 0]
        curve, nprobe = {}, 1
        while True:
            ivf.nprobe = nprobe
            self._gpu = None  # a GPU copy holds the old nprobe
            curve[nprobe] = float((self.search(queries, 1)[1][:, 0] == truth).mean())
            if curve[nprobe] >= target or nprobe >= ivf.nlist:
                break
            nprobe = min(2 * nprobe, ivf.nlist)
        log.info(
            "index %s: nprobe %d reaches recall@1 %.3f on %d queries (target %.3f; curve %s)",
            self.cfg.kind,
            nprobe,
            curve[nprobe],
            len(queries),
            target,
            curve,
        )
        return curve

    def _searcher(self):
        """The index to search: with ``use_gpu``, a GPU copy made once per gallery. Kinds faiss
        has no GPU version of (HNSW; fp16 flat storage) stay on the CPU, said once."""
        if not self.cfg.use_gpu:
            return self.index
        if self._gpu is not None:
            return self._gpu
        if not hasattr(faiss, "index_cpu_to_all_gpus") or faiss.get_num_gpus() == 0:
            log.warning("index.use_gpu is set but faiss has no GPU here; searching on the CPU")
            self._gpu = self.index
            return self._gpu
        try:
            self._gpu = faiss.index_cpu_to_all_gpus(self.index)
        except RuntimeError as e:  # faiss raises RuntimeError for index types without a GPU version
            log.warning(
                "index %s (%s) has no faiss GPU version; searching on the CPU: %s",
                self.cfg.kind,
                self.cfg.storage,
                str(e).splitlines()[0][:120],
            )
            self._gpu = self.index
        return self._gpu

    def save(self, path) -> Path:
        if self.index is None:
            raise FeatureError(f"{path}: nothing to save, the index is empty")
        return atomic_write_bytes(path, faiss.serialize_index(self.index).tobytes())

    @classmethod
    def load(cls, path, cfg: IndexConfig | None = None) -> KnnIndex:
        try:
            index = faiss.deserialize_index(np.fromfile(path, dtype=np.uint8))
        except (OSError, RuntimeError) as e:
            raise FeatureError(f"{path}: not a saved faiss index: {e}") from None
        out = cls(index.d, cfg)
        out.index = index
        return out


def build_index(features: np.ndarray, cfg: IndexConfig | None = None) -> KnnIndex:
    """Train (if the kind needs it) and fill an index with ``(N, D)`` unit rows."""
    features = np.asarray(features, dtype=np.float32)
    index = KnnIndex(features.shape[1] if features.ndim == 2 else 0, cfg)
    index.add(features)
    return index
