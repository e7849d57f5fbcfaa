"""The embedder-to-matcher format: a feature store, a folder with ``shop*.npz`` (crops of shop
photos) and ``video*.npz`` (crops of video frames), each a :class:`matcher.crops.CropTable`;
several shards of each kind are concatenated in name order. ``text.json``, when there is text:
``{"titles": {item_id: title}, "transcripts": {video_id: transcript}}``."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from ground.io import write_json
from matcher.config import MatcherConfig
from matcher.crops import CropTable, FeatureError, clean_features
from matcher.text import TextScores, text_scores

TEXT_FILE = "text.json"
log = logging.getLogger(__name__)


@dataclass
class FeatureStore:
    shop: CropTable
    video: CropTable
    dropped: int = 0  # crops dropped for NaN / inf / zero-norm features
    titles: dict[str, str] = field(default_factory=dict)  # item id -> its title (image_text)
    #: video id -> what is said in it (video_text)
    transcripts: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):  # ids as the crop tables hold them
        self.titles = {str(k): t for k, t in self.titles.items()}
        self.transcripts = {str(k): t for k, t in self.transcripts.items()}

    def subset(self, shop, video, items=None, clips=None) -> FeatureStore:
        """The store cut down to crop tables ``shop`` and ``video``, with the texts of folders
        ``items`` and clips ``clips`` (by default those the tables hold crops of)."""
        items = set(shop.owner.tolist() if items is None else items)
        clips = set(video.owner.tolist() if clips is None else clips)
        return FeatureStore(
            shop,
            video,
            self.dropped,
            {k: t for k, t in self.titles.items() if k in items},
            {k: t for k, t in self.transcripts.items() if k in clips},
        )


def _load_text(path: Path) -> tuple[dict, dict]:
    """``text.json``'s titles and transcripts (both empty when there is no file)."""
    if not path.is_file():
        return {}, {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        titles, transcripts = data.get("titles", {}), data.get("transcripts", {})
        if not all(
            isinstance(d, dict) and all(isinstance(v, str) for v in d.values())
            for d in (titles, transcripts)
        ):
            raise ValueError("titles and transcripts must map ids to strings")
    except (OSError, ValueError, AttributeError) as e:
        raise FeatureError(f"{path}: not a text file of a feature store ({e})") from e
    return titles, transcripts


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
    titles, transcripts = _load_text(folder / TEXT_FILE)
    return FeatureStore(shop, video, bad_shop + bad_video, titles, transcripts)


def save_store(folder, store: FeatureStore) -> None:
    """Write the store's tables (and ``text.json`` when it holds any text)."""
    folder = Path(folder)
    store.shop.save(folder / "shop.npz")
    store.video.save(folder / "video.npz")
    if store.titles or store.transcripts:
        write_json(
            folder / TEXT_FILE,
            {
                "titles": dict(sorted(store.titles.items())),
                "transcripts": dict(sorted(store.transcripts.items())),
            },
        )
    else:  # a store without text never reads an earlier one's back
        (folder / TEXT_FILE).unlink(missing_ok=True)


def store_text(store: FeatureStore, cfg: MatcherConfig) -> TextScores | None:
    """The title / transcript similarities the vote adds to ``store``'s pairs (``None`` with
    ``voting.text_weight`` 0 or without text: the vote is the visual one)."""
    if not cfg.voting.text_weight:
        return None
    scores = text_scores(store.titles, store.transcripts, cfg.text)
    if scores is None:
        log.warning(
            "matcher.voting.text_weight is %s but the crops come without item titles or clip "
            "transcripts (image_text/, video_text/): the vote uses the pictures alone",
            cfg.voting.text_weight,
        )
    return scores
