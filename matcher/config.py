"""Matcher configs; every default is the reference value (docs/METHOD.md section 3)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class IndexConfig:
    """Which faiss index holds the gallery (video crops)."""

    #: flat (exact) | ivf_flat | ivf_pq | ivf_fastscan | hnsw (docs/DESIGN.md, Matching)
    kind: str = "flat"
    storage: str = "fp32"  # fp32 | fp16 (flat and hnsw: vectors held as float16 inside faiss)
    nlist: int = 1024  # IVF cells (capped at gallery size / 39)
    nprobe: int = 32  # IVF cells visited per query
    #: > 0 (IVF kinds): nprobe is the smallest power of 2 reaching this recall@1
    target_recall: float = 0.0
    tune_queries: int = 256  # queries (the first ones) whose exact top-1 measures that recall
    pq_m: int = 64  # IVF-PQ sub-quantizers (must divide the dimension)
    #: ivf_fastscan: dimensions per 4-bit sub-quantizer (must divide the dimension)
    fastscan_dims: int = 4
    refine: int = 8  # ivf_fastscan: candidates per result re-scored exactly (k x refine)
    #: flat: gallery rows per BLAS block (faiss's default 1024 is ~10% slower here)
    blas_block: int = 8192
    # flat fp32 on the CPU: faiss | numpy (matmul + argmax / argpartition through numpy's BLAS: for
    # a machine where faiss's bundled BLAS is the slower one; `python -m bench.knn` says which)
    flat_engine: str = "faiss"
    hnsw_m: int = 32
    ef_search: int = 128
    use_gpu: bool = False  # move the index to every visible GPU when faiss-gpu is installed
    query_batch: int = 4096  # queries per faiss call (big galleries stream)


@dataclass
class VotingConfig:
    """The reference vote of each item folder over video crops."""

    keep_fraction: float = 0.28  # of a folder's N candidates, keep max(1, ceil(f * N)) nearest
    vote_fraction: float = 0.5  # of the V videos they point at, keep max(1, ceil(f * V)) most voted
    max_distance: float = 1.12  # pairs farther than this (Euclidean on unit vectors) are dropped
    prefer_annotation_grid: bool = True  # evidence frame on the grid when the video has crops there
    annotation_step: int = 40
    item_box: str = "confidence"  # confidence (reference) | nearest: the crop nearest the video |
    # paired: the crop nearest the chosen frame box (both boxes show the same garment)
    frame_box: str = "confidence"  # confidence (reference) | nearest: the crop nearest the folder
    #: written: the write-up's steps | original: the authors' code's arithmetic
    rule: str = "written"
    # (squared float16 distances, strict quantile, half-to-even vote round, largest-mean pick;
    # docs/METHOD.md) | set: every folder x clip pair scored as a whole (set_top_k, hub_k below);
    # keep / vote fractions unused
    #: rule set: a pair's similarity is the mean of the clip's top_k crops' best cosine
    #: to the folder
    set_top_k: int = 3
    #: rule set: subtract the mean of each folder's and each clip's hub_k best pair similarities
    hub_k: int = 3
    # (a clip near every folder, or a folder near every clip, loses its edge; 0 = off)
    set_offers: int = 5  # rule set: clips each folder offers to the assignment (its nearest)
    assign: str = "greedy"  # greedy: each folder its best video, each video its nearest folder |
    # global: one folder-to-video assignment over every finalist pair (a folder that loses a video
    # may take its next finalist), the cut-off being the cost of leaving a folder unmatched
    #: a claim's distance minus this x the text similarity of the folder's title and the clip's
    #: transcript (matcher.text); 0: the visual vote alone. fit calibrates it on VAL.
    text_weight: float = 0.0


@dataclass
class RerankConfig:
    """Post-processing of features / distances; off by default until measured."""

    method: str = "none"  # none | aqe | alpha_qe | kreciprocal
    qe_k: int = 2  # neighbours averaged into each query (aqe / alpha_qe)
    alpha: float = 3.0  # alpha-QE weight exponent
    dba_k: int = 0  # database-side augmentation: gallery neighbours averaged (0 = off)
    k1: int = 20  # k-reciprocal neighbourhood
    k2: int = 6  # k-reciprocal local expansion
    lambda_: float = 0.3  # weight of the original distance in k-reciprocal re-ranking
    top_k: int = 50  # gallery candidates re-ranked per query


@dataclass
class TextConfig:
    """How a clip's transcript is compared with each folder's title (character n-gram TF-IDF)."""

    ngram_min: int = 1  # shortest character n-gram
    ngram_max: int = 2  # longest character n-gram


@dataclass
class MatcherConfig:
    index: IndexConfig = field(default_factory=IndexConfig)
    voting: VotingConfig = field(default_factory=VotingConfig)
    rerank: RerankConfig = field(default_factory=RerankConfig)
    text: TextConfig = field(default_factory=TextConfig)
