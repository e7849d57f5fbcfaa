"""Read dataset roots in the contest layout (docs/FORMAT.md) into typed records.

Bad input never stops a load. Each problem is logged once, naming the file, and counted in
``Dataset.summary``. The rules:

- a root that does not exist is an error (a typo, not bad data); everything inside is forgiving;
- an empty item folder, a stray file (wrong extension, or a file where a folder belongs), an
  annotation without its photo or clip: skipped;
- an annotation file that is not valid JSON or lacks its keys: the photo or clip is kept,
  unannotated (``annotations`` / ``frames`` is ``None``);
- a photo without annotation in a root that has ``image_annotation/``: kept, unannotated;
- a box that is not four numbers or has a bad ``instance_id``: that box is skipped;
- a box partly outside the image: clipped to it; a box with zero area after clipping: skipped;
- an unknown label, an out-of-range ``viewpoint`` / ``display``, an ``instance_id`` off the
  convention, an ``item_id`` / ``video_id`` / ``img_name`` that disagrees with the file name:
  kept as is (the file name wins), with a warning;
- a photo or clip that cannot be probed (when ``probe_media``): skipped;
- an item or clip id already loaded from an earlier root: the later one is skipped.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

from ground.boxes import clip_box, is_valid_box
from ground.errors import DatasetError, MediaError
from ground.media import IMAGE_EXTS, VIDEO_EXTS, photo_size, probe_video
from ground.structures import (
    LABELS,
    BoxAnnotation,
    Item,
    Photo,
    Video,
    follows_instance_convention,
    normalize_label,
)
from ground.summary import RunSummary

log = logging.getLogger(__name__)


@dataclass
class Dataset:
    """Items (catalogue folders) and videos of one or more roots, with the load summary."""

    roots: list[Path]
    items: dict[str, Item] = field(default_factory=dict)
    videos: dict[str, Video] = field(default_factory=dict)
    summary: RunSummary = field(default_factory=RunSummary)

    @property
    def annotated(self) -> bool:
        """True when any photo or clip carries annotations (a training/validation set)."""
        return any(v.frames is not None for v in self.videos.values()) or any(
            p.annotations is not None for it in self.items.values() for p in it.photos
        )

    def photos(self):
        """Every photo of every item, items in id order."""
        return [p for it in self.items.values() for p in it.photos]

    def titles(self) -> dict[str, str]:
        """Each item's title (``image_text/``), for the items that have one."""
        return {k: i.text for k, i in self.items.items() if i.text}

    def transcripts(self) -> dict[str, str]:
        """Each clip's text (``video_text/``), for the clips that have one."""
        return {k: v.text for k, v in self.videos.items() if v.text}


