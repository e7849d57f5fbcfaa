"""The contest metric (docs/FORMAT.md): item, frame and box F1, weighted 0.2 / 0.6 / 0.2.

For a result entry of clip ``v`` (only ``result[0]`` is judged; more elements are ignored):

1. **item** correct: ``item_id`` is the item of a garment with ``instance_id > 0`` in ``v``, and
   that item has a folder in the catalogue;
2. **frame** correct: and ``frame_index`` is an annotated frame holding one of that item's garments;
3. **box** correct: and, for one such garment ``g``, ``frame_box`` has IoU >= 0.5 with ``g``'s box
   in that frame and ``item_box`` has IoU >= 0.5 with ``g``'s box in photo ``img_name``.

Per level: precision = correct / entries, recall = correct / clips that sell a catalogue item,
F1 = 2PR / (P + R) (0 when P + R = 0). A malformed entry or one for an unknown clip counts as an
entry that is wrong at every level, and is named in the failures.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ground.boxes import box_iou
from ground.dataset import Dataset
from ground.errors import ResultFormatError

LEVELS = ("item", "frame", "box")
WEIGHTS = {"item": 0.2, "frame": 0.6, "box": 0.2}
IOU_THRESHOLD = 0.5


@dataclass
class LevelScore:
    """Counts and scores of one level."""

    correct: int
    entries: int
    positives: int

    @property
    def precision(self) -> float:
        return self.correct / self.entries if self.entries else 0.0

    @property
    def recall(self) -> float:
        return self.correct / self.positives if self.positives else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Evaluation:
    """Scores per level, the weighted score, and each failure as ``(clip, reason)`` per level."""

    levels: dict[str, LevelScore]
    failures: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return sum(WEIGHTS[k] * self.levels[k].f1 for k in LEVELS)

    def to_dict(self) -> dict:
        out = {
            k: {"precision": s.precision, "recall": s.recall, "f1": s.f1}
            for k, s in self.levels.items()
        }
        out["score"] = self.score
        first = self.levels["item"]
        out["counts"] = {
            "entries": first.entries,
            "positives": first.positives,
            **{f"correct_{k}": s.correct for k, s in self.levels.items()},
        }
        out["failure_counts"] = {
            k: dict(Counter(_kind(r) for _, r in v)) for k, v in self.failures.items()
        }
        out["failures"] = {
            k: [{"video_id": c, "reason": r} for c, r in v] for k, v in self.failures.items()
        }
        return out

    def format(self, max_failures: int = 10) -> str:
        """The score table and the first failures of each level."""
        lines = [f"{'level':<6} {'precision':>9} {'recall':>7} {'f1':>7} {'correct':>8}"]
        for k, s in self.levels.items():
            lines.append(
                f"{k:<6} {s.precision:>9.4f} {s.recall:>7.4f} {s.f1:>7.4f} "
                f"{s.correct:>4}/{s.entries}"
            )
        first = self.levels["item"]
        lines.append(
            f"score  {self.score:.4f}   ({first.entries} entries, {first.positives} clips "
            f"sell a catalogue item)"
        )
        for level, items in self.failures.items():
            if items:
                lines.append(f"{level} failures ({len(items)}):")
                lines += [f"  {clip}: {reason}" for clip, reason in items[:max_failures]]
                if len(items) > max_failures:
                    lines.append(f"  ... and {len(items) - max_failures} more")
        return "\n".join(lines)


def _kind(reason: str) -> str:
    return reason.split(":")[0]


def load_result(path) -> dict:
    """Read a result.json; raises ``ResultFormatError`` when it is not a JSON object."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ResultFormatError(f"{path}: cannot read: {e.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ResultFormatError(f"{path}: not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise ResultFormatError(
            f"{path}: result.json must be an object of clip id -> entry, got {type(data).__name__}"
        )
    problems = [validate_entry(entry) for entry in data.values()]
    if data and all(
        problems
    ):  # e.g. summary.json given by mistake; a few bad entries are scored as wrong
        key = next(iter(data))
        raise ResultFormatError(
            f"{path}: not a result.json: none of its {len(data)} entries is "
            f"{{item_id, frame_index, result}} (entry {key!r}: {problems[0]})"
        )
    return data


def validate_entry(entry) -> str | None:
    """The first thing malformed in one result entry, or ``None`` when it is well formed."""
    if not isinstance(entry, dict):
        return "entry is not an object"
    for key, kind in (("item_id", str), ("frame_index", int), ("result", list)):
        if key not in entry:
            return f"missing key {key!r}"
        if not isinstance(entry[key], kind) or isinstance(entry[key], bool):
            return f"{key!r} must be {kind.__name__}, got {type(entry[key]).__name__}"
    if not entry["result"]:
        return "'result' is empty"
    first = entry["result"][0]
    if not isinstance(first, dict):
        return "result[0] is not an object"
    for key in ("img_name", "item_box", "frame_box"):
        if key not in first:
            return f"missing key result[0].{key!r}"
    if not isinstance(first["img_name"], str):
        return "result[0].'img_name' must be a string"
    for key in ("item_box", "frame_box"):
        box = first[key]
        if not (
            isinstance(box, list)
            and len(box) == 4
            and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                for v in box
            )
        ):
            return f"bad box: result[0].{key} must be [x1, y1, x2, y2] numbers, got {box!r}"
        if not (box[2] > box[0] and box[3] > box[1]):
            return f"bad box: result[0].{key} {box} has x2 <= x1 or y2 <= y1"
    return None


def sold_items(gt: Dataset) -> dict[str, str]:
    """Clip id -> the catalogue item it sells, for the clips that sell one."""
    return {
        vid: item
        for vid, item in ((v, video.sold_item) for v, video in gt.videos.items())
        if item in gt.items
    }


