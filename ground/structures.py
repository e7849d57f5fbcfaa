"""Typed records that cross package lines: boxes with their labels, photos, items, videos.

Ids are strings (``"000041"``); boxes are ``(x1, y1, x2, y2)`` floats in pixels of the image
as displayed (EXIF orientation applied). ``instance_id`` follows the contest convention:
``0`` means no counterpart, otherwise ``"2" + item_id[1:] + two-digit variant``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# The 23 garment categories of the contest (docs/FORMAT.md). Real data has variants; readers keep
# any label as a string and only warn on one that does not normalise to this list.
LABELS = (
    "短袖上衣",
    "长袖上衣",
    "短袖衬衫",
    "长袖衬衫",
    "背心上衣",
    "吊带上衣",
    "无袖上衣",
    "短外套",
    "短马甲",
    "长袖连衣裙",
    "短袖连衣裙",
    "无袖连衣裙",
    "长马甲",
    "长外套",
    "连体衣",
    "古风",
    "短裙",
    "中等半身裙",
    "长半身裙",
    "短裤",
    "中裤",
    "长裤",
    "背带裤",
)
_LABEL_ALIASES = {"古装": "古风", "长款外套": "长外套", "短款外套": "短外套"}
_BRACKETS = re.compile(r"[（(\[【].*?[）)\]】]")


def normalize_label(label: str) -> str:
    """Map a label variant to its contest category (bracketed suffixes and known aliases);
    an unknown label is returned stripped but otherwise unchanged."""
    base = _BRACKETS.sub("", str(label)).strip()
    return _LABEL_ALIASES.get(base, base)


def instance_item(instance_id: int) -> str | None:
    """The item id a garment belongs to (``20004101 -> "000041"``); ``None`` for ``0``."""
    if instance_id <= 0:
        return None
    return "0" + str(instance_id)[1:6]


def make_instance_id(item_id: str, variant: int = 1) -> int:
    """The contest instance id of garment ``variant`` (1..99) of a 6-digit ``item_id``."""
    if len(item_id) != 6 or not item_id.isdigit() or not 1 <= variant <= 99:
        raise ValueError(
            f"need a 6-digit item id and a variant in 1..99, got {item_id!r}, {variant}"
        )
    return int("2" + item_id[1:] + f"{variant:02d}")


def follows_instance_convention(instance_id: int) -> bool:
    """True for ``0`` and for 8-digit ids that start with ``2``."""
    return instance_id == 0 or (len(str(instance_id)) == 8 and str(instance_id)[0] == "2")


@dataclass(frozen=True)
class BoxAnnotation:
    """One garment box: ``box`` is ``(x1, y1, x2, y2)`` pixels; ``score`` is 1 for ground truth."""

    box: tuple[float, float, float, float]
    label: str = ""
    instance_id: int = 0
    viewpoint: int = 0
    display: int = 0
    score: float = 1.0

    @property
    def item_id(self) -> str | None:
        return instance_item(self.instance_id)


@dataclass
class Photo:
    """A shop photo ``image/<item_id>/<name>.jpg``; ``annotations`` is ``None`` when unannotated."""

    item_id: str
    name: str
    path: Path
    annotations: list[BoxAnnotation] | None = None
    size: tuple[int, int] | None = None  # (width, height) as displayed, when probed


@dataclass
class Item:
    """A catalogue item: one folder of shop photos, plus its optional product text."""

    item_id: str
    photos: list[Photo] = field(default_factory=list)
    text: str | None = None

    def photo(self, name: str) -> Photo | None:
        return next((p for p in self.photos if p.name == name), None)


@dataclass
class Video:
    """A live-stream clip; ``frames`` maps annotated frame index -> boxes (``None``:
    unannotated)."""

    video_id: str
    path: Path
    frames: dict[int, list[BoxAnnotation]] | None = None
    text: str | None = None
    size: tuple[int, int] | None = None  # (width, height), when probed
    num_frames: int | None = None

    @property
    def sold_item(self) -> str | None:
        """The item of the clip's garments with ``instance_id > 0`` (the most annotated one when
        a labelling error mixes items); ``None`` when the clip sells nothing or is unannotated."""
        if not self.frames:
            return None
        votes = Counter(
            a.item_id for anns in self.frames.values() for a in anns if a.instance_id > 0
        )
        return min(votes, key=lambda k: (-votes[k], k)) if votes else None
