"""``result.json`` (docs/FORMAT.md) and the per-run detail file, both written atomically."""

from __future__ import annotations

from pathlib import Path

from ground.io import write_json
from matcher.voting import MatchResult


def _int_box(box) -> list[int]:
    return [int(round(float(v))) for v in box]


def to_result(result: MatchResult) -> dict:
    """Matches in the contest shape: ``{video_id: {item_id, frame_index, result: [...]}}``."""
    return {
        vid: {
            "item_id": m.item_id,
            "frame_index": int(m.frame),
            "result": [
                {
                    "img_name": m.img_name,
                    "item_box": _int_box(m.item_box),
                    "frame_box": _int_box(m.frame_box),
                }
            ],
        }
        for vid, m in sorted(result.matches.items())
    }


def _text(pair) -> dict:
    """A claim's or a match's text score, when the vote used one (nothing otherwise: a run
    without text writes what it wrote before text existed)."""
    return {} if pair.text_score is None else {"text_score": pair.text_score}


def to_details(result: MatchResult) -> dict:
    """Per video: the chosen item, distance (with text: minus the weighted text score), votes,
    text score, runner-up, or why it has no match; per folder: its claim and the vote that led
    to it. For the report and for debugging."""
    videos = {}
    for vid, m in result.matches.items():
        videos[vid] = {
            "status": "matched",
            "item_id": m.item_id,
            "distance": m.distance,
            "votes": m.votes,
            "frame_index": m.frame,
            "img_name": m.img_name,
            "runner_up_item": m.runner_up_item,
            "runner_up_distance": m.runner_up_distance,
            "pairs": m.pairs,
            **_text(m),
        }
    for vid, reason in result.rejected.items():
        videos[vid] = {"status": "no match", "reason": reason}
        if vid in result.near_misses:
            videos[vid]["nearest_item"], videos[vid]["pairs"] = result.near_misses[vid]
    folders = {}
    for c in result.claims:
        m = result.matches.get(c.video_id)
        won = m is not None and m.item_id == c.item_id
        folders[c.item_id] = {
            "video_id": c.video_id,
            "distance": c.distance,
            "votes": c.votes,
            "kept_candidates": c.kept,
            "videos_voted": c.videos,
            "finalists": c.finalists,
            "won": won,
            **({} if won else {"lost_to": m.item_id if m else None}),
            **_text(c),
        }
    return {"videos": dict(sorted(videos.items())), "folders": dict(sorted(folders.items()))}


def write_outputs(out_dir, result: MatchResult) -> tuple[Path, Path]:
    """Write ``result.json`` and ``match_details.json`` under ``out_dir``; returns both paths."""
    out_dir = Path(out_dir)
    return (
        write_json(out_dir / "result.json", to_result(result)),
        write_json(out_dir / "match_details.json", to_details(result)),
    )
