"""The reference vote (docs/METHOD.md section 3): each item folder picks at most one video, then
each video keeps its nearest folder.

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

import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from ground.errors import ConfigError
from matcher.config import VotingConfig
from matcher.crops import CropTable
from matcher.index import pairwise_distance
from matcher.text import TextScores

log = logging.getLogger(__name__)


NO_CUT = 4.0  # a max_distance beyond any distance between unit vectors (2): "no distance cut-off"


def within(distance: float, cut: float) -> bool:
    """``distance <= cut`` compared in float32, the precision distances are computed in (so a
    cut of 1.12 keeps a pair at float32(1.12))."""
    return bool(np.float32(distance) <= np.float32(cut))


def accepts(distance: float, cfg: VotingConfig) -> bool:
    """Whether a pair passes ``max_distance``: ``<=`` on the Euclidean distance (``written``),
    strictly ``<`` on the mean squared distance (a rule whose :class:`Rule` says ``squared``:
    ``original``, their code drops ``>= 1.12``)."""
    return (
        float(distance) < cfg.max_distance
        if RULES[cfg.rule].squared
        else within(distance, cfg.max_distance)
    )


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
    #: rule "original": the most confident of the folder's crops that voted for the video
    confident_query: int = -1
    confident_gallery: int = -1  # and the most confident video crop they retrieved
    #: the similarity of the folder's title and the clip's transcript (None: no text, or text
    #: off); ``distance`` is then the visual distance minus ``voting.text_weight`` x it
    text_score: float | None = None


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
    pairs: list[dict] = field(default_factory=list)  # the strongest votes behind it (vote_pairs)
    text_score: float | None = None  # the claim's title / transcript similarity (Claim)


@dataclass
class MatchResult:
    """Matches by video id, every folder's claim, and why each other video has no match."""

    matches: dict[str, Match] = field(default_factory=dict)
    claims: list[Claim] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    # a rejected video's nearest folder and its strongest votes there (vote_pairs): what nearly
    # matched
    near_misses: dict[str, tuple[str, list[dict]]] = field(default_factory=dict)


def written_claims(
    item_id: str,
    query_rows: np.ndarray,
    dist: np.ndarray,
    rows: np.ndarray,
    gallery_owner: np.ndarray,
    cfg: VotingConfig,
) -> list[Claim]:
    """Steps 1-3 for one folder, as docs/METHOD.md writes them: one claim per finalist video, the
    pick (nearest kept candidate) first. ``dist`` / ``rows``: nearest distance and gallery row of
    each of the folder's queries (``query_rows``); rows of -1 (no neighbour) are ignored."""
    valid = rows >= 0
    query_rows, dist, rows = query_rows[valid], dist[valid], rows[valid]
    order = np.lexsort((query_rows, dist))[: keep_count(cfg.keep_fraction, len(rows))]
    votes: dict[str, int] = defaultdict(int)
    nearest: dict[str, int] = {}  # video -> position in `order` of its nearest kept candidate
    for pos, k in enumerate(order):
        video = str(gallery_owner[rows[k]])
        votes[video] += 1
        nearest.setdefault(video, pos)
    ranked = sorted(votes, key=lambda v: (-votes[v], nearest[v], v))
    finalists = sorted(
        ranked[: keep_count(cfg.vote_fraction, len(ranked))], key=lambda v: nearest[v]
    )
    return [
        Claim(
            item_id,
            v,
            float(dist[order[nearest[v]]]),
            votes[v],
            len(order),
            len(ranked),
            len(finalists),
            int(query_rows[order[nearest[v]]]),
            int(rows[order[nearest[v]]]),
        )
        for v in finalists
    ]


