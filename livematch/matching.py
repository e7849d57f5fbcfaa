"""Wiring of the matcher to files: feature stores in, result.json and details out.

A feature store is a folder with ``shop*.npz`` (crops of shop photos) and ``video*.npz`` (crops
of video frames), each a :class:`matcher.CropTable`; several shards of each kind are
concatenated in name order. :func:`simulate_crops` writes such a store from ground-truth boxes
with synthetic features, to exercise and calibrate the matcher without trained models.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livematch.dataset import Dataset
from matcher import rerank
from matcher.config import MatcherConfig
from matcher.crops import CropTable, FeatureError, clean_features
from matcher.result import write_outputs
from matcher.voting import MatchResult, match_catalogue

log = logging.getLogger(__name__)


@dataclass
class FeatureStore:
    shop: CropTable
    video: CropTable
    dropped: int = 0  # crops dropped for NaN / inf / zero-norm features


def load_store(folder) -> FeatureStore:
    """Read and clean a feature store; a dimension mismatch between shop and video is an error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FeatureError(f"{folder}: feature folder does not exist")
    tables = {kind: CropTable.concat(CropTable.load(p) for p in sorted(folder.glob(f"{kind}*.npz")))
              for kind in ("shop", "video")}
    if tables["shop"].dim and tables["video"].dim and tables["shop"].dim != tables["video"].dim:
        raise FeatureError(f"{folder}: shop features are {tables['shop'].dim}-d but video features "
                           f"are {tables['video'].dim}-d; extract both with the same embedder")
    shop, bad_shop = clean_features(tables["shop"])
    video, bad_video = clean_features(tables["video"])
    return FeatureStore(shop, video, bad_shop + bad_video)


def save_store(folder, store: FeatureStore) -> None:
    folder = Path(folder)
    store.shop.save(folder / "shop.npz")
    store.video.save(folder / "video.npz")


def search_store(store: FeatureStore, cfg: MatcherConfig) -> tuple[np.ndarray, np.ndarray]:
    """Nearest video crop of every shop crop, with the configured index and re-ranking."""
    return rerank.search(store.shop.features, store.video.features, cfg.index, cfg.rerank)


def run_match(features, out, cfg: MatcherConfig) -> MatchResult:
    """Match a feature store and write ``result.json`` and ``match_details.json`` under ``out``."""
    store = load_store(features)
    dist, rows = search_store(store, cfg)
    result = match_catalogue(store.shop, store.video, dist, rows, cfg.voting)
    write_outputs(out, result)
    return result


def simulate_crops(ds: Dataset, frames, dim: int = 512, noise: float = 1.0, video_noise: float = 1.5,
                   seed: int = 0) -> FeatureStore:
    """Crops of every annotated box (shop photos, and video frames in ``frames``) with synthetic
    features: a random unit direction per garment (``instance_id``) plus Gaussian noise of norm
    ~``noise`` (``noise * video_noise`` on video crops, the photo-to-stream domain gap); boxes of
    ``instance_id`` 0 get a random direction each. Detector scores are uniform in [0.9, 1)."""
    rng = np.random.default_rng(seed)
    centers: dict[int, np.ndarray] = {}

    def feature(iid: int, scale: float) -> np.ndarray:
        if iid == 0:
            return rng.normal(size=dim)
        center = centers.setdefault(iid, rng.normal(size=dim) / np.sqrt(dim))
        return center + scale * rng.normal(size=dim) / np.sqrt(dim)

    def table(rows) -> CropTable:
        if not rows:
            return CropTable.empty(dim)
        owner, name, frame, box, iid, scale = zip(*rows)
        feats = np.stack([feature(i, s) for i, s in zip(iid, scale)]).astype(np.float32)
        feats /= np.linalg.norm(feats, axis=1, keepdims=True)
        return CropTable(owner, name, frame, box, rng.uniform(0.9, 1.0, len(rows)), feats.astype(np.float16))

    wanted = set(frames)
    shop = [(p.item_id, p.name, -1, a.box, a.instance_id, noise)
            for p in ds.photos() for a in (p.annotations or ())]
    video = [(v.video_id, "", f, a.box, a.instance_id, noise * video_noise)
             for v in ds.videos.values() for f, anns in (v.frames or {}).items() if f in wanted
             for a in anns]
    return FeatureStore(table(shop), table(video))


def calibrate_store(features, gt: Dataset, cfg: MatcherConfig, out=None) -> list[dict]:
    """Grid-search the voting constants for the contest score on an annotated split; with ``out``,
    write the best as a YAML override (``matcher.voting.*``). Returns the table, best first."""
    from livematch.io import atomic_write_text
    from livematch.metric import evaluate
    from matcher.calibrate import calibrate
    import yaml
    store = load_store(features)
    dist, rows = search_store(store, cfg)
    table = calibrate(store.shop, store.video, dist, rows, lambda pred: evaluate(pred, gt).score,
                      cfg.voting)
    if out is not None:
        best = {k: table[0][k] for k in ("keep_fraction", "vote_fraction", "max_distance")}
        best["max_distance"] = min(best["max_distance"], 4.0)  # inf -> beyond any unit-vector distance
        atomic_write_text(out, f"# livematch calibrate: score {table[0]['score']:.4f} on {len(gt.videos)} "
                               f"clips\n" + yaml.safe_dump({"matcher": {"voting": best}}, sort_keys=False))
    return table
