"""``report.html`` and its ``report/`` folder of thumbnails: one page a person can check a run on.

At the top: counts, the score, a histogram of pair distances and (with ground truth) precision /
recall against the distance cut-off, both with axes and the cut-off marked, and an index with one
filter button per verdict (the active one marked) and a legend of the box colours. Then one
section per clip, every clip of the run, failures first: matched or not, and with ground truth
graded as ``right``, ``wrong item``, ``false positive``, ``box failure`` (with the reason and IoU),
``missed`` or ``right: nothing sold``. A matched clip shows the shop photo and the frame with the
predicted boxes (green), the annotated boxes of the sold item (orange, with ground truth), the
strongest votes behind the match (each shop crop beside the frame crop it retrieved, with their
distance) and the runner-up item's first photo; an unmatched clip shows an annotated frame (else
its middle one) and the votes of the folder that came nearest to claiming it.
A wrong or missed clip also shows what should have been: the true item's photo with its annotated
box and an annotated frame of the clip with the sold garment's box. Thumbnails are JPEG files
under ``report/`` so that a run of thousands of clips stays a small page; each opens at full size
(``report/full/``) on a click.
"""

from __future__ import annotations

import html
import logging
import math
from pathlib import Path

import cv2
import numpy as np

from ground.dataset import Dataset
from ground.errors import MediaError
from ground.io import atomic_write_bytes, atomic_write_text
from ground.media import read_photo, sample_frames

log = logging.getLogger(__name__)
PRED, TRUE, REGION = (0, 200, 0), (0, 140, 255), (214, 126, 28)  # BGR: green, orange, blue
VERDICTS = (
    "right",
    "wrong item",
    "false positive",
    "box failure",
    "missed",
    "right: nothing sold",
    "matched",
    "unmatched",
)
COLORS = {
    "right": "#18794e",
    "right: nothing sold": "#18794e",
    "wrong item": "#c4320a",
    "false positive": "#c4320a",
    "missed": "#c4320a",
    "box failure": "#b5830b",
    "matched": "#222",
    "unmatched": "#777",
}
STYLE = """body{font-family:system-ui,sans-serif;margin:24px;color:#222}\
section{border-top:1px solid #ddd;
padding:12px 0}figure{display:inline-block;margin:0 12px 0 0;vertical-align:top}\
figcaption{font-size:13px;color:#555}
table{border-collapse:collapse}td,th{padding:2px 10px;text-align:right}button{margin:0 6px 6px 0}
.verdict{font-weight:600}.hidden{display:none}nav{display:flex;flex-wrap:wrap}\
nav a{margin-right:8px;font-size:13px}
button.active{font-weight:700;outline:2px solid #222}\
.legend span{display:inline-block;width:14px;height:10px;
margin:0 4px 0 12px;border:3px solid}figure.truth figcaption{color:#a04000}"""
SCRIPT = """function show(v){document.querySelectorAll('section[data-verdict]').forEach(function(s){
s.classList.toggle('hidden', v!=='all' && s.dataset.verdict!==v);});
document.querySelectorAll('#filters button').forEach(function(b){\
b.classList.toggle('active', b.dataset.v===v);});}"""
LEGEND = (
    '<p class="legend">Boxes: <span style="border-color:#00c800"></span>predicted '
    '<span style="border-color:#ff8c00"></span>annotated (the sold item) '
    '<span style="border-color:#1c7ed6"></span>frame region. Click a picture for its full size.</p>'
)
ORDER = (
    "wrong item",
    "false positive",
    "missed",
    "box failure",
    "unmatched",
    "matched",
    "right",
    "right: nothing sold",
)  # failures first