def original_claims(
    item_id: str,
    query_rows: np.ndarray,
    dist: np.ndarray,
    rows: np.ndarray,
    shop: CropTable,
    video: CropTable,
    cfg: VotingConfig,
) -> list[Claim]:
    """Steps 1-3 for one folder as the authors' inference code computes them (docs/METHOD.md):
    squared distances in float16; keep ``d < quantile(d, keep_fraction)`` (one crop keeps
    nothing, ties at the quantile drop out); keep videos with ``count >= round(vote_fraction * K)``
    (K kept candidates, half-to-even); several left: the video with the *largest* mean distance
    over all of the folder's candidates pointing at it. A claim's distance is the float16 mean of
    its kept voters' distances. The pick first, then the other finalists by distance.

    Where their loop would keep a stale video (several finalists, no mean above 0) the folder
    claims nothing, with a warning."""
    valid = rows >= 0
    query_rows, rows = query_rows[valid], rows[valid]
    d = (np.asarray(dist[valid], np.float32) ** 2).astype(np.float16)
    if not len(d):
        return []
    owners = video.owner[rows].astype(str)
    keep, ids, finalists = _original_vote(d, owners, cfg)
    if not finalists:
        return []
    chosen = _original_pick(finalists, d, owners)
    if chosen is None:
        log.warning(
            "folder %s: no finalist video has a mean distance above 0; the authors' code would "
            "answer a stale video here; no match",
            item_id,
        )
        return []
    claims = [
        _original_claim(
            item_id, v, keep, len(ids), len(finalists), d, owners, query_rows, rows, shop, video
        )
        for v in finalists
    ]
    return sorted(claims, key=lambda c: (c.video_id != chosen, c.distance, c.video_id))


