"""The reference vote (METHOD.md section 3): each item folder picks at most one video, then each
video keeps its nearest folder.

Per folder with ``N`` shop crops, each having found its nearest video crop:

1. keep the ``max(1, ceil(keep_fraction * N))`` nearest candidates (ties: lower query row first);
2. count kept candidates per video; rank videos by (more votes, nearer candidate, smaller id) and
   keep the first ``max(1, ceil(vote_fraction * V))`` of the ``V`` videos;
3. ``M`` videos left: 0 -> no claim; 1 -> that video; > 1 -> the video of the nearest kept
   candidate among them. The pair's distance is that video's nearest kept candidate;
4. evidence: the frame is that of the nearest candidate, moved to the annotation grid
   (``frame % annotation_step == 0``) when ``prefer_annotation_grid`` and the video has crops
   there (the grid frame whose crop is nearest any of the folder's crops); ``frame_box`` is the
   highest-confidence crop in that frame (``frame_box="nearest"``: the one nearest the folder);
   ``item_box`` is the folder's highest-confidence crop (``item_box="nearest"``: the crop of the
   nearest candidate; ``"paired"``: the crop nearest the frame box, so that both show one garment);
5. a video claimed by several folders keeps the nearest (ties: smaller item id);
6. pairs farther than ``max_distance`` are dropped.

``ceil`` is taken after subtracting 1e-9, so that ``0.28 * 25 = 7.000000000000001`` keeps 7.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from livematch.errors import ConfigError
from matcher.config import VotingConfig
from matcher.crops import CropTable
from matcher.index import pairwise_distance


def within(distance: float, cut: float) -> bool:
    """``distance <= cut`` compared in float32, the precision distances are computed in (so a
    cut of 1.12 keeps a pair at float32(1.12))."""
    return bool(np.float32(distance) <= np.float32(cut))


def keep_count(fraction: float, n: int) -> int:
    """``max(1, ceil(fraction * n))`` for ``n > 0``, robust to float error; 0 for ``n == 0``."""
    return 0 if n <= 0 else max(1, math.ceil(fraction * n - 1e-9))


@dataclass
class Claim:
    """One folder's pick: the video, the pair distance, and how the vote went."""

    item_id: str
    video_id: str
    distance: float
    votes: int
    kept: int  # candidates kept by distance
    videos: int  # V: distinct videos among them
    finalists: int  # M: videos left after the vote cut
    query_row: int  # the folder's crop of the nearest candidate for this video
    gallery_row: int  # that candidate's video crop


@dataclass
class Match:
    """A linked (video, item) pair with its evidence, ready for result.json."""

    video_id: str
    item_id: str
    distance: float
    votes: int
    frame: int
    frame_box: list[float]
    img_name: str
    item_box: list[float]
    runner_up_item: str | None = None
    runner_up_distance: float | None = None


@dataclass
class MatchResult:
    """Matches by video id, every folder's claim, and why each other video has no match."""

    matches: dict[str, Match] = field(default_factory=dict)
    claims: list[Claim] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)


def claim_for_folder(item_id: str, query_rows: np.ndarray, dist: np.ndarray, rows: np.ndarray,
                     gallery_owner: np.ndarray, cfg: VotingConfig) -> Claim | None:
    """Steps 1-3 for one folder. ``dist`` / ``rows``: nearest distance and gallery row of each of
    the folder's queries (``query_rows``); rows of -1 (no neighbour) are ignored."""
    valid = rows >= 0
    query_rows, dist, rows = query_rows[valid], dist[valid], rows[valid]
    order = np.lexsort((query_rows, dist))[:keep_count(cfg.keep_fraction, len(rows))]
    if not len(order):
        return None
    votes: dict[str, int] = defaultdict(int)
    nearest: dict[str, int] = {}  # video -> position in `order` of its nearest kept candidate
    for pos, k in enumerate(order):
        video = str(gallery_owner[rows[k]])
        votes[video] += 1
        nearest.setdefault(video, pos)
    ranked = sorted(votes, key=lambda v: (-votes[v], nearest[v], v))
    finalists = ranked[:keep_count(cfg.vote_fraction, len(ranked))]
    chosen = min(finalists, key=lambda v: nearest[v])
    k = order[nearest[chosen]]
    return Claim(item_id, chosen, float(dist[k]), votes[chosen], len(order), len(ranked),
                 len(finalists), int(query_rows[k]), int(rows[k]))


