"""Choosing the pipeline's inference settings on annotated validation data, by the contest score.

The validation split is detected and embedded once, at the lowest detection threshold under
consideration, with every class and the whole frame (``livematch.fit.calibrate``); a
setting then only re-filters those crop rows, searches and re-votes, which takes a fraction of a
second. :class:`SplitScorer` scores a :class:`Setting`; :func:`coordinate_ascent` moves one
setting at a time to its best value on the grid, in a fixed order, for a few rounds.

Why one setting at a time rather than the full grid: the grid is about 10 x 10 x 2 x 2 x 2 x 3
detection and evidence settings times 28 x 13 voting cut-offs (over 300,000 scores), and a
validation split of a few dozen clips cannot tell that many settings apart; a coordinate ascent
scores about 400, and each choice it makes can be read off one curve in ``fit.html``. The vote's
three cut-offs (kept fraction, vote fraction, distance) interact, so they move together as one
coordinate (:func:`matcher.sweep.sweep_votes`, itself a small grid).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from detector.config import WORN
from ground.boxes import kept_with_floor, kept_worn
from ground.dataset import Dataset
from livematch.config import FitConfig
from matcher import rerank
from matcher.config import MatcherConfig
from matcher.crops import CropTable
from matcher.index import is_exact
from matcher.result import to_result
from matcher.store import FeatureStore
from matcher.sweep import distance_grid, sweep_votes
from matcher.text import text_scores
from matcher.voting import ASSIGN, FRAME_BOX, ITEM_BOX, NO_CUT, RULES, MatchResult, match_catalogue

if TYPE_CHECKING:
    from livematch.estimate import Estimate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Procedure:
    """How fit searches, estimates and decides, beyond what ``fit.*`` sets: fixed for users, passed
    explicitly from fit to the calibration and the estimate (the benchmarks pass their own)."""

    rounds: int = 2  # coordinate-ascent rounds (stops early when a round changes nothing)
    #: a setting leaves its held value only when the score rises by more than this
    min_gain: float = 0.0
    vote_rules: tuple[str, ...] = ("written/greedy",)  # RULE/ASSIGN pairs the vote coordinate tries
    cuts: int = 3  # one VAL root: cut into fit.parts parts this many ways for the held-out estimate
    #: with this many VAL roots or more, the estimate holds out each root's parts, not whole roots
    part_roots: int = 3
    #: a held-out part needs this many selling clips; VAL twice as many for an estimate
    min_clips: int = 5
    #: resamples of VAL's clips for the estimate's interval and a candidate's difference
    bootstrap: int = 2000
    #: the interval's level; a candidate is kept when its difference's lies above 0
    confidence: float = 0.9
    #: fit.train_calibration=auto adds TRAIN with at most this many VAL roots
    train_max_val_roots: int = 2
    #: at most this many clips of each TRAIN root calibrate (a seeded draw)
    train_max_clips: int = 100
    region_coverage: float = 0.98  # share of TRAIN's sold garments the learned frame region keeps
    # matcher.rerank.dba_k values fit tries (database-side augmentation) as candidates; () tries
    # none
    dba_k: tuple[int, ...] = (2,)
    #: matcher.voting.text_weight values the words candidate calibrates over (and 0), when VAL has
    #: item titles and clip transcripts; () tries no words
    text_weights: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3, 0.5)


@dataclass(frozen=True)
class Setting:
    """Every inference choice that calibration makes; ``frame_classes`` / ``region`` empty mean
    every class / the whole frame."""

    photo_threshold: float
    frame_threshold: float
    frame_classes: tuple[str, ...]
    region: tuple[float, ...]
    frame_box: str
    item_box: str
    keep_fraction: float
    vote_fraction: float
    max_distance: float
    rule: str = "written"
    assign: str = "greedy"
    min_worn: float = 0.0  # frame crops of lower worn probability dropped (the worn scorer); 0: off
    #: but kept when the detector labels them worn with at least this score; 0: off
    trust_worn: float = 0.0
    #: each folder keeps at least this many of its most confident boxes; 0: threshold alone
    photo_min_boxes: int = 0
    #: the vote's distance minus this x the title / transcript similarity; 0: pictures alone
    text_weight: float = 0.0

    def overrides(self) -> dict:
        """The setting as the nested config sections it sets."""
        return {
            "detector": {
                "infer": {
                    "photo_threshold": self.photo_threshold,
                    "photo_min_boxes": self.photo_min_boxes,
                    "frame_threshold": self.frame_threshold,
                    "frame_classes": list(self.frame_classes),
                    "frame_region": list(self.region or (0.0, 0.0, 1.0, 1.0)),
                    "frame_min_worn": self.min_worn,
                    "frame_trust_worn": self.trust_worn,
                }
            },
            "matcher": {
                "voting": {
                    "frame_box": self.frame_box,
                    "item_box": self.item_box,
                    "keep_fraction": self.keep_fraction,
                    "vote_fraction": self.vote_fraction,
                    "max_distance": min(self.max_distance, NO_CUT),
                    "rule": self.rule,
                    "assign": self.assign,
                    "text_weight": self.text_weight,
                }
            },
        }


def setting_of(cfg) -> Setting:
    """The setting a :class:`~livematch.config.LiveMatchConfig` runs with."""
    inf, vote = cfg.detector.infer, cfg.matcher.voting
    region = tuple(float(v) for v in inf.frame_region)
    return Setting(
        float(inf.photo_threshold),
        float(inf.frame_threshold),
        tuple(inf.frame_classes),
        () if region == (0.0, 0.0, 1.0, 1.0) else region,
        vote.frame_box,
        vote.item_box,
        float(vote.keep_fraction),
        float(vote.vote_fraction),
        float(vote.max_distance),
        vote.rule,
        vote.assign,
        float(inf.frame_min_worn),
        float(inf.frame_trust_worn),
        int(inf.photo_min_boxes),
        float(vote.text_weight),
    )


def _centred_in(table: CropTable, sizes: dict[str, tuple[int, int]], region) -> np.ndarray:
    """Which video crops have their box centre inside ``region`` (fractions of their clip's
    frame)."""
    from ground.boxes import in_region

    if not region or not len(table):
        return np.ones(len(table), bool)
    wh = np.array([sizes.get(str(o)) or (1, 1) for o in table.owner], np.float32)
    cx = (table.boxes[:, 0] + table.boxes[:, 2]) / (2 * wh[:, 0])
    cy = (table.boxes[:, 1] + table.boxes[:, 3]) / (2 * wh[:, 1])
    return in_region(cx, cy, region)


class SplitScorer:
    """Scores settings on one validation split's crop rows (detected at the lowest threshold).

    ``store``: shop and video crops with detector scores and labels; ``classes``: the detector's
    class names (label ``k`` is ``classes[k - 1]``); ``sizes``: frame ``(width, height)`` of each
    clip; ``gt``: the annotated split; ``matcher``: index and re-ranking settings for the search."""

    def __init__(
        self,
        store: FeatureStore,
        classes: list[str],
        sizes: dict,
        gt: Dataset,
        matcher: MatcherConfig,
    ):
        from ground.metric import sold_items

        self.store, self.classes, self.sizes, self.gt, self.matcher = (
            store,
            classes,
            sizes,
            gt,
            matcher,
        )
        self.truth = sold_items(gt)
        self._searches: dict[tuple, tuple] = {}
        self._lists = None  # neighbour lists of the video crops, for database-side augmentation
        self.evaluations = 0
        self.text = text_scores(store.titles, store.transcripts, matcher.text)

    def _label_ids(self, names) -> np.ndarray:
        return np.array([k + 1 for k, n in enumerate(self.classes) if n in names], np.int64)

    @staticmethod
    def filter_key(s: Setting) -> tuple:
        """What :meth:`tables` filters by: searches are cached per key."""
        return (
            s.photo_threshold,
            s.photo_min_boxes,
            s.frame_threshold,
            s.frame_classes,
            s.region,
            s.min_worn,
            s.trust_worn,
        )

    def _kept_video(self, s: Setting) -> np.ndarray:
        """Which video crops setting ``s``'s detection would have kept."""
        video = self.store.video
        trusted = (
            (self.classes.index(WORN) + 1, s.trust_worn)
            if s.trust_worn and WORN in self.classes
            else None
        )
        keep_video = (
            (video.scores >= s.frame_threshold)
            & _centred_in(video, self.sizes, s.region)
            & kept_worn(video.worn, video.labels, video.scores, s.min_worn, trusted)
        )
        if s.frame_classes:
            keep_video &= np.isin(video.labels, self._label_ids(s.frame_classes))
        return keep_video

    def tables(
        self, s: Setting, keep_video: np.ndarray | None = None
    ) -> tuple[CropTable, CropTable]:
        """The shop and video crops that setting ``s``'s detection would have kept (``keep_video``:
        :meth:`_kept_video` of ``s``, when already made)."""
        shop = self.store.shop
        keep_video = self._kept_video(s) if keep_video is None else keep_video
        return (
            shop[kept_with_floor(shop.scores, shop.owner, s.photo_threshold, s.photo_min_boxes)],
            self.store.video[keep_video],
        )

    def _gallery(self, keep_video: np.ndarray, video: CropTable):
        """The kept ``video`` crops' features as the search sees them, and the re-ranking left to
        it: database-side augmentation (``rerank.dba_k``) of the kept crops comes from neighbour
        lists of all the rows, searched once (:class:`matcher.rerank.NeighbourLists`, exact: for an
        index kind whose entry says ``exact``, flat), not from a new search of each filter's
        gallery."""
        rr = self.matcher.rerank
        if rr.dba_k <= 1 or not is_exact(self.matcher.index.kind):
            return video.features, rr
        if self._lists is None:
            self._lists = rerank.NeighbourLists(self.store.video.features)
        return self._lists.augment(keep_video, rr.dba_k, rr.alpha), replace(rr, dba_k=0)

    def search(self, s: Setting):
        """Filtered tables and the nearest video crop of each shop crop (cached per filter)."""
        key = self.filter_key(s)
        if key not in self._searches:
            keep_video = self._kept_video(s)
            shop, video = self.tables(s, keep_video)
            if len(shop) and len(video):
                gallery, left = self._gallery(keep_video, video)
                dist, rows = rerank.search(shop.features, gallery, self.matcher.index, left)
            else:
                dist, rows = np.empty((len(shop), 1), np.float32), np.full((len(shop), 1), -1)
            self._searches = {key: (shop, video, dist, rows)}  # sweeps move one filter at a time
        return self._searches[key]

    def result(self, s: Setting) -> dict:
        """The result.json entries setting ``s`` gives on the split (none without crops)."""
        shop, video, dist, rows = self.search(s)
        if not len(shop) or not len(video):
            return {}
        return to_result(match_catalogue(shop, video, dist, rows, self.voting(s), self.text))

    def _score_result(self, pred: dict) -> float:
        from ground.metric import evaluate

        self.evaluations += 1
        return evaluate(pred, self.gt, self.truth).score

    def score(self, s: Setting) -> float:
        """The contest score of the result setting ``s`` gives on the split."""
        return self._score_result(self.result(s))

    def evaluation(self, s: Setting):
        """The full :class:`~ground.metric.Evaluation` (item / frame / box levels) of ``s``."""
        from ground.metric import evaluate

        return evaluate(self.result(s), self.gt, self.truth)

    def voting(self, s: Setting):
        return replace(
            self.matcher.voting,
            frame_box=s.frame_box,
            item_box=s.item_box,
            keep_fraction=s.keep_fraction,
            vote_fraction=s.vote_fraction,
            max_distance=s.max_distance,
            rule=s.rule,
            assign=s.assign,
            text_weight=s.text_weight,
        )

    def part(self, items, clips) -> SplitScorer:
        """The same split cut down to catalogue ``items`` and clips ``clips`` (their crop rows and
        annotations), matched on its own."""
        items, clips = set(items), set(clips)
        store = self.store.subset(
            self.store.shop[np.isin(self.store.shop.owner, list(items))],
            self.store.video[np.isin(self.store.video.owner, list(clips))],
            items,
            clips,
        )
        gt = replace(
            self.gt,
            items={k: v for k, v in self.gt.items.items() if k in items},
            videos={k: v for k, v in self.gt.videos.items() if k in clips},
        )
        return SplitScorer(store, self.classes, self.sizes, gt, self.matcher)

    def vote_table(self, s: Setting, grid: dict | None = None) -> list[dict]:
        """Every (keep, vote, max_distance) on the grid at the other settings of ``s``, best
        first."""
        shop, video, dist, rows = self.search(s)
        if not len(shop) or not len(video):
            return []
        return sweep_votes(
            shop, video, dist, rows, self._score_result, self.voting(s), grid, self.text
        )