def _original_vote(
    d: np.ndarray, owners: np.ndarray, cfg: VotingConfig
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Steps 1-2 in the authors' arithmetic: (kept-candidate mask, their videos, finalists)."""
    keep = d < np.quantile(d, cfg.keep_fraction)
    ids, counts = np.unique(owners[keep], return_counts=True)
    finalists = [str(v) for v in ids[counts >= round(int(keep.sum()) * cfg.vote_fraction)]]
    return keep, ids, finalists


def _original_pick(finalists: list[str], d: np.ndarray, owners: np.ndarray) -> str | None:
    """Their loop: the first finalist whose mean beats every earlier one and 0 (else None)."""
    if len(finalists) == 1:
        return finalists[0]
    chosen, best = None, np.float16(0)
    for v in finalists:
        mean = d[owners == v].mean()
        if mean > best:
            chosen, best = v, mean
    return chosen


def _original_claim(
    item_id: str,
    video_id: str,
    keep: np.ndarray,
    n_videos: int,
    n_finalists: int,
    d: np.ndarray,
    owners: np.ndarray,
    query_rows: np.ndarray,
    rows: np.ndarray,
    shop: CropTable,
    video: CropTable,
) -> Claim:
    """A finalist's claim: its kept voters' mean distance, nearest and most confident crops."""
    voters = np.flatnonzero(keep & (owners == video_id))
    q = voters[np.argmin(d[voters])]
    g = rows[voters][np.argmax(video.scores[rows[voters]])]
    return Claim(
        item_id,
        video_id,
        float(d[voters].mean()),
        len(voters),
        int(keep.sum()),
        n_videos,
        n_finalists,
        int(query_rows[q]),
        int(rows[q]),
        int(query_rows[voters][np.argmax(shop.scores[query_rows[voters]])]),
        int(g),
    )


def set_claims(
    shop: CropTable,
    video: CropTable,
    folders: dict[str, np.ndarray],
    videos: dict[str, np.ndarray],
    cfg: VotingConfig,
) -> dict[str, list[Claim]]:
    """Rule ``set``: each folder x clip pair scored as a whole. A video crop's similarity to a
    folder is its best cosine to any of the folder's crops; the pair's similarity is the mean of
    the clip's ``set_top_k`` best crops. With ``hub_k`` > 0 the similarities are corrected for
    hubness: ``2 s - r_folder - r_clip``, ``r`` the mean of that folder's (clip's) ``hub_k`` best
    pairs, so that a clip close to every folder stops drawing them all. Distance = 1 - corrected
    similarity. Each folder offers its ``set_offers`` nearest clips, nearest first; the evidence
    crops are the clip's best crop and the folder crop nearest it. Costs one folder x gallery
    product per folder (fine for a catalogue of thousands of crops; the vote rules scale by
    k-NN)."""
    names = list(videos)
    if not names or not folders:
        return {}
    k = max(1, int(cfg.set_top_k))
    sim, best_q, best_g = _set_similarity(shop, video, folders, videos, k)
    if cfg.hub_k > 0:
        sim = _hubness_corrected(sim, int(cfg.hub_k))
    dist = 1.0 - sim
    out = {}
    offers = max(1, int(cfg.set_offers))
    for i, item_id in enumerate(folders):
        picks = np.argsort(dist[i], kind="stable")[:offers]
        out[item_id] = [
            Claim(
                item_id,
                names[j],
                float(dist[i, j]),
                min(k, len(videos[names[j]])),
                k,
                len(names),
                len(picks),
                int(best_q[i, j]),
                int(best_g[i, j]),
            )
            for j in picks
        ]
    return out


def _set_similarity(
    shop: CropTable,
    video: CropTable,
    folders: dict[str, np.ndarray],
    videos: dict[str, np.ndarray],
    k: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(F, C)`` folder x clip similarities, and the shop / video rows of each pair's best crop."""
    code = np.empty(len(video), np.int64)
    for j, rows in enumerate(videos.values()):
        code[rows] = j
    sim = np.full((len(folders), len(videos)), -np.inf, np.float64)
    best_g = np.zeros((len(folders), len(videos)), np.int64)
    best_q = np.zeros_like(best_g)
    for i, rows in enumerate(folders.values()):
        s = np.asarray(shop.features[rows], np.float32) @ np.asarray(video.features, np.float32).T
        m, near = s.max(axis=0), s.argmax(axis=0)
        order = np.lexsort((-m, code))  # grouped by clip, best crop first
        grouped = code[order]
        rank = np.arange(len(order)) - np.searchsorted(grouped, grouped)
        top = order[rank < k]
        sim[i] = np.bincount(code[top], m[top], len(videos)) / np.maximum(
            np.bincount(code[top], minlength=len(videos)), 1
        )
        first = order[rank == 0]
        best_g[i, code[first]] = first
        best_q[i, code[first]] = rows[near[first]]
    return sim, best_q, best_g


def _hubness_corrected(sim: np.ndarray, h: int) -> np.ndarray:
    """``2 s - r_folder - r_clip``, ``r`` the mean of a folder's (clip's) ``h`` best pairs."""
    r_folder = -np.sort(-sim, axis=1)[:, :h].mean(axis=1, keepdims=True)
    r_clip = -np.sort(-sim, axis=0)[:h].mean(axis=0, keepdims=True)
    return 2 * sim - r_folder - r_clip


def _frame_confident(claim, shop, video, folder_rows, in_frame, claimed) -> int:
    """The highest-confidence crop of the frame (rule ``original``: the most confident crop its
    voters retrieved, when the frame is still the claimed one)."""
    if claim.confident_gallery >= 0 and claimed:
        return claim.confident_gallery
    return int(in_frame[np.argmax(video.scores[in_frame])])


def _frame_nearest(claim, shop, video, folder_rows, in_frame, claimed) -> int:
    """The crop of the frame nearest any of the folder's crops."""
    d = pairwise_distance(shop.features[folder_rows], video.features[in_frame]).min(axis=0)
    return int(in_frame[np.argmin(d)])


def _item_confident(claim, shop, video, folder_rows, g) -> int:
    """The folder's highest-confidence crop (rule ``original``: the most confident of the crops
    that voted for the video)."""
    if claim.confident_query >= 0:
        return claim.confident_query
    return int(folder_rows[np.argmax(shop.scores[folder_rows])])  # argmax: first of ties


def _item_nearest(claim, shop, video, folder_rows, g) -> int:
    """The folder's crop of the nearest candidate."""
    return claim.query_row


def _item_paired(claim, shop, video, folder_rows, g) -> int:
    """The folder's crop nearest the chosen frame box (both boxes show one garment)."""
    return int(
        folder_rows[
            np.argmin(pairwise_distance(video.features[[g]], shop.features[folder_rows])[0])
        ]
    )


# matcher.voting.frame_box -> the video crop whose box is the frame box: ``(claim, shop, video,
# folder_rows, in_frame, claimed) -> row``, ``in_frame`` the video's crops in the evidence frame,
# ``claimed`` whether that frame is the claim's own (not moved to the annotation grid).
FRAME_BOX = {"confidence": _frame_confident, "nearest": _frame_nearest}
# matcher.voting.item_box -> the shop crop whose box is the photo box: ``(claim, shop, video,
# folder_rows, g) -> row``, ``g`` the frame box's video crop.
ITEM_BOX = {"confidence": _item_confident, "nearest": _item_nearest, "paired": _item_paired}


def _evidence(
    claim: Claim,
    shop: CropTable,
    video: CropTable,
    folder_rows: np.ndarray,
    video_rows: np.ndarray,
    cfg: VotingConfig,
) -> Match:
    """Step 4: the frame box and the photo box backing a claim."""
    frame = int(video.frame[claim.gallery_row])
    if (
        claim.confident_gallery >= 0
    ):  # rule "original": the most confident crop its voters retrieved
        frame = int(video.frame[claim.confident_gallery])
    claimed_frame = frame
    if cfg.prefer_annotation_grid and frame % cfg.annotation_step:
        on_grid = video_rows[video.frame[video_rows] % cfg.annotation_step == 0]
        if len(on_grid):
            d = pairwise_distance(shop.features[folder_rows], video.features[on_grid]).min(axis=0)
            frame = int(video.frame[on_grid[np.argmin(d)]])
    in_frame = video_rows[video.frame[video_rows] == frame]
    g = FRAME_BOX[cfg.frame_box](claim, shop, video, folder_rows, in_frame, frame == claimed_frame)
    q = ITEM_BOX[cfg.item_box](claim, shop, video, folder_rows, g)
    return Match(
        claim.video_id,
        claim.item_id,
        claim.distance,
        claim.votes,
        frame,
        video.boxes[g].tolist(),
        str(shop.name[q]),
        shop.boxes[q].tolist(),
        text_score=claim.text_score,
    )


def check_voting(cfg: VotingConfig) -> None:
    """Raise :class:`ConfigError` naming the key when a choice is not one the matcher knows."""
    for key, allowed in CHOICES.items():
        name = key.split(".", 1)[1]
        if getattr(cfg, name) not in allowed:
            raise ConfigError(
                f"matcher.{key} is {getattr(cfg, name)!r}; choose one of {', '.join(allowed)}"
            )


def _groups(owner: np.ndarray) -> dict[str, np.ndarray]:
    """Owner id -> its rows, ids in sorted order."""
    ids, inverse = np.unique(owner, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    splits = np.cumsum(np.bincount(inverse, minlength=len(ids)))[:-1]
    return {str(i): rows for i, rows in zip(ids, np.split(order, splits))}


def _rank(claims: list[Claim]) -> list[Claim]:
    return sorted(claims, key=lambda c: (c.distance, c.item_id))


def _greedy(
    options: dict[str, list[Claim]], cfg: VotingConfig
) -> tuple[dict[str, Claim], dict[str, list[Claim]]]:
    """Each folder its first claim; each video keeps the nearest (ties: smaller item id)."""
    contenders: dict[str, list[Claim]] = defaultdict(list)
    for claims in options.values():
        contenders[claims[0].video_id].append(claims[0])
    contenders = {v: _rank(cs) for v, cs in contenders.items()}
    return {v: cs[0] for v, cs in contenders.items() if accepts(cs[0].distance, cfg)}, contenders


def _global(
    options: dict[str, list[Claim]], cfg: VotingConfig
) -> tuple[dict[str, Claim], dict[str, list[Claim]]]:
    """One assignment of folders to videos over every finalist pair within the cut-off,
    minimising the summed pair distances plus ``max_distance`` for each folder left unmatched
    (without a finite cut-off, leaving a folder unmatched costs 1 more than the largest pair
    distance)."""
    from scipy.optimize import linear_sum_assignment

    contenders: dict[str, list[Claim]] = defaultdict(list)
    for claims in options.values():
        for c in claims:
            contenders[c.video_id].append(c)
    contenders = {v: _rank(cs) for v, cs in contenders.items()}
    pairs = [c for cs in options.values() for c in cs if accepts(c.distance, cfg)]
    if not pairs:
        return {}, contenders
    folders = sorted({c.item_id for c in pairs})
    videos = sorted({c.video_id for c in pairs})
    fi, vi = {f: i for i, f in enumerate(folders)}, {v: j for j, v in enumerate(videos)}
    top = max(c.distance for c in pairs) + 1.0
    unmatched = min(float(cfg.max_distance), top) + 1e-6
    cost = np.zeros((len(folders), len(videos)))
    chosen: dict[tuple[int, int], Claim] = {}
    for c in pairs:
        i, j = fi[c.item_id], vi[c.video_id]
        cost[i, j], chosen[i, j] = c.distance - unmatched, c
    winners = {}
    for i, j in zip(*linear_sum_assignment(cost)):
        if (i, j) in chosen:
            winners[videos[j]] = chosen[i, j]
    return winners, contenders


def per_folder(claims_of):
    """A rule that claims folder by folder, ``claims_of(item_id, query_rows, dist, rows, shop,
    video, cfg) -> [Claim]`` (its pick first), as a :class:`Rule`'s claims over every folder."""

    def rule(shop, video, dist, rows, folders, videos, cfg) -> dict[str, list[Claim]]:
        options = {}
        for item_id, q in folders.items():
            claims = claims_of(item_id, q, dist[q], rows[q], shop, video, cfg)
            if claims:
                options[item_id] = claims
        return options

    return rule


def _written(item_id, query_rows, dist, rows, shop, video, cfg) -> list[Claim]:
    return written_claims(item_id, query_rows, dist, rows, video.owner, cfg)


def _set(shop, video, dist, rows, folders, videos, cfg) -> dict[str, list[Claim]]:
    return set_claims(shop, video, folders, videos, cfg)


@dataclass(frozen=True)
class Rule:
    """A voting rule (``matcher.voting.rule``): ``claims(shop, video, dist, rows, folders,
    videos, cfg) -> {item_id: [Claim, ...]}``, each folder's claims with its pick first (folders
    without a claim left out; ``dist`` / ``rows`` are each shop crop's nearest video crop), and
    what the rest of the matcher needs to know of it."""

    claims: Callable[..., dict[str, list[Claim]]]
    #: its distances are mean squared Euclidean distances (the authors' code), cut strictly:
    #: ``< max_distance``
    squared: bool = False
    #: keep_fraction / vote_fraction shape its claims (the vote sweep varies them)
    fractions: bool = True
    #: a folder's pick is its nearest claim: the words re-order its claims by their distance
    #: (``original`` picks the largest mean among several finalists: the words leave the order)
    nearest_first: bool = True


@dataclass(frozen=True)
class Assignment:
    """How claims become matches (``matcher.voting.assign``): ``pick(options, cfg) -> (winners,
    contenders)``; ``joint``: one assignment over every pair within the cut-off, which a new
    cut-off can change (the vote sweep solves it again at each cut)."""

    pick: Callable[..., tuple[dict[str, Claim], dict[str, list[Claim]]]]
    joint: bool = False


# matcher.voting.rule -> the rule. A new rule is one function and one line.
RULES = {
    "written": Rule(per_folder(_written)),
    "original": Rule(per_folder(original_claims), squared=True, nearest_first=False),
    "set": Rule(_set, fractions=False),
}
# matcher.voting.assign -> how claims become matches.
ASSIGN = {"greedy": Assignment(_greedy), "global": Assignment(_global, joint=True)}
# The voting settings that take one of a few words: the tables themselves, by name (livematch.config
# checks them when a config loads).
CHOICES = {
    "voting.rule": RULES,
    "voting.assign": ASSIGN,
    "voting.item_box": ITEM_BOX,
    "voting.frame_box": FRAME_BOX,
}


def vote_pairs(
    shop: CropTable,
    video: CropTable,
    dist: np.ndarray,
    rows: np.ndarray,
    folder_rows: np.ndarray,
    video_id: str,
    n: int = 5,
) -> list[dict]:
    """The votes behind a match, as a person checks them: the folder's crops whose nearest video
    crop lies in ``video_id``, nearest first, at most ``n``: each shop crop (photo, box), the
    frame crop it retrieved (frame, box) and their distance."""
    q = folder_rows[rows[folder_rows] >= 0]
    q = q[video.owner[rows[q]] == video_id]
    q = q[np.argsort(dist[q], kind="stable")][:n]
    return [
        {
            "img_name": str(shop.name[i]),
            "item_box": shop.boxes[i].tolist(),
            "frame": int(video.frame[rows[i]]),
            "frame_box": video.boxes[rows[i]].tolist(),
            "distance": float(dist[i]),
        }
        for i in q
    ]


def with_text(
    options: dict[str, list[Claim]], text: TextScores, weight: float, reorder: bool = True
) -> dict[str, list[Claim]]:
    """Each claim's distance minus ``weight`` x its folder's text score with the clip
    (:class:`matcher.text.TextScores`; a pair without text keeps its visual distance); with
    ``reorder`` (a rule whose pick is its nearest claim), each folder's claims re-ordered by that
    distance, its pick first (ties keep the rule's order). A folder none of whose claims has text
    is left as it is."""
    out = {}
    for item_id, claims in options.items():
        scores = [text(item_id, c.video_id) for c in claims]
        if all(t is None for t in scores):
            out[item_id] = claims
            continue
        moved = [
            c if t is None else replace(c, distance=c.distance - weight * t, text_score=t)
            for c, t in zip(claims, scores)
        ]
        out[item_id] = sorted(moved, key=lambda c: c.distance) if reorder else moved
    return out


def _why_not(near: Claim, cfg: VotingConfig) -> str:
    """Why a video's nearest claim ``near`` did not match it."""
    if not accepts(near.distance, cfg):
        return (
            f"too far: nearest folder {near.item_id} at {near.distance:.3f} > max_distance "
            f"{cfg.max_distance}"
        )
    return (
        f"assigned away: its nearest folder {near.item_id} ({near.distance:.3f}) "
        "matched another video"
    )


def match_catalogue(
    shop: CropTable,
    video: CropTable,
    dist: np.ndarray,
    rows: np.ndarray,
    cfg: VotingConfig | None = None,
    text: TextScores | None = None,
) -> MatchResult:
    """Link item folders to videos. ``dist`` / ``rows`` are the ``(Q, k)`` search results of the
    shop crops against the video crops (only the nearest, column 0, votes); ``text``: each
    folder's title against each clip's transcript (:mod:`matcher.text`), used when
    ``cfg.text_weight`` is not 0 (:func:`with_text`)."""
    cfg = cfg or VotingConfig()
    check_voting(cfg)
    dist, rows = np.asarray(dist, np.float32), np.asarray(rows, np.int64)
    if dist.ndim == 2:
        dist, rows = dist[:, 0], rows[:, 0]
    folders, videos = _groups(shop.owner), _groups(video.owner)
    options = RULES[cfg.rule].claims(shop, video, dist, rows, folders, videos, cfg)
    if text is not None and cfg.text_weight:
        options = with_text(options, text, cfg.text_weight, RULES[cfg.rule].nearest_first)
    winners, contenders = ASSIGN[cfg.assign].pick(options, cfg)
    result = MatchResult()
    won = {c.item_id: c for c in winners.values()}
    result.claims = [won.get(item_id, claims[0]) for item_id, claims in options.items()]
    for video_id, claims in sorted(contenders.items()):
        best = winners.get(video_id)
        if best is None:
            near = claims[0]
            result.near_misses[video_id] = (
                near.item_id,
                vote_pairs(shop, video, dist, rows, folders[near.item_id], video_id),
            )
            result.rejected[video_id] = _why_not(near, cfg)
            continue
        match = _evidence(best, shop, video, folders[best.item_id], videos[video_id], cfg)
        match.pairs = vote_pairs(shop, video, dist, rows, folders[best.item_id], video_id)
        others = [c for c in claims if c.item_id != best.item_id]
        if others:
            match.runner_up_item, match.runner_up_distance = others[0].item_id, others[0].distance
        result.matches[video_id] = match
    for video_id in videos:
        if video_id not in contenders:
            result.rejected[video_id] = "unclaimed: no folder voted for this video"
    return result