def thumbnail(
    image: np.ndarray, boxes=(), truth=(), height: int | None = 220, region=None
) -> bytes:
    """JPEG bytes of an RGB image with the annotated ``truth`` boxes (orange), the predicted
    ``boxes`` (green, drawn over) and ``region`` (fractions of the image, blue), ``height`` px high
    (``None``: full size)."""
    img = np.ascontiguousarray(image[..., ::-1])
    h, w = img.shape[:2]
    if region is not None:
        corners = (
            (int(region[0] * w), int(region[1] * h)),
            (int(region[2] * w) - 1, int(region[3] * h) - 1),
        )
        cv2.rectangle(img, *corners, REGION, max(2, h // 300))
    for color, group in ((TRUE, truth), (PRED, boxes)):
        for box in group:
            x1, y1, x2, y2 = (int(round(v)) for v in box)
            cv2.rectangle(img, (x1, y1), (x2, y2), color, max(2, h // 150))
    if height is not None:
        img = cv2.resize(img, (max(1, int(w * height / h)), height), interpolation=cv2.INTER_AREA)
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()


def pair_picture(
    photo: np.ndarray, photo_box, frame: np.ndarray, frame_box, height: int = 160
) -> np.ndarray:
    """One vote as a person checks it: the shop crop and the frame crop it retrieved, side by
    side, each ``height`` px high (RGB)."""

    def cut(image, box):
        h, w = image.shape[:2]
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, max(x2, x1 + 1)), min(h, max(y2, y1 + 1))
        crop = image[y1:y2, x1:x2] if x2 > x1 and y2 > y1 else image
        return cv2.resize(
            crop,
            (max(1, crop.shape[1] * height // max(1, crop.shape[0])), height),
            interpolation=cv2.INTER_AREA,
        )

    gap = np.full((height, 8, 3), 255, np.uint8)
    return np.concatenate([cut(photo, photo_box), gap, cut(frame, frame_box)], axis=1)


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    return [lo + (hi - lo) * k / (n - 1) for k in range(n)]


def _axes(
    w: int,
    h: int,
    x: tuple[float, float],
    y: tuple[float, float],
    xlabel: str,
    ylabel: str,
    fmt_y: str = "{:.0f}",
) -> str:
    """Left and bottom axes with five ticks each, for a plot area at (40, 8) of ``w`` x ``h``."""
    out = [
        f'<line x1="40" y1="{h + 8}" x2="{w + 40}" y2="{h + 8}" stroke="#444"/>'
        f'<line x1="40" y1="8" x2="40" y2="{h + 8}" stroke="#444"/>'
    ]
    for v in _ticks(*x):
        px = 40 + (v - x[0]) / (x[1] - x[0]) * w
        out.append(
            f'<line x1="{px:.1f}" y1="{h + 8}" x2="{px:.1f}" y2="{h + 12}" stroke="#444"/>'
            f'<text x="{px:.1f}" y="{h + 24}" font-size="11" text-anchor="middle">{v:.2f}</text>'
        )
    counts = (
        fmt_y == "{:.0f}"
    )  # whole numbers: ticks at distinct integers (no "0 0 1 1" on a small axis)
    for v in sorted({round(t) for t in _ticks(*y)}) if counts else _ticks(*y):
        py = 8 + h - (v - y[0]) / (y[1] - y[0]) * h
        out.append(
            f'<line x1="36" y1="{py:.1f}" x2="40" y2="{py:.1f}" stroke="#444"/>'
            f'<text x="34" y="{py + 4:.1f}" font-size="11" text-anchor="end">'
            f"{fmt_y.format(v)}</text>"
        )
    out.append(
        f'<text x="{40 + w / 2}" y="{h + 40}" font-size="12" text-anchor="middle">'
        f"{html.escape(xlabel)}</text>"
        f'<text x="12" y="{8 + h / 2}" font-size="12" text-anchor="middle" '
        f'transform="rotate(-90 12 {8 + h / 2})">{html.escape(ylabel)}</text>'
    )
    return "".join(out)


def _cutoff(w: int, h: int, x: tuple[float, float], cutoff: float | None) -> str:
    if cutoff is None or not math.isfinite(cutoff) or not x[0] <= cutoff <= x[1]:
        return ""
    px = 40 + (cutoff - x[0]) / (x[1] - x[0]) * w
    right = px > 40 + 0.75 * w  # near the right edge the label goes on the line's left
    label = f'x="{px - 4:.1f}" text-anchor="end"' if right else f'x="{px + 4:.1f}"'
    return (
        f'<line x1="{px:.1f}" y1="8" x2="{px:.1f}" y2="{h + 8}" stroke="#1c7ed6" '
        'stroke-dasharray="5 3"/>'
        f'<text {label} y="20" font-size="11" fill="#1c7ed6">cut-off {cutoff:.2f}</text>'
    )


def svg_histogram(
    groups: dict[str, list[float]],
    cutoff: float | None = None,
    bins: int = 24,
    colors=("#18794e", "#c4320a"),
) -> str:
    """Counts of pair distances per group, side by side per bin, with axes and the cut-off (the
    axis starts at 0, or below where the words pulled a distance under it)."""
    values = [v for vs in groups.values() for v in vs if np.isfinite(v)]
    if not values:
        return "<p>no pairs</p>"
    hi = max(values + ([cutoff] if cutoff is not None and math.isfinite(cutoff) else []))
    lo = min(0.0, min(values))
    edges = np.linspace(lo, max(1.0, hi * 1.05), bins + 1)
    counts = {
        k: np.histogram([v for v in vs if np.isfinite(v)], edges)[0] for k, vs in groups.items()
    }
    top = max(1, max(int(c.max()) for c in counts.values()))
    w, h, bw = 480, 160, 480 / bins
    bars = []
    for j, (name, c) in enumerate(counts.items()):
        for i, n in enumerate(c):
            bh = h * n / top
            bars.append(
                f'<rect x="{40 + i * bw + j * bw / 2:.1f}" y="{8 + h - bh:.1f}" '
                f'width="{bw / 2 - 1:.1f}" '
                f'height="{bh:.1f}" fill="{colors[j % 2]}"><title>{html.escape(name)}: {n}</title>'
                "</rect>"
            )
    x = (lo, float(edges[-1]))
    legend = " ".join(
        f'<span style="color:{colors[j % 2]}">&#9632; {html.escape(k)}</span>'
        for j, k in enumerate(groups)
    )
    return (
        f'<svg class="plot" width="{w + 70}" height="{h + 48}">{"".join(bars)}'
        f"{_axes(w, h, x, (0, top), 'distance', 'pairs')}{_cutoff(w, h, x, cutoff)}</svg><div>"
        f"{legend}</div>"
    )


def svg_precision_recall(
    curve: list[tuple[float, float, float]], cutoff: float | None = None
) -> str:
    """Item-level precision (green) and recall (orange) if only matches up to a distance were
    kept."""
    if not curve:
        return ""
    w, h = 480, 160
    xs = [c[0] for c in curve]
    x = (min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1)
    pts = lambda k: " ".join(  # noqa: E731
        f"{40 + (c[0] - x[0]) / (x[1] - x[0]) * w:.1f},{8 + h - c[k] * h:.1f}" for c in curve
    )
    return (
        f'<svg class="plot" width="{w + 70}" height="{h + 48}">'
        f'<polyline points="{pts(1)}" fill="none" stroke="#18794e"/>'
        f'<polyline points="{pts(2)}" fill="none" stroke="#e8590c"/>'
        f"{_axes(w, h, x, (0, 1), 'distance of the match', 'item level', '{:.2f}')}"
        f"{_cutoff(w, h, x, cutoff)}"
        '</svg><div><span style="color:#18794e">precision</span> / '
        '<span style="color:#e8590c">recall</span> '
        f"(item level) keeping the matches up to each distance</div>"
    )


def svg_region(sold, other, region, size: int = 360) -> str:
    """A standalone SVG of the unit frame: centres of sold garments (green) and of other garments
    (red) as fractions of their frame, and ``region`` ``[x1, y1, x2, y2]`` as a dashed box."""
    dots = [
        f'<circle cx="{x * size:.1f}" cy="{y * size:.1f}" r="2" fill="{color}" fill-opacity="0.5"/>'
        for points, color in ((other, "#c4320a"), (sold, "#18794e"))
        for x, y in points
    ]
    x1, y1, x2, y2 = (v * size for v in region)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size + 36}" '
        'font-family="sans-serif">'
        f'<rect width="{size}" height="{size}" fill="#f6f6f6" stroke="#999"/>{"".join(dots)}'
        f'<rect x="{x1:.1f}" y="{y1:.1f}" width="{x2 - x1:.1f}" height="{y2 - y1:.1f}" fill="none" '
        f'stroke="#1c7ed6" stroke-width="2" stroke-dasharray="6 4"/>'
        f'<text x="0" y="{size + 14}" font-size="12"><tspan fill="#18794e">'
        f"sold garments ({len(sold)})"
        f'</tspan>, <tspan fill="#c4320a">other garments ({len(other)})</tspan></text>'
        f'<text x="0" y="{size + 30}" font-size="12" fill="#1c7ed6">frame_region '
        f"{[round(float(v), 2) for v in region]}</text></svg>"
    )


def _curve(result: dict, details: dict, truth: dict[str, str]) -> list[tuple[float, float, float]]:
    pairs = sorted(
        (details["videos"][v]["distance"], e["item_id"] == truth.get(v)) for v, e in result.items()
    )
    positives = max(1, len(truth))
    out, correct = [], 0
    for k, (d, ok) in enumerate(pairs, 1):
        correct += ok
        out.append((d, correct / k, correct / positives))
    return out


def verdict(
    vid: str, entry: dict | None, gt: Dataset | None, truth: dict[str, str]
) -> tuple[str, str]:
    """``(verdict, reason)`` of one clip (``entry``: its result.json entry, ``None`` when
    unmatched)."""
    from ground.metric import judge

    if gt is None:
        return ("matched", "") if entry else ("unmatched", "")
    if entry is None:
        return ("missed", f"sells {truth[vid]}") if vid in truth else ("right: nothing sold", "")
    level, reason = judge(vid, entry, gt, truth)
    if level is None:
        return "right", ""
    if level == "item":
        return ("false positive" if reason.startswith("false positive") else "wrong item"), reason
    return "box failure", reason


class _Pictures:
    """Writes the thumbnails of one report under ``folder``; a clip or photo that cannot be read
    costs its pictures only (warned once per clip)."""

    def __init__(self, folder: Path, ds: Dataset, gt: Dataset | None, region):
        self.folder, self.ds, self.gt, self.region = folder, ds, gt, region

    def _save(
        self, name: str, image: np.ndarray, boxes=(), truth=(), height: int = 220, region=None
    ) -> str:
        """Write the thumbnail and the full-size picture (``full/``); returns the thumbnail's
        src."""
        atomic_write_bytes(self.folder / name, thumbnail(image, boxes, truth, height, region))
        atomic_write_bytes(
            self.folder / "full" / name, thumbnail(image, boxes, truth, None, region)
        )
        return f"{self.folder.name}/{name}"

    def _photo_truth(self, item_id: str, img_name: str) -> list:
        item = self.gt.items.get(item_id) if self.gt else None
        photo = item.photo(img_name) if item else None
        return [a.box for a in (photo.annotations or ()) if a.item_id == item_id] if photo else []

    def _frame_truth(self, vid: str, index: int, item_id: str | None) -> list:
        video = self.gt.videos.get(vid) if self.gt else None
        frame = (video.frames or {}).get(index) if video else None
        return [
            a.box
            for a in frame or ()
            if a.instance_id > 0 and (item_id is None or a.item_id == item_id)
        ]

    def _annotated_frame(self, vid: str, item_id: str | None) -> int | None:
        """An annotated frame of clip ``vid`` showing ``item_id``'s garment (any annotated frame
        without one), ``None`` without ground truth."""
        video = self.gt.videos.get(vid) if self.gt else None
        frames = (video.frames or {}) if video else {}
        showing = [
            i for i, boxes in sorted(frames.items()) if any(a.item_id == item_id for a in boxes)
        ]
        candidates = showing or sorted(frames)
        return candidates[len(candidates) // 2] if candidates else None

    def _frames(self, vid: str, indices) -> dict[int, tuple[int, np.ndarray]]:
        """Requested frame -> ``(frame decoded, RGB image)`` of clip ``vid``, every picture's frame
        decoded in one pass over the clip."""
        wanted = sorted(set(indices))
        frames = sample_frames(self.ds.videos[vid].path, wanted)
        if len(frames.indices) == len(wanted):
            return {w: (i, image) for w, i, image in zip(wanted, frames.indices, frames.images)}
        return {
            i: (i, image) for i, image in zip(frames.indices, frames.images)
        }  # some could not be decoded

    def votes(
        self, vid: str, item_id: str, pairs: list[dict], images: dict, prefix: str = ""
    ) -> list[tuple[str, str, bool]]:
        """The strongest votes of ``item_id``'s folder for clip ``vid`` (behind a match, or behind
        the nearest claim of an unmatched clip): each shop crop beside the frame crop it retrieved
        (``images``: :meth:`_frames` holding the pairs' frames)."""
        photos = {}
        out = []
        for k, p in enumerate(pairs):
            if p["img_name"] not in photos:
                photos[p["img_name"]] = read_photo(self.ds.items[item_id].photo(p["img_name"]).path)
            if p["frame"] not in images:
                continue
            picture = pair_picture(
                photos[p["img_name"]], p["item_box"], images[p["frame"]][1], p["frame_box"]
            )
            out.append(
                (
                    self._save(f"{vid}_vote{k}.jpg", picture, height=110),
                    f"{prefix}vote {k + 1}: {p['img_name']} -> frame {p['frame']}, distance "
                    f"{p['distance']:.3f}",
                    False,
                )
            )
        return out

    def truth(
        self, vid: str, item_id: str | None, images: dict, index: int | None
    ) -> list[tuple[str, str, bool]]:
        """What should have been, for a wrong or missed clip: the true item's photo with its
        annotated box and (``index``, held in ``images``) an annotated frame with the sold garment's
        box."""
        out = []
        item = self.gt.items.get(item_id) if (self.gt and item_id) else None
        photo = next(
            (p for p in (item.photos if item else ()) if self._photo_truth(item_id, p.name)), None
        )
        if photo is not None:
            out.append(
                (
                    self._save(
                        f"{vid}_true_photo.jpg",
                        read_photo(photo.path),
                        (),
                        self._photo_truth(item_id, photo.name),
                    ),
                    f"truth: item {item_id}, photo {photo.name}",
                    True,
                )
            )
        if index in images:
            shown, image = images[index]
            out.append(
                (
                    self._save(
                        f"{vid}_true_frame.jpg",
                        image,
                        (),
                        self._frame_truth(vid, shown, item_id),
                        region=self.region,
                    ),
                    f"truth: clip {vid}, annotated frame {shown}",
                    True,
                )
            )
        return out

    def _shown(self, vid: str, entry: dict | None, truth_item: str | None) -> int:
        """The frame a clip's section shows: the match's frame, else an annotated frame (else the
        middle one)."""
        if entry is not None:
            return entry["frame_index"]
        index = self._annotated_frame(vid, truth_item)
        return index if index is not None else (self.ds.videos[vid].num_frames or 1) // 2

    def _frame(
        self, vid: str, shown: tuple[int, np.ndarray], boxes, truth_item: str | None, note: str
    ) -> tuple[str, str, bool]:
        """The clip's shown frame (``shown``: an entry of :meth:`_frames`) with ``boxes``, the sold
        garment's annotated boxes and the region."""
        index, image = shown
        src = self._save(
            f"{vid}_frame.jpg",
            image,
            boxes,
            self._frame_truth(vid, index, truth_item),
            region=self.region,
        )
        return src, f"clip {vid}, frame {index}{note}", False

    def _runner_up(self, vid: str, runner: str | None) -> list[tuple[str, str, bool]]:
        """The runner-up item's first photo (none without a runner-up or its photos)."""
        if not (runner and runner in self.ds.items and self.ds.items[runner].photos):
            return []
        first = self.ds.items[runner].photos[0]
        src = self._save(
            f"{vid}_runner.jpg",
            read_photo(first.path),
            (),
            self._photo_truth(runner, first.name),
            height=140,
        )
        return [(src, f"runner-up {runner}, photo {first.name}", False)]

    def _unmatched(
        self, out: list, vid: str, details: dict, truth_item: str | None, images: dict, shown: int
    ) -> None:
        """Append an unmatched clip's pictures to ``out``: its shown frame and the votes of the
        folder that came nearest to claiming it."""
        out.append(self._frame(vid, images[shown], (), truth_item, " (no match)"))
        if details.get("nearest_item"):  # what nearly matched: the nearest folder's votes
            out += self.votes(
                vid,
                details["nearest_item"],
                details.get("pairs", []),
                images,
                f"nearest folder {details['nearest_item']}, ",
            )

    def _matched(
        self,
        out: list,
        vid: str,
        entry: dict,
        details: dict,
        truth_item: str | None,
        images: dict,
    ) -> None:
        """Append a matched clip's pictures to ``out`` (one at a time, so that a failure keeps the
        ones before it): the shop photo and the frame with the match's boxes, the votes behind it
        and the runner-up's first photo."""
        r = entry["result"][0]
        photo = self.ds.items[entry["item_id"]].photo(r["img_name"])
        src = self._save(
            f"{vid}_photo.jpg",
            read_photo(photo.path),
            [r["item_box"]],
            self._photo_truth(entry["item_id"], r["img_name"]),
        )
        out.append((src, f"item {entry['item_id']}, photo {r['img_name']}", False))
        staged = ", blue: frame_region" if self.region is not None else ""
        out.append(
            self._frame(vid, images[entry["frame_index"]], [r["frame_box"]], truth_item, staged)
        )
        out += self.votes(vid, entry["item_id"], details.get("pairs", []), images)
        out += self._runner_up(vid, details.get("runner_up_item"))

    def clip(
        self,
        vid: str,
        entry: dict | None,
        details: dict,
        truth_item: str | None,
        wrong: bool = False,
    ) -> list[tuple[str, str, bool]]:
        """``(src, caption, is_truth)`` of each picture of one clip; ``wrong``: also the truth."""
        out, images = [], {}
        pairs = details.get("pairs", [])
        # the truth's annotated frame, for a wrong clip (an unmatched clip's own frame is one
        # already)
        true_index = (
            self._annotated_frame(vid, truth_item)
            if wrong and truth_item and entry is not None
            else None
        )
        try:
            shown = self._shown(vid, entry, truth_item)
            extra = [true_index] if true_index is not None else []
            images = self._frames(vid, [shown, *(p["frame"] for p in pairs), *extra])
            if entry is None:
                self._unmatched(out, vid, details, truth_item, images, shown)
            else:
                self._matched(out, vid, entry, details, truth_item, images)
        except (MediaError, KeyError, AttributeError, OSError) as e:
            log.warning("report: pictures missing for clip %s (%s)", vid, e)
        try:  # the truth's pictures do not depend on the prediction's
            if wrong and truth_item:
                out += self.truth(vid, truth_item, images, true_index)
        except (MediaError, KeyError, AttributeError, OSError) as e:
            log.warning("report: truth pictures missing for clip %s (%s)", vid, e)
        return out


def _full(src: str) -> str:
    """The full-size picture beside a thumbnail (``report/x.jpg`` -> ``report/full/x.jpg``)."""
    folder, name = src.rsplit("/", 1)
    return f"{folder}/full/{name}"


def highlight(text: str, marked: set[str]) -> str:
    """``text`` as HTML with every occurrence of the strings in ``marked`` in ``<mark>`` (found in
    ``text`` as the n-grams read it, :func:`matcher.text.normalised`, where that keeps its
    length)."""
    from matcher.text import normalised

    on, seen = [False] * len(text), normalised(text)
    seen = seen if len(seen) == len(text) else text
    for word in marked:
        start = seen.find(word)
        while start >= 0:
            on[start : start + len(word)] = [True] * len(word)
            start = seen.find(word, start + 1)
    out, k = [], 0
    while k < len(text):
        j = k
        while j < len(text) and on[j] == on[k]:
            j += 1
        piece = html.escape(text[k:j])
        out.append(f"<mark>{piece}</mark>" if on[k] else piece)
        k = j
    return "".join(out)


def words(vid: str, info: dict, ds: Dataset) -> str:
    """The clip's transcript beside the titles of its item (or nearest folder) and runner-up,
    the words each shares with the transcript highlighted; empty when the clip has no text."""
    from matcher.text import shared_words

    video = ds.videos.get(vid)
    said = video.text if video is not None else None
    if not said:
        return ""
    lines = []
    for role, item_id in (
        ("item", info.get("item_id") or info.get("nearest_item")),
        ("runner-up", info.get("runner_up_item")),
    ):
        title = ds.items[item_id].text if item_id in ds.items else None
        if title:
            shared = shared_words(title, said)
            lines.append((role, item_id, title, shared))
    marked = set().union(*(shared for *_, shared in lines)) if lines else set()
    score = f" (text score {info['text_score']:.2f})" if "text_score" in info else ""
    rows = [f"<p>said in the clip{score}: {highlight(said, marked)}</p>"] + [
        f"<p>{role} {html.escape(item_id)}'s title: {highlight(title, shared)}</p>"
        for role, item_id, title, shared in lines
    ]
    return '<div class="words" style="font-size:14px">' + "".join(rows) + "</div>"


def _section(
    vid: str, entry: dict | None, info: dict, grade: tuple[str, str], pictures, said: str = ""
) -> str:
    name, reason = grade
    if entry is not None:
        runner = (
            f"runner-up {info['runner_up_item']} at {info['runner_up_distance']:.3f}"
            if info.get("runner_up_item")
            else "no runner-up"
        )
        line = (
            f"item {html.escape(entry['item_id'])}, distance {info['distance']:.3f}, "
            f"{info['votes']} votes, "
            f"{html.escape(runner)}"
        )
    else:
        line = html.escape(info.get("reason", "no folder claimed it"))
    why = f" &mdash; {html.escape(reason)}" if reason else ""
    pics = "".join(
        f'<figure{" class=truth" if true else ""}><a href="{html.escape(_full(src))}" '
        'target="_blank">'
        f'<img src="{html.escape(src)}" alt="{html.escape(cap)}" loading="lazy"></a>'
        f"<figcaption>{html.escape(cap)}</figcaption></figure>"
        for src, cap, true in pictures
    )
    return (
        f'<section id="v{html.escape(vid)}" data-verdict="{name}"><h3>clip {html.escape(vid)} '
        f'<span class="verdict" style="color:{COLORS[name]}">{name}</span>{why}</h3><p>{line}</p>'
        f"{said}{pics}</section>"
    )


def _score_table(score: dict) -> str:
    """Precision, recall and F1 at the item, frame and box levels, then the score."""
    return (
        "<table><tr><th></th><th>precision</th><th>recall</th><th>F1</th></tr>"
        + "".join(
            f"<tr><td>{k}</td><td>{score[k]['precision']:.3f}</td>"
            f"<td>{score[k]['recall']:.3f}</td><td>{score[k]['f1']:.3f}</td></tr>"
            for k in ("item", "frame", "box")
        )
        + f"</table><p><b>score {score['score']:.4f}</b></p>"
    )


def _plots(
    result: dict, details: dict, truth: dict[str, str], gt: Dataset | None, cutoff: float | None
) -> list[str]:
    """The histogram of pair distances and (with ground truth) precision / recall against the
    distance, both with the cut-off marked."""
    matched = [d["distance"] for d in details["videos"].values() if d["status"] == "matched"]
    lost = [f["distance"] for f in details["folders"].values() if not f["won"]]
    plots = [svg_histogram({"accepted pairs": matched, "claims that lost": lost}, cutoff)]
    if gt is not None:
        plots.append(svg_precision_recall(_curve(result, details, truth), cutoff))
    return plots


def _index(clips: list[str], grades: dict[str, tuple[str, str]]) -> str:
    """The legend, one filter button per verdict present (``all`` active) and a link to each
    clip, in the page's order."""
    counts = {v: sum(g[0] == v for g in grades.values()) for v in VERDICTS}
    buttons = [
        f'<button class="active" data-v="all" onclick="show(\'all\')">all ({len(clips)})</button>'
    ] + [
        f'<button data-v="{v}" onclick="show(\'{v}\')" style="color:{COLORS[v]}">{v} ({n})</button>'
        for v, n in counts.items()
        if n
    ]
    return (
        LEGEND
        + f'<div id="filters">{"".join(buttons)}</div><nav>'
        + "".join(
            f'<a href="#v{html.escape(v)}" style="color:{COLORS[grades[v][0]]}">'
            f"{html.escape(v)}</a>"
            for v in clips
        )
        + "</nav>"
    )


def write_report(
    path,
    result: dict,
    details: dict,
    ds: Dataset,
    summary: dict,
    score: dict | None = None,
    gt: Dataset | None = None,
    region=None,
    cutoff: float | None = None,
) -> Path:
    """Write ``path`` (report.html) and its thumbnails under ``report/`` beside it. ``gt`` grades
    every clip; ``region`` (``detector.infer.frame_region``, when not the whole frame) is drawn on
    the frames; ``cutoff`` (the vote's ``max_distance``) is marked on the plots."""
    from ground.metric import sold_items

    path = Path(path)
    truth = sold_items(gt) if gt is not None else {}
    pictures = _Pictures(path.parent / "report", ds, gt, region)
    clips = sorted(set(ds.videos) | set(result))
    grades = {vid: verdict(vid, result.get(vid), gt, truth) for vid in clips}
    clips.sort(key=lambda v: ORDER.index(grades[v][0]))  # failures first, then by clip id
    head = [
        f"<h1>LiveMatch run</h1><p>{len(result)} of {len(clips)} clips matched to {len(ds.items)} "
        f"catalogue items; {sum(map(len, summary.get('issues_by_reason', {}).values()))} bad "
        "input(s) (summary.json).</p>",
        _score_table(score) if score else "",
        *_plots(result, details, truth, gt, cutoff),
        _index(clips, grades),
    ]
    wrong = ("wrong item", "missed")
    sections = []
    for vid in clips:
        entry, info = result.get(vid), details["videos"].get(vid, {})
        shots = pictures.clip(vid, entry, info, truth.get(vid), grades[vid][0] in wrong)
        sections.append(_section(vid, entry, info, grades[vid], shots, words(vid, info, ds)))
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>LiveMatch report</title>'
        f"<style>{STYLE}</style><script>{SCRIPT}</script></head><body>{''.join(head)}"
        f"{''.join(sections)}</body></html>\n"
    )
    return atomic_write_text(path, page)