class Splits:
    """Several validation splits, each matched on its own (its own catalogue and its own clips,
    as a test set would be); a setting's score is the mean of their contest scores. More clips
    steady the choice without making one larger catalogue, whose folders would compete for
    clips that a test set of the usual size never shows them."""

    def __init__(self, calibrators: list[SplitScorer]):
        self.calibrators = calibrators

    @property
    def evaluations(self) -> int:
        return sum(c.evaluations for c in self.calibrators)

    def score(self, s: Setting) -> float:
        return float(np.mean([c.score(s) for c in self.calibrators]))

    def evaluation(self, s: Setting) -> list:
        return [c.evaluation(s) for c in self.calibrators]

    def vote_table(self, s: Setting, grid: dict | None = None) -> list[dict]:
        """:meth:`SplitScorer.vote_table` averaged over the splits, on one distance grid: the
        quantiles of every split's pair distances at ``s``'s vote without a cut."""
        if len(self.calibrators) == 1:
            return self.calibrators[0].vote_table(s, grid)
        pooled = MatchResult()
        for c in self.calibrators:
            shop, video, dist, rows = c.search(s)
            if len(shop) and len(video):
                full = match_catalogue(
                    shop, video, dist, rows, replace(c.voting(s), max_distance=float("inf")), c.text
                )
                pooled.matches.update({f"{id(c)}/{v}": m for v, m in full.matches.items()})
        grid = {
            **(grid or {}),
            "max_distance": (grid or {}).get("max_distance") or distance_grid(pooled),
        }
        sums: dict[tuple, list] = {}
        for c in self.calibrators:
            for row in c.vote_table(s, grid) or []:
                key = (row["keep_fraction"], row["vote_fraction"], row["max_distance"])
                sums.setdefault(key, []).append(row)
        table = [
            {
                "keep_fraction": k[0],
                "vote_fraction": k[1],
                "max_distance": k[2],
                "score": float(np.mean([r["score"] for r in rows])),
                "matches": sum(r["matches"] for r in rows),
            }
            for k, rows in sums.items()
            if len(rows) == len(self.calibrators)
        ]
        order = sorted(range(len(table)), key=lambda i: (-table[i]["score"], i))
        return [table[i] for i in order]


