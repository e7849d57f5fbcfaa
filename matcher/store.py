"""The embedder-to-matcher format: a feature store, a folder with ``shop*.npz`` (crops of shop
photos) and ``video*.npz`` (crops of video frames), each a :class:`matcher.crops.CropTable`;
several shards of each kind are concatenated in name order."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from matcher.crops import CropTable, FeatureError, clean_features


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
    if not any(folder.glob("shop*.npz")) and not any(folder.glob("video*.npz")):
        raise FeatureError(
            f"{folder}: no shop*.npz or video*.npz inside; a feature folder is what `livematch "
            "run` (OUT/features) or `livematch embed extract` writes"
        )
    tables = {
        kind: CropTable.concat(CropTable.load(p) for p in sorted(folder.glob(f"{kind}*.npz")))
        for kind in ("shop", "video")
    }
    if tables["shop"].dim and tables["video"].dim and tables["shop"].dim != tables["video"].dim:
        raise FeatureError(
            f"{folder}: shop features are {tables['shop'].dim}-d but video features "
            f"are {tables['video'].dim}-d; extract both with the same embedder"
        )
    shop, bad_shop = clean_features(tables["shop"])
    video, bad_video = clean_features(tables["video"])
    return FeatureStore(shop, video, bad_shop + bad_video)


def save_store(folder, store: FeatureStore) -> None:
    folder = Path(folder)
    store.shop.save(folder / "shop.npz")
    store.video.save(folder / "video.npz")
