"""``report.html``: one self-contained page per run. An overview (counts, score, a histogram of
pair distances, and with ground truth precision / recall against the distance cut-off), then one
section per matched video: the shop photo and the video frame side by side with their boxes,
the distance, the votes and the runner-up."""
from __future__ import annotations

import base64
import html
import logging
from pathlib import Path

import cv2
import numpy as np

from livematch.dataset import Dataset
from livematch.errors import MediaError
from livematch.io import atomic_write_text
from livematch.media import read_photo, sample_frames

log = logging.getLogger(__name__)
STYLE = """body{font-family:system-ui,sans-serif;margin:24px;color:#222}section{border-top:1px solid #ddd;
padding:12px 0}figure{display:inline-block;margin:0 12px 0 0;vertical-align:top}figcaption{font-size:13px;color:#555}
.ok{color:#18794e}.bad{color:#c4320a}table{border-collapse:collapse}td,th{padding:2px 10px;text-align:right}"""


def _thumb(image: np.ndarray, box, height: int = 220, region=None) -> str:
    """The image with ``box`` drawn (and in blue ``region``, fractions of the image), scaled to
    ``height`` px, as a data URI (JPEG)."""
    img = np.ascontiguousarray(image[..., ::-1])
    if region is not None:
        h, w = img.shape[:2]
        corners = (int(region[0] * w), int(region[1] * h)), (int(region[2] * w) - 1, int(region[3] * h) - 1)
        cv2.rectangle(img, *corners, (214, 126, 28), max(2, h // 300))
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    cv2.rectangle(img, (x1, y1), (x2, y2), (0, 200, 0), max(2, img.shape[0] // 150))
    scale = height / img.shape[0]
    img = cv2.resize(img, (max(1, int(img.shape[1] * scale)), height), interpolation=cv2.INTER_AREA)
    ok, jpg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return "data:image/jpeg;base64," + base64.b64encode(jpg.tobytes()).decode()


def _svg_histogram(groups: dict[str, list[float]], colors=("#18794e", "#c4320a"), bins: int = 24) -> str:
    values = [v for vs in groups.values() for v in vs if np.isfinite(v)]
    if not values:
        return "<p>no pairs</p>"
    edges = np.linspace(0.0, max(2.0, max(values)), bins + 1)
    counts = {k: np.histogram([v for v in vs if np.isfinite(v)], edges)[0] for k, vs in groups.items()}
    top = max(1, max(c.max() for c in counts.values()))
    w, h, bw = 480, 160, 480 / bins
    bars = []
    for j, (name, c) in enumerate(counts.items()):
        for i, n in enumerate(c):
            bh = h * n / top
            bars.append(f'<rect x="{i * bw + j * bw / 2:.1f}" y="{h - bh:.1f}" width="{bw / 2 - 1:.1f}" '
                        f'height="{bh:.1f}" fill="{colors[j % 2]}"><title>{name}: {n}</title></rect>')
    legend = " ".join(f'<span style="color:{colors[j % 2]}">&#9632; {html.escape(k)}</span>' for j, k in enumerate(groups))
    return (f'<svg width="{w}" height="{h + 16}" viewBox="0 0 {w} {h + 16}">{"".join(bars)}'
            f'<text x="0" y="{h + 14}" font-size="11">0</text><text x="{w - 30}" y="{h + 14}" font-size="11">'
            f'{edges[-1]:.2f}</text></svg><div>{legend} (distance)</div>')


def _svg_pr(curve: list[tuple[float, float, float]]) -> str:
    """Precision (green) and recall (orange) of the item level against the cut-off."""
    if not curve:
        return ""
    w, h = 480, 160
    xs = [c[0] for c in curve]
    lo, hi = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    pts = lambda k: " ".join(f"{(c[0] - lo) / (hi - lo) * w:.1f},{h - c[k] * h:.1f}" for c in curve)  # noqa: E731
    return (f'<svg width="{w}" height="{h + 16}"><polyline points="{pts(1)}" fill="none" stroke="#18794e"/>'
            f'<polyline points="{pts(2)}" fill="none" stroke="#e8590c"/><text x="0" y="{h + 14}" font-size="11">'
            f'{lo:.2f}</text><text x="{w - 30}" y="{h + 14}" font-size="11">{hi:.2f}</text></svg>'
            f'<div><span style="color:#18794e">precision</span> / <span style="color:#e8590c">recall</span> '
            f'(item level) against the distance cut-off</div>')


def svg_region(sold, other, region, size: int = 360) -> str:
    """A standalone SVG of the unit frame: centres of sold garments (green) and of other garments
    (red) as fractions of their frame, and ``region`` ``[x1, y1, x2, y2]`` as a dashed box."""
    dots = [f'<circle cx="{x * size:.1f}" cy="{y * size:.1f}" r="2" fill="{color}" fill-opacity="0.5"/>'
            for points, color in ((other, "#c4320a"), (sold, "#18794e")) for x, y in points]
    x1, y1, x2, y2 = (v * size for v in region)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size + 36}" font-family="sans-serif">'
            f'<rect width="{size}" height="{size}" fill="#f6f6f6" stroke="#999"/>{"".join(dots)}'
            f'<rect x="{x1:.1f}" y="{y1:.1f}" width="{x2 - x1:.1f}" height="{y2 - y1:.1f}" fill="none" '
            f'stroke="#1c7ed6" stroke-width="2" stroke-dasharray="6 4"/>'
            f'<text x="0" y="{size + 14}" font-size="12"><tspan fill="#18794e">sold garments ({len(sold)})'
            f'</tspan>, <tspan fill="#c4320a">other garments ({len(other)})</tspan></text>'
            f'<text x="0" y="{size + 30}" font-size="12" fill="#1c7ed6">frame_region '
            f'{[round(float(v), 2) for v in region]}</text></svg>')


def _curve(result: dict, details: dict, truth: dict[str, str]) -> list[tuple[float, float, float]]:
    pairs = sorted((details["videos"][v]["distance"], e["item_id"] == truth.get(v)) for v, e in result.items())
    positives = max(1, len(truth))
    out, correct = [], 0
    for k, (d, ok) in enumerate(pairs, 1):
        correct += ok
        out.append((d, correct / k, correct / positives))
    return out


def _section(vid: str, entry: dict, info: dict, ds: Dataset, verdict: str, region=None) -> str:
    r = entry["result"][0]
    figures = []
    try:
        photo = ds.items[entry["item_id"]].photo(r["img_name"])
        figures.append((_thumb(read_photo(photo.path), r["item_box"]), f"item {entry['item_id']}, photo {r['img_name']}"))
        frames = sample_frames(ds.videos[vid].path, [entry["frame_index"]])
        staged = ", blue: frame_region" if region is not None else ""
        figures.append((_thumb(frames.images[0], r["frame_box"], region=region),
                        f"clip {vid}, frame {frames.indices[0]}{staged}"))
    except (MediaError, KeyError, AttributeError) as e:
        log.warning("report: no pictures for clip %s (%s)", vid, e)
    runner = (f"runner-up {info['runner_up_item']} at {info['runner_up_distance']:.3f}"
              if info.get("runner_up_item") else "no runner-up")
    pics = "".join(f'<figure><img src="{src}" alt="{html.escape(cap)}"><figcaption>{html.escape(cap)}'
                   f'</figcaption></figure>' for src, cap in figures)
    return (f'<section id="v{html.escape(vid)}"><h3>clip {html.escape(vid)} &rarr; item '
            f'{html.escape(entry["item_id"])} {verdict}</h3><p>distance {info["distance"]:.3f}, '
            f'{info["votes"]} votes, {html.escape(runner)}</p>{pics}</section>')


def write_report(path, result: dict, details: dict, ds: Dataset, summary: dict, score: dict | None = None,
                 truth: dict[str, str] | None = None, region=None) -> Path:
    """Write the report; ``truth`` (clip -> sold catalogue item) marks each match right or wrong;
    ``region`` (``detector.infer.frame_region``, when not the whole frame) is drawn on each frame."""
    matched = [d["distance"] for d in details["videos"].values() if d["status"] == "matched"]
    lost = [f["distance"] for f in details["folders"].values() if not f["won"]]
    head = [f"<h1>LiveMatch run</h1><p>{len(result)} of {len(ds.videos)} clips matched to "
            f"{len(ds.items)} catalogue items; {len(summary.get('issues', []))} bad input(s).</p>"]
    if score:
        head.append("<table><tr><th></th><th>precision</th><th>recall</th><th>F1</th></tr>" + "".join(
            f"<tr><td>{k}</td><td>{score[k]['precision']:.3f}</td><td>{score[k]['recall']:.3f}</td>"
            f"<td>{score[k]['f1']:.3f}</td></tr>" for k in ("item", "frame", "box")) +
            f"</table><p><b>score {score['score']:.4f}</b></p>")
    head.append(_svg_histogram({"accepted pairs": matched, "claims that lost": lost}))
    if truth is not None:
        head.append(_svg_pr(_curve(result, details, truth)))
    sections = []
    for vid, entry in sorted(result.items()):
        verdict = ""
        if truth is not None:
            ok = truth.get(vid) == entry["item_id"]
            verdict = f'<span class="{"ok" if ok else "bad"}">{"right" if ok else "wrong"}</span>'
        sections.append(_section(vid, entry, details["videos"][vid], ds, verdict, region))
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>LiveMatch report</title>'
            f'<style>{STYLE}</style></head><body>{"".join(head)}{"".join(sections)}</body></html>\n')
    return atomic_write_text(path, page)