@dataclass
class Sweep:
    """One coordinate's curve in one round: each value tried and its validation score."""

    name: str
    round: int
    values: list
    scores: list[float]
    chosen: object


@dataclass
class Calibration:
    """What the calibration stage found: the ``start`` and ``chosen`` settings, every coordinate's
    curve (``sweeps``), the VAL roots' :class:`Splits` (``val``), the frame region learned from
    TRAIN (``None``: none), the held-out ``estimate`` (:mod:`livematch.estimate`; ``None``, with
    ``no_estimate`` saying why, when VAL is too small or ``fit.holdout`` is off) and TRAIN's parts
    that calibrated beside VAL."""

    start: Setting
    chosen: Setting
    sweeps: list[Sweep]
    val: Splits
    region: list | None
    estimate: Estimate | None
    train_parts: list
    no_estimate: str = ""
    grids: dict = field(default_factory=dict)  # what the coordinate ascent swept


def describe(value, name: str = "") -> str:
    """A setting's value for people: ``all`` for no class filter, ``whole frame`` for no
    region, ``none`` for no cut-off, ``off`` for no worn cut-off."""
    if name == "region" and not value:
        return "whole frame"
    if name in ("min_worn", "trust_worn") and not value:
        return "off"
    if isinstance(value, float):
        return "none" if value >= NO_CUT else f"{value:g}"
    if isinstance(value, tuple):
        return "[" + ", ".join(describe(v) for v in value) + "]" if value else "all"
    return str(value)


