"""``OUT/fit.html``: what ``livematch fit`` chose and why: the validation score against each
setting it swept (one chart per setting, the chosen value in green), and the learned frame region
drawn on a few validation frames with their annotated garments."""

from __future__ import annotations

import base64
import html

import cv2
import numpy as np

from ground.io import atomic_write_text
from ground.summary import RunSummary
from livematch.calibration import describe, get_value
from livematch.candidates import candidate_line
from livematch.report import STYLE
from matcher.voting import NO_CUT


def svg_curve(
    labels: list[str],
    scores: list[float],
    chosen: int | None,
    title: str,
    width: int = 520,
    height: int = 170,
) -> str:
    """Validation score (y, with its axis) against a setting's values (x, in sweep order); the
    point at index ``chosen`` is green."""
    if not scores:
        return ""
    left, bottom, top = 40, 34, 18
    lo, hi = min(scores), max(scores)
    lo, hi = (lo - 0.05, hi + 0.05) if hi - lo < 0.1 else (lo, hi)
    n = len(scores)
    xs = [left + (width - left - 10) * (i + 0.5) / n for i in range(n)]
    ys = [top + (height - top - bottom) * (1 - (s - lo) / (hi - lo)) for s in scores]
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{5 if i == chosen else 3}" '
        f'fill="{"#18794e" if i == chosen else "#555"}"><title>'
        f"{html.escape(labels[i])}: {scores[i]:.4f}"
        f"</title></circle>"
        for i, (x, y) in enumerate(zip(xs, ys))
    )
    step = max(1, n // 10)
    ticks = "".join(
        f'<text x="{xs[i]:.1f}" y="{height - bottom + 14}" font-size="10" text-anchor="middle">'
        f"{html.escape(labels[i])}</text>"
        for i in range(0, n, step)
    )
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))
    return (
        f'<figure><svg width="{width}" height="{height}" font-family="sans-serif">'
        f'<text x="{left}" y="12" font-size="12">{html.escape(title)}</text>'
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#999"/>'
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" '
        'stroke="#999"/>'
        f'<text x="{left - 4}" y="{top + 4}" font-size="10" text-anchor="end">{hi:.3f}</text>'
        f'<text x="{left - 4}" y="{height - bottom}" font-size="10" text-anchor="end">'
        f"{lo:.3f}</text>"
        f'<polyline points="{line}" fill="none" stroke="#aaa"/>{dots}{ticks}'
        f'<text x="{width - 10}" y="{height - 4}" font-size="10" text-anchor="end">'
        "validation score</text>"
        f"</svg></figure>"
    )


def _vote_curve(sweep, chosen) -> str:
    """The distance cut-off's curve at the chosen kept / vote fractions, rule and assignment."""
    rows = [
        (v[2], s)
        for v, s in zip(sweep.values, sweep.scores)
        if (v[0], v[1], *v[3:])
        == (chosen.keep_fraction, chosen.vote_fraction, chosen.rule, chosen.assign)
    ]
    rows.sort()
    labels = [describe(d) for d, _ in rows]
    pick = next(
        (
            i
            for i, (d, _) in enumerate(rows)
            if d == chosen.max_distance or (d >= NO_CUT and chosen.max_distance >= NO_CUT)
        ),
        None,
    )
    return svg_curve(
        labels,
        [s for _, s in rows],
        pick,
        f"max_distance (rule {chosen.rule}, {chosen.assign} assignment, keep "
        f"{chosen.keep_fraction:g}, vote {chosen.vote_fraction:g}; chosen "
        f"{describe(chosen.max_distance)}"
        f"{'' if pick is not None else ', kept from the start on a tie'})",
    )


def _threshold_curves(sweep, chosen) -> list[str]:
    """Two cuts through the photo x frame threshold sweep: each threshold with the other as
    chosen."""
    charts = []
    for axis, other, name in (
        (0, chosen.frame_threshold, "photo_threshold"),
        (1, chosen.photo_threshold, "frame_threshold"),
    ):
        rows = sorted(
            (v[axis], sc) for v, sc in zip(sweep.values, sweep.scores) if v[1 - axis] == other
        )
        mine = getattr(chosen, name)
        pick = next((i for i, (v, _) in enumerate(rows) if v == mine), None)
        charts.append(
            svg_curve(
                [describe(v) for v, _ in rows],
                [sc for _, sc in rows],
                pick,
                f"{name} (the other threshold at {other:g})",
            )
        )
    return charts


def _frames_with_region(val, region, count: int = 3) -> str:
    """``count`` annotated validation frames with the region (blue) and their garments (green:
    sold, red: other), as inline JPEGs."""
    from ground.dataset import read_images

    out = []
    for video in sorted(val.videos.values(), key=lambda v: v.video_id):
        frames = [
            f
            for f, anns in sorted((video.frames or {}).items())
            if any(a.instance_id > 0 for a in anns)
        ]
        if not frames:
            continue
        f = frames[len(frames) // 2]
        images = read_images(video.path, [f], RunSummary()) or {}
        if f not in images:
            continue
        img = np.ascontiguousarray(images[f][..., ::-1])
        h, w = img.shape[:2]
        if region:
            cv2.rectangle(
                img,
                (int(region[0] * w), int(region[1] * h)),
                (int(region[2] * w) - 1, int(region[3] * h) - 1),
                (214, 126, 28),
                2,
            )
        for a in video.frames[f]:
            x1, y1, x2, y2 = (int(v) for v in a.box)
            cv2.rectangle(
                img, (x1, y1), (x2, y2), (0, 200, 0) if a.instance_id > 0 else (40, 50, 200), 2
            )
        ok, jpg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 75])
        out.append(
            '<figure><img height="200" '
            f'src="data:image/jpeg;base64,{base64.b64encode(jpg.tobytes()).decode()}">'
            f"<figcaption>{video.video_id} frame {f}</figcaption></figure>"
        )
        if len(out) == count:
            break
    return "".join(out)


