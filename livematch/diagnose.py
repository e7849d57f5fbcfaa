"""``livematch diagnose``: where a fitted pipeline wins and loses on annotated data.

For each annotated root, the fit's models detect and embed it once (every class, the whole frame,
the lowest threshold fit considers: cached under ``OUT/rows``); then, on those crop rows:

- **what each chosen setting adds**: the pipeline's score, and the score with each setting fit
  chose reverted alone to where the calibration started (a kept candidate turned off likewise);
- **the oracle**: the score with only the frame crops on the sold garment (IoU >= 0.5 with an
  annotated box of the clip's sold item): how far the pipeline is from a perfect sold / other
  filter;
- **where each failure comes from**, one reason per clip (:data:`REASONS`).

Printed as tables and written to ``OUT/diagnose.json`` and ``OUT/diagnose.html``.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

from ground.boxes import box_iou
from ground.io import atomic_write_text, write_json
from livematch.calibration import Setting, SplitScorer, describe, setting_of
from livematch.candidates import dba_k

REASONS = {
    "right": "right item",
    "evidence": "right item, evidence frame or box wrong",
    "detector": "detector missed the sold garment (no kept frame crop on it)",
    "photo": "cut by the photo threshold (no shop crop of its folder kept)",
    "nearest": "nearest folder wrong (its folder picked another clip, or none)",
    "cutoff": "cut by the vote's distance or vote cut-off",
    "assignment": "lost the assignment (a nearer folder took the clip)",
    "false positive": "sells nothing listed, got an entry",
}
REVERTED = ("photo_threshold", "frame_threshold", "min_worn", "trust_worn", "frame_classes")
REVERTED += ("region", "frame_box", "item_box")
VOTE = ("keep_fraction", "vote_fraction", "max_distance")


def variants(chosen: Setting, start: Setting) -> dict[str, Setting]:
    """The chosen setting, each calibrated setting reverted alone to ``start``, and the start."""
    out = {"chosen": chosen}
    for name in REVERTED:
        if getattr(chosen, name) != getattr(start, name):
            back = describe(getattr(start, name), name)
            out[f"{name} -> {back}"] = replace(chosen, **{name: getattr(start, name)})
    if any(getattr(chosen, k) != getattr(start, k) for k in VOTE):
        out["vote cut-offs -> start"] = replace(chosen, **{k: getattr(start, k) for k in VOTE})
    if chosen.text_weight:
        out["text_weight -> 0 (the pictures alone)"] = replace(chosen, text_weight=0.0)
    out["start (nothing calibrated)"] = start
    return out


def on_sold(boxes: np.ndarray, owners, frames, gt) -> np.ndarray:
    """Which frame crops (``boxes`` of clips ``owners`` at ``frames``) lie on an annotated box of
    their clip's sold item (IoU >= 0.5) in an annotated frame."""
    keep = np.zeros(len(boxes), bool)
    for k in range(len(boxes)):
        video = gt.videos.get(str(owners[k]))
        if video is None or not video.sold_item:
            continue
        anns = (video.frames or {}).get(int(frames[k])) or ()
        sold = [a.box for a in anns if a.item_id == video.sold_item]
        keep[k] = bool(sold) and float(box_iou(boxes[k : k + 1], sold).max()) >= 0.5
    return keep


def oracle(cal: SplitScorer) -> SplitScorer:
    """The same split with only its frame crops on the sold garment."""
    video = cal.store.video
    keep = on_sold(video.boxes, video.owner, video.frame, cal.gt)
    store = cal.store.subset(cal.store.shop, video[keep], clips=cal.store.transcripts)
    return SplitScorer(store, cal.classes, cal.sizes, cal.gt, cal.matcher)


def reasons(cal: SplitScorer, setting: Setting) -> dict[str, str]:
    """One key of :data:`REASONS` per clip of the split, at ``setting``."""
    from ground.metric import judge
    from matcher.result import to_result
    from matcher.voting import MatchResult, match_catalogue

    shop, video, dist, rows = cal.search(setting)
    voted = len(shop) and len(video)  # as SplitScorer.result: nothing to vote on otherwise
    res = (
        match_catalogue(shop, video, dist, rows, cal.voting(setting), cal.text)
        if voted
        else MatchResult()
    )
    pred, picks = to_result(res), {}
    for claim in res.claims:
        picks.setdefault(claim.item_id, claim)  # a folder's pick comes first
    sold = on_sold(video.boxes, video.owner, video.frame, cal.gt)
    found, listed = set(np.asarray(video.owner)[sold].astype(str)), set(shop.owner)
    out = {}
    for clip in sorted(cal.gt.videos):
        item, match = cal.truth.get(clip), res.matches.get(clip)
        if item is None:
            if match is not None:
                out[clip] = "false positive"
            continue
        out[clip] = _reason(clip, item, match, picks.get(item), listed, found)
        if out[clip] == "right" and judge(clip, pred[clip], cal.gt, cal.truth)[0] is not None:
            out[clip] = "evidence"
    return out