def _improves(new: float, old: float, margin: float = 0.0) -> bool:
    """A move must beat the held score by more than ``margin`` (ties keep the held value)."""
    return new > old + max(margin, 1e-9)


# Coordinates that move several settings together: a photo threshold alone finds nothing to
# match while the frame threshold drops every frame box (a start at the reference 0.9 / 0.95 with
# a model that scores lower), so the two thresholds are one 2-D coordinate.
JOINT = {"thresholds": ("photo_threshold", "frame_threshold")}


def get_value(s: Setting, name: str):
    """Coordinate ``name`` of ``s`` (a tuple for a :data:`JOINT` one)."""
    return tuple(getattr(s, f) for f in JOINT[name]) if name in JOINT else getattr(s, name)


def _set(s: Setting, name: str, value) -> Setting:
    return (
        replace(s, **dict(zip(JOINT[name], value)))
        if name in JOINT
        else replace(s, **{name: value})
    )


VOTE_KEYS = ("keep_fraction", "vote_fraction", "max_distance", "rule", "assign")


def _vote_key(row: dict) -> tuple:
    return tuple(row[k] for k in VOTE_KEYS)


def _vote_step(cal, current: Setting, rules: list, vote_grid: dict | None):
    """The vote coordinate: keep / vote fraction and distance cut-off swept together under each
    ``(rule, assign)`` in ``rules`` (the current one when empty; a rule change rescales the
    distances, so the cut-off moves with it). Returns the best setting, its score, and the table
    of every row (best first)."""
    table = []
    for rule, assign in list(dict.fromkeys([(current.rule, current.assign), *rules])):
        for row in cal.vote_table(replace(current, rule=rule, assign=assign), vote_grid) or []:
            table.append({**row, "rule": rule, "assign": assign})
    if not table:
        return None, 0.0, []
    order = sorted(range(len(table)), key=lambda i: (-table[i]["score"], i))  # ties: the held rule
    table = [table[i] for i in order]
    return replace(current, **{k: table[0][k] for k in VOTE_KEYS}), table[0]["score"], table