def _evidence(claim: Claim, shop: CropTable, video: CropTable, folder_rows: np.ndarray,
              video_rows: np.ndarray, cfg: VotingConfig) -> Match:
    """Step 4: the frame box and the photo box backing a claim."""
    frame = int(video.frame[claim.gallery_row])
    if cfg.prefer_annotation_grid and frame % cfg.annotation_step:
        on_grid = video_rows[video.frame[video_rows] % cfg.annotation_step == 0]
        if len(on_grid):
            d = pairwise_distance(shop.features[folder_rows], video.features[on_grid]).min(axis=0)
            frame = int(video.frame[on_grid[np.argmin(d)]])
    in_frame = video_rows[video.frame[video_rows] == frame]
    if cfg.frame_box == "nearest":
        d = pairwise_distance(shop.features[folder_rows], video.features[in_frame]).min(axis=0)
        g = int(in_frame[np.argmin(d)])
    else:
        g = int(in_frame[np.argmax(video.scores[in_frame])])
    if cfg.item_box == "nearest":
        q = claim.query_row
    elif cfg.item_box == "paired":
        q = int(folder_rows[np.argmin(pairwise_distance(video.features[[g]], shop.features[folder_rows])[0])])
    else:
        q = int(folder_rows[np.argmax(shop.scores[folder_rows])])  # argmax: first of ties
    return Match(claim.video_id, claim.item_id, claim.distance, claim.votes, frame,
                 video.boxes[g].tolist(), str(shop.name[q]), shop.boxes[q].tolist())


ITEM_BOX = ("confidence", "nearest", "paired")
FRAME_BOX = ("confidence", "nearest")


def _check(cfg: VotingConfig) -> None:
    for key, allowed in (("item_box", ITEM_BOX), ("frame_box", FRAME_BOX)):
        if getattr(cfg, key) not in allowed:
            raise ConfigError(f"matcher.voting.{key} is {getattr(cfg, key)!r}; choose one of {', '.join(allowed)}")


def _groups(owner: np.ndarray) -> dict[str, np.ndarray]:
    """Owner id -> its rows, ids in sorted order."""
    ids, inverse = np.unique(owner, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    splits = np.cumsum(np.bincount(inverse, minlength=len(ids)))[:-1]
    return {str(i): rows for i, rows in zip(ids, np.split(order, splits))}


def match_catalogue(shop: CropTable, video: CropTable, dist: np.ndarray, rows: np.ndarray,
                    cfg: VotingConfig | None = None) -> MatchResult:
    """Link item folders to videos. ``dist`` / ``rows`` are the ``(Q, k)`` search results of the
    shop crops against the video crops (only the nearest, column 0, votes)."""
    cfg = cfg or VotingConfig()
    _check(cfg)
    dist, rows = np.asarray(dist, np.float32), np.asarray(rows, np.int64)
    if dist.ndim == 2:
        dist, rows = dist[:, 0], rows[:, 0]
    folders, videos = _groups(shop.owner), _groups(video.owner)
    result = MatchResult()
    for item_id, folder_rows in folders.items():
        claim = claim_for_folder(item_id, folder_rows, dist[folder_rows], rows[folder_rows], video.owner, cfg)
        if claim is not None:
            result.claims.append(claim)
    by_video: dict[str, list[Claim]] = defaultdict(list)
    for claim in result.claims:
        by_video[claim.video_id].append(claim)
    for video_id, claims in sorted(by_video.items()):
        claims.sort(key=lambda c: (c.distance, c.item_id))
        best = claims[0]
        if not within(best.distance, cfg.max_distance):
            result.rejected[video_id] = (f"too far: nearest folder {best.item_id} at {best.distance:.3f} "
                                         f"> max_distance {cfg.max_distance}")
            continue
        match = _evidence(best, shop, video, folders[best.item_id], videos[video_id], cfg)
        if len(claims) > 1:
            match.runner_up_item, match.runner_up_distance = claims[1].item_id, claims[1].distance
        result.matches[video_id] = match
    for video_id in videos:
        if video_id not in by_video:
            result.rejected[video_id] = "unclaimed: no folder voted for this video"
    return result