def check_root(root) -> None:
    """A ``DatasetError`` naming ``root`` unless it is a folder with ``image/`` or ``video/``
    (cheap: commands call it before they create their output folder)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset root does not exist or is not a folder")
    if not (root / "image").is_dir() and not (root / "video").is_dir():
        raise DatasetError(
            f"{root}: no image/ or video/ folder: not a dataset root (layout: docs/FORMAT.md)"
        )


def load_dataset(roots, probe_media: bool = True, video_backend: str = "pyav") -> Dataset:
    """Load one or more dataset roots (``str`` / ``Path`` or a list of them) into a ``Dataset``.

    With ``probe_media`` every photo header and clip container is opened (no pixel decoding)
    to learn its size, so that boxes can be clipped and unreadable files skipped at load time.
    """
    roots = [Path(r) for r in ([roots] if isinstance(roots, (str, Path)) else roots)]
    ds = Dataset(roots=roots)
    for root in roots:
        check_root(root)
        _AnnotationReader(root, ds, probe_media, video_backend).load()
    if not ds.items and not ds.videos:
        raise DatasetError(f"{', '.join(map(str, roots))}: no readable photo and no readable clip")
    ds.items = dict(sorted(ds.items.items()))
    ds.videos = dict(sorted(ds.videos.items()))
    ds.summary.counts.update(_count(ds))
    return ds


def subset_root(root, items, clips, dest) -> Path:
    """A dataset root at ``dest`` that holds only ``items`` and ``clips`` of ``root``: symbolic
    links to its folders and files (nothing copied), e.g. to run the pipeline on a draw of a large
    root. ``dest`` is made anew on each call."""
    import shutil

    root, dest = Path(root).resolve(), Path(dest)
    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    elif dest.exists():
        shutil.rmtree(dest)
    keep = {
        "image": set(items),
        "image_annotation": set(items),
        "image_text": set(items),
        "video": set(clips),
        "video_annotation": set(clips),
        "video_text": set(clips),
    }
    for sub, ids in keep.items():
        if not (root / sub).is_dir():
            continue
        (dest / sub).mkdir(parents=True, exist_ok=True)
        for entry in (root / sub).iterdir():
            if (
                entry.name if entry.is_dir() else entry.stem
            ) in ids:  # image/<item>/, video/<clip>.mp4
                (dest / sub / entry.name).symlink_to(entry)
    return dest


def annotation_grid(datasets) -> int | None:
    """The step of the annotated-frame grid of ``datasets`` (``Dataset`` records): the greatest
    common divisor of every annotated frame index, so 40 for frames 0, 40, ..., 360 and 1 for
    frames annotated at irregular indices. ``None`` when no clip annotates a frame past 0."""
    step = 0
    for ds in datasets:
        for video in ds.videos.values():
            for index in video.frames or ():
                step = math.gcd(step, int(index))
    return step or None


def _count(ds: Dataset) -> dict:
    photos = ds.photos()
    return {
        "items": len(ds.items),
        "photos": len(photos),
        "annotated photos": sum(p.annotations is not None for p in photos),
        "photo boxes": sum(len(p.annotations or ()) for p in photos),
        "videos": len(ds.videos),
        "annotated videos": sum(v.frames is not None for v in ds.videos.values()),
        "frame boxes": sum(len(a) for v in ds.videos.values() for a in (v.frames or {}).values()),
        "videos selling an item": sum(v.sold_item in ds.items for v in ds.videos.values()),
    }


def _numeric_key(path: Path):
    return (0, int(path.stem), "") if path.stem.isdigit() else (1, 0, path.stem)


def _read_text(path: Path, summary: RunSummary) -> str | None:
    """The text of ``path`` (UTF-8, with or without a byte-order mark) as one line, its lines
    joined by spaces; ``None`` when empty, and, with a warning naming the file, when it cannot be
    read as text."""
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        summary.warn(path, f"unreadable text: {e}")
        return None
    if any(ord(c) < 32 and c not in "\t\n\r" for c in text):
        summary.warn(path, "not text: holds control characters (a binary file?)")
        return None
    return " ".join(line.strip() for line in text.splitlines() if line.strip()) or None


class _AnnotationReader:
    """Loads one root into ``ds``; one method per part of the layout."""

    KNOWN_DIRS = {
        "image",
        "image_annotation",
        "image_text",
        "video",
        "video_annotation",
        "video_text",
    }

    def __init__(self, root: Path, ds: Dataset, probe_media: bool, video_backend: str):
        self.root, self.ds, self.summary = root, ds, ds.summary
        self.probe_media, self.video_backend = probe_media, video_backend

    def load(self) -> None:
        for entry in sorted(self.root.iterdir()):
            if entry.name not in self.KNOWN_DIRS and not entry.name.startswith("."):
                self.summary.warn(entry, "stray entry: not part of the dataset layout", "ignored")
        if not (self.root / "image").is_dir() and not (self.root / "video").is_dir():
            self.summary.warn(self.root, "empty root: neither image/ nor video/", "ignored")
        self.load_items()
        self.load_videos()
        self.report_orphans(
            "image_annotation",
            lambda rel: (
                rel.parent.name in self.ds.items
                and self.ds.items[rel.parent.name].photo(rel.stem) is not None
            ),
            "*/*.json",
        )
        self.report_orphans("video_annotation", lambda rel: rel.stem in self.ds.videos, "*.json")

    # -- shop photos -------------------------------------------------------------------------
    def load_items(self) -> None:
        image_dir = self.root / "image"
        if not image_dir.is_dir():
            return
        annotated = (self.root / "image_annotation").is_dir()
        for folder in sorted(image_dir.iterdir()):
            if not folder.is_dir():
                self.summary.warn(folder, "stray file: image/ holds one folder per item")
                continue
            if folder.name in self.ds.items:
                self.summary.warn(folder, "duplicate item id: already loaded from an earlier root")
                continue
            item = Item(
                folder.name,
                text=_read_text(self.root / "image_text" / f"{folder.name}.txt", self.summary),
            )
            for path in sorted(folder.iterdir(), key=_numeric_key):
                photo = self.load_photo(path, annotated)
                if photo is not None:
                    item.photos.append(photo)
            if not item.photos:
                self.summary.warn(folder, "empty item folder: no readable photo")
                continue
            self.ds.items[item.item_id] = item

    def load_photo(self, path: Path, annotated: bool) -> Photo | None:
        if not path.is_file() or path.suffix.lower() not in IMAGE_EXTS:
            self.summary.warn(path, "stray file: not a photo")
            return None
        photo = Photo(item_id=path.parent.name, name=path.stem, path=path)
        if self.probe_media:
            try:
                photo.size = photo_size(path)
            except MediaError as e:
                self.summary.warn(path, f"unreadable photo: {e.reason}")
                return None
        if annotated:
            ann_path = self.root / "image_annotation" / photo.item_id / f"{photo.name}.json"
            photo.annotations = self.read_photo_annotation(ann_path, photo)
        return photo

    def read_photo_annotation(self, path: Path, photo: Photo) -> list[BoxAnnotation] | None:
        data = self.read_json(path, required=("annotations",))
        if data is None:
            return None
        if str(data.get("item_id", photo.item_id)) != photo.item_id:
            self.summary.warn(
                path,
                f"item_id mismatch: says {data.get('item_id')!r}, folder is {photo.item_id!r}",
                "kept folder id",
            )
        img_name = str(data.get("img_name", photo.path.name))
        if Path(img_name).stem != photo.name:
            self.summary.warn(path, f"img_name mismatch: says {img_name!r}", "kept file name")
        return self.read_boxes(path, data["annotations"], photo.size)

    # -- videos ------------------------------------------------------------------------------
    def load_videos(self) -> None:
        video_dir = self.root / "video"
        if not video_dir.is_dir():
            return
        annotated = (self.root / "video_annotation").is_dir()
        for path in sorted(video_dir.iterdir()):
            if not path.is_file() or path.suffix.lower() not in VIDEO_EXTS:
                self.summary.warn(path, "stray file: not a video")
                continue
            if path.stem in self.ds.videos:
                self.summary.warn(path, "duplicate video id: already loaded from an earlier root")
                continue
            video = Video(
                path.stem,
                path,
                text=_read_text(self.root / "video_text" / f"{path.stem}.txt", self.summary),
            )
            if self.probe_media:
                try:
                    info = probe_video(path, self.video_backend)
                except MediaError as e:
                    self.summary.warn(path, f"unreadable video: {e.reason}")
                    continue
                video.size, video.num_frames = (info.width, info.height), info.num_frames
            if annotated:
                video.frames = self.read_video_annotation(
                    self.root / "video_annotation" / f"{path.stem}.json", video
                )
            self.ds.videos[video.video_id] = video

    def read_video_annotation(
        self, path: Path, video: Video
    ) -> dict[int, list[BoxAnnotation]] | None:
        data = self.read_json(path, required=("frames",))
        if data is None:
            return None
        if str(data.get("video_id", video.video_id)) != video.video_id:
            self.summary.warn(
                path, f"video_id mismatch: says {data.get('video_id')!r}", "kept file name"
            )
        if not isinstance(data["frames"], list):
            self.summary.warn(path, "malformed annotation: 'frames' is not a list", "unannotated")
            return None
        frames: dict[int, list[BoxAnnotation]] = {}
        for i, frame in enumerate(data["frames"]):
            index = frame.get("frame_index") if isinstance(frame, dict) else None
            if not isinstance(index, int) or isinstance(index, bool) or index < 0:
                self.summary.warn(path, f"malformed frame: entry {i} has no valid frame_index")
                continue
            if index in frames:
                self.summary.warn(
                    path, f"duplicate frame: frame_index {index} listed twice", "kept first"
                )
                continue
            if video.num_frames and index >= video.num_frames:
                self.summary.warn(
                    path,
                    f"frame past the clip's end: frame_index {index}, the clip has "
                    f"{video.num_frames} frames",
                    "frame skipped",
                )
                continue
            frames[index] = self.read_boxes(
                path, frame.get("annotations", []), video.size, where=f"frame {index} "
            )
        return dict(sorted(frames.items()))

    # -- shared helpers ----------------------------------------------------------------------
    def read_json(self, path: Path, required: tuple[str, ...]) -> dict | None:
        if not path.is_file():
            self.summary.warn(path, "missing annotation", "unannotated")
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            self.summary.warn(path, f"invalid JSON: {e}", "unannotated")
            return None
        missing = [k for k in required if not isinstance(data, dict) or k not in data]
        if missing:
            self.summary.warn(
                path, f"malformed annotation: missing key {missing[0]!r}", "unannotated"
            )
            return None
        return data

    def read_boxes(self, path: Path, raw, size, where: str = "") -> list[BoxAnnotation]:
        if not isinstance(raw, list):
            self.summary.warn(path, f"malformed annotation: {where}'annotations' is not a list")
            return []
        boxes = [self.read_box(path, i, a, size, where) for i, a in enumerate(raw)]
        return [b for b in boxes if b is not None]

    def read_box(self, path: Path, i: int, ann, size, where: str) -> BoxAnnotation | None:
        at = f"{where}box {i}"
        if not isinstance(ann, dict) or not _four_numbers(ann.get("box")):
            self.summary.warn(path, f"malformed box: {at} is not [x1, y1, x2, y2]")
            return None
        iid = ann.get("instance_id", 0)
        if isinstance(iid, bool) or not isinstance(iid, int) or iid < 0:
            self.summary.warn(path, f"malformed box: {at} has instance_id {iid!r}")
            return None
        width, height = size if size else (None, None)
        box = clip_box(ann["box"], width, height)
        if not is_valid_box(box):
            self.summary.warn(
                path, f"zero-area box: {at} {ann['box']} inside a {width}x{height} image"
            )
            return None
        if box != tuple(float(v) for v in ann["box"]):
            self.summary.warn(
                path, f"box outside image: {at} {ann['box']} clipped to {width}x{height}", "clipped"
            )
        label = str(ann.get("label", ""))
        if normalize_label(label) not in LABELS:
            self.summary.warn(path, f"unknown label: {at} {label!r}", "kept")
        if not follows_instance_convention(iid):
            self.summary.warn(path, f"instance_id off convention: {at} {iid}", "kept")
        viewpoint, display = ann.get("viewpoint", 0), ann.get("display", 0)
        if viewpoint not in (0, 1, 2, 3) or display not in (0, 1):
            self.summary.warn(
                path,
                f"out-of-range field: {at} viewpoint={viewpoint!r} display={display!r}",
                "kept",
            )
        return BoxAnnotation(
            box=box,
            label=label,
            instance_id=iid,
            viewpoint=_as_int(viewpoint),
            display=_as_int(display),
        )

    def report_orphans(self, subdir: str, has_owner, pattern: str) -> None:
        base = self.root / subdir
        if not base.is_dir():
            return
        for path in sorted(base.glob(pattern)):
            if not has_owner(path.relative_to(base)):
                self.summary.warn(path, "orphan annotation: no such photo or video")


def _four_numbers(box) -> bool:
    """Four finite numbers, possibly degenerate (degenerate boxes are reported separately)."""
    if not isinstance(box, (list, tuple)) or len(box) != 4:
        return False
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box):
        return False
    return all(math.isfinite(v) for v in box)


def _as_int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def read_item_photos(item, summary: RunSummary) -> tuple[list, list[str]]:
    """Decode every readable photo of an item: ``(RGB images, photo names)``; an unreadable
    photo is skipped with a warning counted in ``summary``."""
    from ground.media import read_photo

    images, names = [], []
    for photo in item.photos:
        try:
            images.append(read_photo(photo.path))
            names.append(photo.name)
        except MediaError as e:
            summary.warn(photo.path, f"unreadable photo: {e.reason}")
    return images, names


def read_clip_frames(video, media_cfg, summary: RunSummary):
    """The ``media_cfg.infer_frames`` of a clip (``ground.media.Frames``), or ``None`` with a
    warning counted in ``summary`` when the clip cannot be read."""
    from ground.media import sample_frames

    try:
        return sample_frames(
            video.path,
            media_cfg.infer_frames.indices(),
            media_cfg.backend.value,
            media_cfg.fallback,
            media_cfg.threads,
        )
    except MediaError as e:
        summary.warn(video.path, f"unreadable video: {e.reason}")
        return None


def read_images(path, frames, summary: RunSummary) -> dict | None:
    """The images of one media file for cropping: ``{-1: photo}`` when ``frames`` is ``[-1]``,
    else ``{frame index: frame}`` for the clip's ``frames``. ``None``, with a warning counted in
    ``summary``, when the file cannot be read."""
    from ground.media import read_photo, sample_exact

    frames = sorted(set(frames))
    try:
        if frames == [-1]:
            return {-1: read_photo(path)}
        sampled, past = sample_exact(path, frames)
        if past:
            summary.warn(
                path, f"frame past the clip's end: annotated frame_index {past}", "frame skipped"
            )
        return dict(zip(sampled.indices, sampled.images)) if sampled is not None else {}
    except MediaError as e:
        summary.warn(path, f"unreadable media: {e.reason}")
        return None