def _vote_move(cal, current: Setting, best: float, options, vote_grid, margin, r: int):
    """The vote coordinate of round ``r``: keep / vote fraction and cut-off swept together under
    each ``(rule, assign)`` of ``options``. Returns ``(setting, score, sweep)``; no sweep when
    nothing could be voted."""
    chosen, score, table = _vote_step(cal, current, options, vote_grid)
    if chosen is None:
        return current, best, None
    keys, curve = [_vote_key(t) for t in table], [t["score"] for t in table]
    held = _vote_key(asdict(current))
    if held not in keys:  # the held cut-off need not lie on this sweep's distance grid
        keys.append(held)
        curve.append(best)
    if _improves(score, best, margin):
        current, best = chosen, score
    return current, best, Sweep("vote", r, keys, curve, _vote_key(asdict(current)))


def _move(cal, current: Setting, best: float, name: str, values: list, margin, r: int):
    """Coordinate ``name`` of round ``r`` swept over its held value and ``values``; it moves to
    the best one when that beats the held score by more than ``margin``. Returns ``(setting,
    score, sweep)``."""
    values = list(dict.fromkeys([get_value(current, name), *values]))
    scores = [cal.score(_set(current, name, v)) for v in values]
    k = int(np.argmax(scores))
    if _improves(scores[k], best, margin):
        current, best = _set(current, name, values[k]), scores[k]
    order = sorted(range(len(values)), key=lambda i: values[i])  # one type per coordinate
    curve = Sweep(
        name,
        r,
        [values[i] for i in order],
        [scores[i] for i in order],
        get_value(current, name),
    )
    return current, best, curve