def _holdout_text(held, why: str, roots) -> str:
    """The held-out estimate's paragraph (``held``: an :class:`~livematch.estimate.Estimate`, or
    ``None`` with ``why``), with each held-out split's own score."""
    from livematch.estimate import estimate_line

    if not held:
        return f"<p>{html.escape(estimate_line(None, why))}.</p>"
    k, n = range(len(held.per_split)), max(held.parts, 1)
    if held.by == "roots":
        names = list(map(str, roots))
    elif held.by == "root parts":
        names = [f"{roots[i // n]} part {i % n + 1}" for i in k]
    else:
        names = [f"cut {i // n + 1} part {i % n + 1}" for i in k]
    each = ", ".join(f"{name} {score:.4f}" for name, score in zip(names, held.per_split))
    return f"<p>{html.escape(estimate_line(held))} (each held-out split: {html.escape(each)}).</p>"


def _train_text(parts: int) -> str:
    return (
        f" TRAIN's clips calibrated too, cut into {parts} parts each matched on its own "
        "(<code>fit.train_calibration</code>): the table and the charts score each setting on the "
        "VAL roots and those parts together."
        if parts
        else ""
    )


def _charts(sweeps, chosen) -> list[str]:
    """One chart per swept setting, from its last round (two for the thresholds)."""
    last = {s.name: s for s in sweeps}  # each setting's curve of its last round
    charts = []
    for name, s in last.items():
        if name == "vote":
            charts.append(_vote_curve(s, chosen))
            continue
        if name == "thresholds":
            charts += _threshold_curves(s, chosen)
            continue
        labels = [describe(v, name) for v in s.values]
        pick = next((i for i, v in enumerate(s.values) if v == get_value(chosen, name)), None)
        charts.append(svg_curve(labels, s.scores, pick, f"{name} (round {s.round})"))
    return charts


def _choice_table(rows) -> str:
    """The table of each setting's choice, its score and the best alternative."""
    cells = "".join(
        f"<tr><td style='text-align:left'>{html.escape(n)}</td><td>"
        f"{html.escape(describe(v, n))}</td>"
        f"<td>{sc:.4f}</td><td style='text-align:left'>{html.escape(str(alt))}</td></tr>"
        for n, v, sc, alt in rows
    )
    return (
        f"<table><tr><th style='text-align:left'>setting</th><th>chosen</th><th>score</th>"
        f"<th style='text-align:left'>best alternative</th></tr>{cells}</table>"
    )


def _region_text(chosen, region) -> str:
    """What became of the region learned from TRAIN (``region``; ``None``: none learned)."""
    kept = region and tuple(chosen.region) == tuple(region)
    return (
        "no region was learned (no annotated training clips)"
        if not region
        else f"learned from the training clips: {[round(v, 2) for v in region]}; "
        + (
            "kept: it raised the validation score"
            if kept
            else "not kept: it did not raise the validation score"
        )
    )


def write_fit_report(
    path, chosen, start, scores: dict, sweeps, val, region, levels: list[dict], roots
) -> None:
    """Write the page (module docstring); ``levels``: the chosen setting's evaluation per VAL
    root (``roots``), ``val``: the first root's dataset, whose frames show the region."""
    charts = _charts(sweeps, chosen)
    f1 = "; ".join(
        f"{root}: score {lv['score']:.4f}, "
        + ", ".join(f"{k} F1 {lv[k]['f1']:.3f}" for k in ("item", "frame", "box"))
        for root, lv in zip(roots, levels)
    )
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>LiveMatch fit</title><style>"
        f"{STYLE}</style></head><body><h1>livematch fit</h1><p>Validation score (mean over the VAL "
        f"roots, each matched on its own) {scores['start']:.4f} at the starting settings, "
        f"<b>{scores['chosen']:.4f}</b> as calibrated."
        f"{_train_text(scores.get('train_parts', 0))}</p>"
        f"{_holdout_text(scores.get('holdout'), scores.get('no_estimate', ''), roots)}"
        + "".join(
            f"<p>{html.escape(candidate_line(r))}.</p>" for r in scores.get("candidates") or []
        )
        + f"<p>{html.escape(f1)}</p>{_choice_table(scores['rows'])}"
        "<h2>Score against each setting</h2><p>Each chart moves one setting with the others as "
        "chosen; the green point is the choice (ties keep the value already held).</p>"
        f"{''.join(charts)}"
        f"<h2>Frame region</h2><p>{html.escape(_region_text(chosen, region))}. Blue: the region; "
        f"green: sold garments; red: other garments.</p>{_frames_with_region(val, region)}"
        "</body></html>\n"
    )
    atomic_write_text(path, page)