def evaluate(pred: dict, gt: Dataset, truth: dict[str, str] | None = None) -> Evaluation:
    """Score a result (``load_result`` output) against an annotated dataset (``truth``:
    :func:`sold_items` of it, when the caller scores many results on one dataset)."""
    truth = sold_items(gt) if truth is None else truth
    correct = Counter()
    failures = {k: [] for k in LEVELS}
    for clip, entry in pred.items():
        level, reason = judge(clip, entry, gt, truth)
        for k in LEVELS[: LEVELS.index(level)] if level else LEVELS:
            correct[k] += 1
        if level:
            failures[level].append((clip, reason))
    for clip in sorted(set(truth) - set(pred)):
        failures["item"].append((clip, f"missed: no entry, clip sells {truth[clip]}"))
    levels = {k: LevelScore(correct[k], len(pred), len(truth)) for k in LEVELS}
    return Evaluation(levels, failures)


COUNTS = ("entries", "positives", *(f"correct_{k}" for k in LEVELS))  # a clip's row in clip_counts


def clip_counts(
    pred: dict, gt: Dataset, truth: dict[str, str] | None = None
) -> dict[str, list[int]]:
    """Each clip of ``gt`` as its share of the score's counts (:data:`COUNTS`): whether it has an
    entry, whether it sells a catalogue item, whether it is correct at each level. Summed over
    any set of clips they give that set's score (:func:`score_of_counts`): the unit a bootstrap
    over clips resamples."""
    truth = sold_items(gt) if truth is None else truth
    rows = {}
    for clip in gt.videos:
        entry = pred.get(clip)
        level = judge(clip, entry, gt, truth)[0] if entry is not None else "item"
        correct = [
            int(entry is not None and (level is None or LEVELS.index(k) < LEVELS.index(level)))
            for k in LEVELS
        ]
        rows[clip] = [int(entry is not None), int(clip in truth), *correct]
    return rows


def score_of_counts(counts):
    """The contest score of summed :func:`clip_counts` rows: ``counts[..., :]`` in :data:`COUNTS`
    order (any leading shape: one score per row of sums). F1 per level is 2 C / (E + P)."""
    counts = np.asarray(counts, np.float64)
    denom = counts[..., 0] + counts[..., 1]
    f1 = [
        np.divide(2 * counts[..., 2 + k], denom, out=np.zeros_like(denom), where=denom > 0)
        for k in range(len(LEVELS))
    ]
    return sum(WEIGHTS[k] * f for k, f in zip(LEVELS, f1))


def judge(clip: str, entry, gt: Dataset, truth: dict[str, str]) -> tuple[str | None, str]:
    """The first level at which ``entry`` fails (``None``: fully correct) and why."""
    if clip not in gt.videos:
        return "item", "unknown clip: not in the ground-truth videos"
    problem = validate_entry(entry)
    if problem:
        return "item", f"malformed: {problem}"
    item = truth.get(clip)
    if item is None:
        return "item", f"false positive: clip sells no catalogue item, predicted {entry['item_id']}"
    if entry["item_id"] != item:
        return "item", f"wrong item: predicted {entry['item_id']}, truth {item}"
    index = entry["frame_index"]
    frame = gt.videos[clip].frames.get(index)
    if frame is None:
        return "frame", f"frame not annotated: {index} is not an annotated frame"
    garments = [a for a in frame if a.item_id == item]
    if not garments:
        return "frame", f"garment absent: frame {index} shows none of item {item}'s garments"
    return _judge_boxes(
        entry["result"][0], garments, gt.items[item].photo(entry["result"][0]["img_name"])
    )


def _judge_boxes(result: dict, garments, photo) -> tuple[str | None, str]:
    if photo is None:
        return "box", f"unknown photo: {result['img_name']!r} is not a photo of the item"
    frame_iou = {g.instance_id: box_iou(result["frame_box"], g.box)[0, 0] for g in garments}
    best = max(frame_iou.values())
    if best < IOU_THRESHOLD:
        return "box", f"frame_box IoU {best:.2f} < {IOU_THRESHOLD}"
    photo_iou = 0.0
    for a in photo.annotations or ():
        if frame_iou.get(a.instance_id, 0.0) >= IOU_THRESHOLD:
            photo_iou = max(photo_iou, box_iou(result["item_box"], a.box)[0, 0])
    if photo_iou < IOU_THRESHOLD:
        return "box", f"item_box IoU {photo_iou:.2f} < {IOU_THRESHOLD} for the same garment"
    return None, ""


def oracle_result(gt: Dataset) -> dict:
    """The result a perfect system would write for an annotated dataset (scores 1.0): for each
    clip selling a catalogue item, its first annotated frame showing a garment that also has a
    box in one of the item's photos."""
    out = {}
    for vid, video in gt.videos.items():
        item = gt.items.get(video.sold_item or "")
        if item is None:
            continue
        photo_boxes = {
            a.instance_id: (p.name, a.box)
            for p in item.photos
            for a in (p.annotations or ())
            if a.item_id == item.item_id
        }
        for index, anns in video.frames.items():
            hit = next((a for a in anns if a.instance_id in photo_boxes), None)
            if hit is not None:
                name, box = photo_boxes[hit.instance_id]
                out[vid] = {
                    "item_id": item.item_id,
                    "frame_index": index,
                    "result": [
                        {
                            "img_name": name,
                            "item_box": [round(v) for v in box],
                            "frame_box": [round(v) for v in hit.box],
                        }
                    ],
                }
                break
    return out