def coordinate_ascent(
    cal: SplitScorer,
    start: Setting,
    grids: dict[str, list],
    rounds: int = 2,
    vote_grid: dict | None = None,
    progress: bool = False,
    margin: float = 0.0,
) -> tuple[Setting, list[Sweep]]:
    """Move one setting at a time to its best value (``grids``: name -> values, in the order
    swept; ``"thresholds"`` takes ``(photo, frame)`` pairs; ``"vote"`` sweeps keep / vote
    fraction and distance cut-off together under each ``(rule, assign)`` it lists), for ``rounds``
    rounds or until a round changes nothing. Returns the best setting and every curve."""
    from ground.progress import progress_bar

    current, best, sweeps = start, cal.score(start), []
    for r in range(1, rounds + 1):
        before = current
        for name in progress_bar(
            list(grids), desc=f"calibration round {r}", unit="setting", show=progress
        ):
            if name == "vote":
                current, best, sweep = _vote_move(
                    cal, current, best, grids[name], vote_grid, margin, r
                )
            else:
                current, best, sweep = _move(cal, current, best, name, grids[name], margin, r)
            if sweep is not None:
                sweeps.append(sweep)
        if current == before:
            break
    log.info(
        "calibrated to %s: score %.4f (%d evaluations)", asdict(current), best, cal.evaluations
    )
    return current, sweeps


def deal(
    truth: dict[str, str], items, clips, k: int, seed: int = 0
) -> list[tuple[list[str], list[str]]]:
    """``items`` and ``clips`` dealt into ``k`` parts ``(items, clips)``: an item goes with the
    clips that sell it (``truth``: clip -> item); the rest (items no clip sells, clips that sell
    nothing listed) are dealt out after them, so each part has its share of both. Drawn from
    ``seed`` (the same cut on every run)."""
    rng = np.random.default_rng(seed)
    items = set(items)
    sold: dict[str, list[str]] = {}
    for clip, item in sorted(truth.items()):
        if clip in clips and item in items:
            sold.setdefault(item, []).append(clip)
    selling = {c for cs in sold.values() for c in cs}
    groups = [([item], cs) for item, cs in sold.items()]
    rest = [([i], []) for i in sorted(items) if i not in sold] + [
        ([], [c]) for c in sorted(clips) if c not in selling
    ]
    parts = [([], []) for _ in range(k)]
    for n, g in enumerate(
        [groups[i] for i in rng.permutation(len(groups))]
        + [rest[i] for i in rng.permutation(len(rest))]
    ):
        parts[n % k][0].extend(g[0])
        parts[n % k][1].extend(g[1])
    return parts


def folds(cal: SplitScorer, k: int, seed: int = 0) -> list[SplitScorer]:
    """One validation split cut into ``k`` smaller ones (:func:`deal`), each a catalogue with its
    own clips, matched on its own. Parts of a split let :func:`livematch.estimate.holdout_estimate`
    work with one VAL root, and cut TRAIN's clips into VAL-sized splits (:func:`train_splits`)."""
    return [
        cal.part(items, clips)
        for items, clips in deal(cal.truth, cal.gt.items, cal.gt.videos, k, seed)
    ]


def uses_train(fit: FitConfig, val_roots: int, procedure: Procedure) -> bool:
    """Whether TRAIN's clips join the calibration (``fit.train_calibration``; ``auto``: with at most
    ``procedure.train_max_val_roots`` VAL roots, where the roots alone choose less steady settings
    than with TRAIN's parts beside them)."""
    return fit.train_calibration == "always" or (
        fit.train_calibration == "auto" and val_roots <= procedure.train_max_val_roots
    )


