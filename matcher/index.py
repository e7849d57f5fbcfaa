"""``KnnIndex``: one wrapper over faiss for exact and approximate search on l2-normalised rows.

Search runs on inner products and reports Euclidean distances, ``d = sqrt(2 - 2 cos)`` (0 for
identical directions, 2 for opposite ones), the unit docs/METHOD.md's thresholds use.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

try:
    import faiss
except ImportError as e:  # faiss comes from an extra (pyproject.toml): exactly one of cpu / gpu
    raise ImportError("faiss is not installed: pip install 'livematch[cpu]' (or 'livematch[gpu]' on a CUDA "
                      "machine; never both)") from e
import numpy as np

from ground.io import atomic_write_bytes
from matcher.config import IndexConfig
from matcher.crops import FeatureError
from ground.errors import ConfigError

log = logging.getLogger(__name__)
KINDS = ("flat", "ivf_flat", "ivf_pq", "hnsw")


def distance_from_similarity(sim: np.ndarray) -> np.ndarray:
    """Euclidean distance of unit vectors from their inner product: ``sqrt(max(0, 2 - 2 s))``."""
    return np.sqrt(np.clip(2.0 - 2.0 * np.asarray(sim, np.float32), 0.0, None))


def pairwise_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(N, D) x (M, D) -> (N, M)`` Euclidean distances of unit rows, by one matrix product."""
    return distance_from_similarity(np.asarray(a, np.float32) @ np.asarray(b, np.float32).T)


def _make(dim: int, cfg: IndexConfig, n_train: int):
    ip = faiss.METRIC_INNER_PRODUCT
    fp16 = cfg.storage == "fp16"
    if cfg.storage not in ("fp32", "fp16"):
        raise ConfigError(f"index.storage must be fp32 or fp16, got {cfg.storage!r}")
    if cfg.kind == "flat":
        return faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16, ip) if fp16 else faiss.IndexFlatIP(dim)
    if cfg.kind == "hnsw":
        index = (faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_fp16, cfg.hnsw_m, ip) if fp16
                 else faiss.IndexHNSWFlat(dim, cfg.hnsw_m, ip))
        index.hnsw.efSearch = cfg.ef_search
        return index
    nlist = max(1, min(cfg.nlist, n_train // 39))
    quantizer = faiss.IndexFlatIP(dim)
    if cfg.kind == "ivf_flat":
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, ip)
    elif cfg.kind == "ivf_pq":
        if dim % cfg.pq_m:
            raise ConfigError(f"index.pq_m={cfg.pq_m} must divide the feature dimension {dim}")
        index = faiss.IndexIVFPQ(quantizer, dim, nlist, cfg.pq_m, 8, ip)
    else:
        raise ConfigError(f"unknown index.kind {cfg.kind!r}; choose one of {KINDS}")
    index.nprobe = min(cfg.nprobe, nlist)  # faiss keeps the quantizer referenced by the index
    return index


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
            raise FeatureError(f"{what} have shape {x.shape}, the index holds {self.dim}-d features")
        return x

    def train(self, x: np.ndarray) -> None:
        """Create the index; approximate kinds learn their cells / codes from ``x``."""
        x = self._check(x, "training features")
        self.index = _make(self.dim, self.cfg, len(x))
        if not self.index.is_trained:
            if len(x) < 39:
                raise FeatureError(f"{self.cfg.kind} needs at least 39 vectors to train, got {len(x)}")
            start = time.perf_counter()
            self.index.train(x)
            log.info("trained %s on %d vectors in %.2fs", self.cfg.kind, len(x), time.perf_counter() - start)

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
        start = time.perf_counter()
        for lo in range(0, len(queries), self.cfg.query_batch):
            sim, ids = index.search(queries[lo:lo + self.cfg.query_batch], k)
            found = ids >= 0
            dist[lo:lo + len(ids)] = np.where(found, distance_from_similarity(np.where(found, sim, 0)), np.inf)
            rows[lo:lo + len(ids)] = ids
        log.info("searched %d queries in %d rows in %.2fs", len(queries), self.ntotal,
                 time.perf_counter() - start)
        return dist, rows

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
            log.warning("index %s (%s) has no faiss GPU version; searching on the CPU: %s", self.cfg.kind,
                        self.cfg.storage, str(e).splitlines()[0][:120])
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