def _reason(clip, item, match, pick, listed, found) -> str:
    if match is not None and match.item_id == item:
        return "right"
    if item not in listed:
        return "photo"
    if clip not in found:
        return "detector"
    if pick is None or pick.video_id != clip:
        return "nearest"
    return "assignment" if match is not None else "cutoff"


def scorers(fit: Path, roots, work: Path, progress: bool):
    """Per annotated root, ``(root, SplitScorer)`` on its crop rows, made once with the fit's
    models at the lowest threshold, every class, the whole frame (cached under ``work``); and the
    pipeline's config."""
    from detector.model import class_names
    from ground.dataset import load_dataset
    from livematch.config import load_config, use_checkpoints
    from livematch.fit.calibrate import scorer, validation_rows

    cfg = load_config(fit / "pipeline.yaml")
    detector, embedders = cfg.weights.detector, cfg.weights.embedders
    use_checkpoints(cfg, detector, embedders[0])
    classes, out = class_names(cfg.detector.model), []
    for root in roots:
        gt = load_dataset([root], probe_media=True)
        store = validation_rows(cfg, [root], detector, embedders, work / root.name, progress)
        out.append((root, scorer(cfg.matcher, classes, store, gt)))
    return out, cfg


def diagnose(fit, roots, out, progress: bool = True) -> dict:
    """The whole diagnosis (module docstring) of fit folder ``fit`` on annotated ``roots``;
    writes ``out/diagnose.json`` and ``out/diagnose.html`` and returns the record."""
    fit, out, roots = Path(fit), Path(out), [Path(r) for r in roots]
    found, cfg = scorers(fit, roots, out / "rows", progress)
    chosen = setting_of(cfg)
    record = json.loads((fit / "fit.json").read_text()) if (fit / "fit.json").is_file() else {}
    start = Setting(**_tuples(record["start"])) if record.get("start") else chosen
    table, why = {}, {}
    for root, cal in found:
        for name, s in variants(chosen, start).items():
            table.setdefault(name, {})[root.name] = cal.score(s)
        if dba_k(cfg):
            plain = replace(cfg.matcher, rerank=replace(cfg.matcher.rerank, dba_k=0))
            other = SplitScorer(cal.store, cal.classes, cal.sizes, cal.gt, plain)
            table.setdefault("matcher.rerank.dba_k -> 0", {})[root.name] = other.score(chosen)
        table.setdefault("oracle: sold garments' crops only", {})[root.name] = oracle(cal).score(
            chosen
        )
        why[root.name] = reasons(cal, chosen)
    for scores in table.values():
        scores["mean"] = float(np.mean([scores[r.name] for r in roots]))
    counts = Counter(r for clips in why.values() for r in clips.values())
    result = {"fit": str(fit), "roots": [r.name for r in roots], "scores": table}
    result.update(reasons={k: counts.get(k, 0) for k in REASONS}, clips=why)
    write_json(out / "diagnose.json", result)
    atomic_write_text(out / "diagnose.html", page(result))
    return result


def _tuples(d: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


def lines(result: dict) -> list[str]:
    """The two tables for the terminal: scores per setting, failures per reason."""
    roots = result["roots"]
    out = [f"{'setting':<44}" + "".join(f"{r[-10:]:>11}" for r in roots) + f"{'mean':>11}"]
    for name, scores in result["scores"].items():
        out.append(f"{name:<44}" + "".join(f"{scores[r]:>11.4f}" for r in [*roots, "mean"]))
    out.append("")
    out.append(f"{'clips':>6}  where each comes from")
    out += [f"{n:>6}  {REASONS[k]}" for k, n in result["reasons"].items() if n]
    return out


def page(result: dict) -> str:
    """``diagnose.html``: the same two tables, and each clip's reason per root."""
    from livematch.report import STYLE

    roots = result["roots"]
    head = "".join(f"<th>{html.escape(r)}</th>" for r in [*roots, "mean"])
    rows = "".join(
        f"<tr><td style='text-align:left'>{html.escape(name)}</td>"
        + "".join(f"<td>{scores[r]:.4f}</td>" for r in [*roots, "mean"])
        + "</tr>"
        for name, scores in result["scores"].items()
    )
    why = "".join(
        f"<tr><td>{n}</td><td style='text-align:left'>{html.escape(REASONS[k])}</td></tr>"
        for k, n in result["reasons"].items()
        if n
    )
    clips = "".join(
        f"<tr><td>{html.escape(root)}</td><td>{html.escape(clip)}</td>"
        f"<td style='text-align:left'>{html.escape(REASONS[r])}</td></tr>"
        for root, per in result["clips"].items()
        for clip, r in per.items()
        if r != "right"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>LiveMatch diagnose</title>"
        f"<style>{STYLE}</style></head><body><h1>livematch diagnose</h1>"
        f"<p>{html.escape(result['fit'])}: the contest score with each chosen setting reverted "
        "alone, and with the sold garments' crops only (the oracle).</p>"
        f"<table><tr><th style='text-align:left'>setting</th>{head}</tr>{rows}</table>"
        f"<h2>Where each failure comes from</h2><table>{why}</table>"
        f"<h2>Each clip not fully right</h2><table><tr><th>root</th><th>clip</th><th>reason</th>"
        f"</tr>{clips}</table></body></html>\n"
    )