def pick_clips(ds: Dataset, max_clips: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """At most ``max_clips`` clips of ``ds`` with the items they sell, and a like share of the
    other items and clips (:func:`deal`'s first part): all of them when ``ds`` is small enough."""
    from ground.metric import sold_items

    if len(ds.videos) <= max_clips:
        return sorted(ds.items), sorted(ds.videos)
    parts = deal(
        sold_items(ds), ds.items, set(ds.videos), -(-len(ds.videos) // max(max_clips, 1)), seed
    )
    return parts[0]


def train_splits(cals: list[SplitScorer], parts: int) -> list[SplitScorer]:
    """TRAIN roots' calibrators, each cut into ``parts`` parts (:func:`folds`, seed 0) matched on
    their own: splits of about a VAL root's size rather than one larger catalogue."""
    return [p for cal in cals for p in (folds(cal, parts) if parts > 1 else [cal]) if p.truth]


def vote_rules(names) -> list[tuple[str, str]]:
    """``["written/greedy", "set/global", ...]`` (``Procedure.vote_rules``) as ``(rule, assign)``
    pairs; an unknown rule or assignment is a :class:`~ground.errors.ConfigError` naming it."""
    from ground.errors import ConfigError

    pairs = []
    for name in names:
        rule, _, assign = str(name).partition("/")
        if rule not in RULES or assign not in ASSIGN:
            raise ConfigError(
                f"vote rule {name!r} is not RULE/ASSIGN with RULE one of {', '.join(RULES)} "
                f"and ASSIGN one of {', '.join(ASSIGN)}"
            )
        pairs.append((rule, assign))
    return pairs


def fit_grids(cfg, classes: list[str], region, rules=None, text_weights=()) -> dict[str, list]:
    """:func:`default_grids` for config ``cfg`` (its ``fit`` section); the worn coordinates only
    when it names a worn scorer; the text weight (0 and ``text_weights``, before the vote) only
    when ``cfg`` votes with text (fit's words candidate)."""
    worn = bool(cfg.weights.worn)
    grids = default_grids(
        cfg.fit.thresholds,
        classes,
        region,
        rules,
        cfg.fit.worn_cutoffs if worn else (),
        cfg.fit.worn_trust if worn else (),
    )
    if cfg.matcher.voting.text_weight > 0:  # the text candidate: its weight calibrates too
        vote = grids.pop("vote")
        grids["text_weight"] = list(
            dict.fromkeys([0.0, *(float(w) for w in text_weights if w > 0)])
        )
        grids["vote"] = vote
    return grids


def all_rules() -> list[str]:
    """Every ``RULE/ASSIGN`` pair the matcher's tables hold."""
    return [f"{rule}/{assign}" for rule in RULES for assign in ASSIGN]


def default_grids(
    thresholds, classes: list[str], region, rules=None, min_worn=(), trust_worn=()
) -> dict[str, list]:
    """What fit sweeps, in order: detection thresholds (photo x frame), the worn scorer's cut-off
    (when there is a scorer: ``min_worn`` lists the values, 0 = off) and the detector score at
    which a box it labels ``worn`` keeps past that cut-off (``trust_worn``, 0 = off; when the
    detector has a ``worn`` class and there is a scorer), frame classes (every class,
    or one class alone, when the detector has several: ``product`` / ``other``, ``worn`` /
    ``alone``), the frame region (when one was learned), evidence rules, the vote (its cut-offs
    under each voting rule and assignment in ``rules``: every one when None)."""
    grids = {"thresholds": [(p, f) for p in thresholds for f in thresholds]}
    if len(min_worn):
        grids["min_worn"] = [0.0, *(float(v) for v in min_worn if v > 0)]
        if WORN in classes and len(trust_worn):
            grids["trust_worn"] = [0.0, *(float(v) for v in trust_worn if v > 0)]
    if len(classes) > 1:
        grids["frame_classes"] = [(), *((c,) for c in classes)]
    if region:
        grids["region"] = [(), tuple(region)]
    grids["frame_box"] = list(FRAME_BOX)
    grids["item_box"] = list(ITEM_BOX)
    grids["vote"] = vote_rules(all_rules() if rules is None else rules)
    return grids
