"""Reading shop photos and sampling frames from live-stream clips.

Photos come back as ``(H, W, 3)`` RGB ``uint8`` arrays with EXIF orientation applied. Frames come
back as ``(N, H, W, 3)`` RGB ``uint8`` with the decoded-frame index of each (counted from 0,
docs/FORMAT.md). Anything that cannot be read raises :class:`~ground.errors.MediaError` naming the
file; no decoder error type leaks out.

Short clips: when the schedule's last index is past the clip's end (``n`` frames), the indices
inside the clip are read as they are if they are at least half of the schedule (a clip of 370
frames keeps 80, 100, ..., 360: frames on the annotated grid stay on it); otherwise the clip's
frames on the schedule's own lattice (multiples of its step, offset as its start: 0, 20, ...,
180 on a 191-frame clip), at most as many as the schedule has, the last ones; and on a clip too
short for two of those, every index ``i`` becomes ``floor(i * (n - 1) / last + 0.5)``, duplicates
removed (see :func:`resolve_indices`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ground.errors import ConfigError, MediaError

log = logging.getLogger(__name__)

IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
VIDEO_EXTS = frozenset({".mp4", ".mov", ".avi", ".mkv", ".flv", ".webm"})
BACKENDS = ("decord", "pyav")
_EXIF_ORIENTATION = 0x0112


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise MediaError(path, "no such file")
    if path.stat().st_size == 0:
        raise MediaError(path, "empty file (0 bytes)")


# -- photos ----------------------------------------------------------------------------------
def read_photo(path) -> np.ndarray:
    """Decode a photo to ``(H, W, 3)`` RGB ``uint8``, EXIF orientation applied.

    Grayscale, palette, CMYK and 16-bit images are converted; transparent pixels are composited
    on white (shop photos with a cut-out background look as they do on the shop page).
    """
    path = Path(path)
    _check_file(path)
    try:
        with Image.open(path) as im:
            im.load()
            return _to_rgb_uint8(ImageOps.exif_transpose(im))
    except UnidentifiedImageError:
        raise MediaError(path, "not an image (unknown format)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise MediaError(path, f"corrupt or truncated image: {e}") from None


def _to_rgb_uint8(im: Image.Image) -> np.ndarray:
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        depth = np.asarray(im, dtype=np.float64)
        scale = 255.0 / 65535.0 if im.mode != "F" and depth.max(initial=0) > 255 else 1.0
        gray = np.clip(np.rint(depth * scale), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if (
        im.mode == "P"
        and "transparency" in im.info
        or im.mode in ("RGBA", "LA", "PA", "RGBa", "La")
    ):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    return np.asarray(im.convert("RGB"))


def photo_size(path) -> tuple[int, int]:
    """``(width, height)`` of a photo as displayed (EXIF rotation applied), from its header only."""
    path = Path(path)
    _check_file(path)
    try:
        with Image.open(path) as im:
            width, height = im.size
            orientation = im.getexif().get(_EXIF_ORIENTATION, 1)
    except UnidentifiedImageError:
        raise MediaError(path, "not an image (unknown format)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise MediaError(path, f"corrupt image header: {e}") from None
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


# -- clips -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class VideoInfo:
    """Container facts of a clip: frame size in pixels, frame count (``None`` if unknown), fps."""

    width: int
    height: int
    num_frames: int | None
    fps: float


@dataclass
class Frames:
    """Frames sampled from one clip: ``images[k]`` is decoded frame ``indices[k]``."""

    indices: list[int]
    images: np.ndarray  # (N, H, W, 3) RGB uint8
    num_frames: int | None = None


# what resolve_indices reads on a short clip; part of run caches' keys: bump it when that changes
SCHEDULE_RULE = 3


def resolve_indices(indices, num_frames: int) -> list[int]:
    """The frame indices actually read for a schedule on a clip of ``num_frames`` frames.

    Unchanged when the schedule fits; the indices inside the clip when they are at least half of
    it; else the schedule's lattice inside the clip; else scaled onto ``[0, num_frames - 1]``
    (module doc).
    """
    wanted = sorted({int(i) for i in indices if int(i) >= 0})
    if num_frames <= 0 or not wanted:
        return []
    inside = [i for i in wanted if i < num_frames]
    if 2 * len(inside) >= len(wanted):
        return inside
    step = math.gcd(*(b - a for a, b in zip(wanted, wanted[1:]))) if len(wanted) > 1 else 0
    lattice = list(range(wanted[0] % step, num_frames, step)) if step else []
    if len(lattice) >= 2:  # the schedule's own frame lattice, so the annotated grid stays in reach
        return lattice[-len(wanted) :]
    last = wanted[-1]
    scale = (num_frames - 1) / last
    return sorted({math.floor(i * scale + 0.5) for i in wanted})


def probe_video(path, backend: str = "pyav") -> VideoInfo:
    """Open a clip's container (no decoding beyond the header) and report its size and length."""
    path = Path(path)
    _check_file(path)
    if backend == "decord" and _decord() is not None:
        vr = _open_decord(path)
        height, width = vr[0].shape[:2] if len(vr) else (0, 0)
        return VideoInfo(width, height, len(vr), float(vr.get_avg_fps()))
    av = _av()
    try:
        with av.open(str(path)) as container:
            stream = _video_stream(container, path)
            rate = stream.average_rate or stream.guessed_rate or 0
            width, height = stream.codec_context.width, stream.codec_context.height
            if _first_rotation(container, stream) % 2:
                width, height = height, width  # a phone's portrait stream: the size as displayed
            return VideoInfo(width, height, stream.frames or None, float(rate))
    except av.error.FFmpegError as e:
        raise MediaError(path, f"corrupt or unsupported video: {e}") from None


def sample_frames(
    path, indices, backend: str = "decord", fallback: bool = True, threads: int = 0
) -> Frames:
    """Decode the frames ``indices`` (decoded-frame numbers from 0) of a clip as RGB ``uint8``.

    ``backend`` is ``"decord"`` (default) or ``"pyav"``. With ``fallback``, a clip decord cannot
    read (or a machine without decord) is retried with PyAV, which recovers most frames of a
    damaged clip. ``threads`` is the decoder's thread count (0: the decoder's own choice; use 1
    inside data-loader workers). Raises ``MediaError`` when no requested frame can be decoded.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"unknown video backend {backend!r}; choose one of {BACKENDS}")
    path = Path(path)
    _check_file(path)
    if backend == "decord" and _decord() is not None:
        try:
            return _sample_decord(path, indices, threads)
        except MediaError as e:
            if not fallback:
                raise
            log.info("%s: decord failed (%s), retrying with PyAV", path, e.reason)
    elif backend == "decord" and not fallback:
        raise MediaError(path, "decord is not installed; pip install decord or use backend 'pyav'")
    return _sample_pyav(path, indices, threads)


def sample_exact(path, indices, backend: str = "decord") -> tuple[Frames | None, list[int]]:
    """Decode exactly the frames ``indices`` (annotated frames: never rescaled onto a shorter
    clip, unlike a schedule). Returns the frames that exist (``None`` if none does) and the
    indices past the clip's last frame. Raises ``MediaError`` when the clip cannot be read."""
    wanted = sorted({int(i) for i in indices if int(i) >= 0})
    sampled = sample_frames(path, wanted, backend)
    if sampled.indices == wanted:
        return sampled, []
    n = sampled.num_frames or (max(sampled.indices) + 1 if sampled.indices else 0)
    inside, past = [i for i in wanted if i < n], [i for i in wanted if i >= n]
    return (sample_frames(path, inside, backend) if inside else None), past


def _decord():
    try:
        import decord
    except ImportError:
        return None
    return decord


def _av():
    import av

    return av


def _open_decord(path: Path, threads: int = 1):
    decord = _decord()
    try:
        return decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=threads)
    except Exception as e:  # decord raises bare RuntimeError / DECORDError subclasses
        raise MediaError(path, f"corrupt or unsupported video: {_first_line(e)}") from None


def _sample_decord(path: Path, indices, threads: int) -> Frames:
    vr = _open_decord(path, threads)
    n = len(vr)
    wanted = resolve_indices(indices, n)
    if not wanted:
        raise MediaError(path, "no video frame in the clip")
    try:
        images = vr.get_batch(wanted).asnumpy()
    except Exception as e:
        raise MediaError(path, f"cannot decode frames: {_first_line(e)}") from None
    return Frames(wanted, images, n)


def _video_stream(container, path: Path):
    if not container.streams.video:
        raise MediaError(path, "no video stream (audio-only or not a video)")
    return container.streams.video[0]


def _sample_pyav(path: Path, indices, threads: int) -> Frames:
    av = _av()
    try:
        with av.open(str(path)) as container:
            stream = _video_stream(container, path)
            wanted = (
                resolve_indices(indices, stream.frames) if stream.frames else sorted(set(indices))
            )
            got, decoded = _decode_pyav(container, stream, set(wanted), threads)
        if len(got) < len(wanted) and decoded < max(wanted, default=0) + 1:
            # The container's frame count was missing or wrong: re-read with the real length.
            wanted = resolve_indices(indices, decoded)
            with av.open(str(path)) as container:
                got, _ = _decode_pyav(
                    container, _video_stream(container, path), set(wanted), threads
                )
            stream_frames = decoded
        else:
            stream_frames = stream.frames or decoded
    except av.error.FFmpegError as e:
        raise MediaError(path, f"corrupt or unsupported video: {e}") from None
    if not got:
        raise MediaError(path, "no requested frame could be decoded")
    order = sorted(got)
    return Frames(order, np.stack([got[i] for i in order]), stream_frames)


def _decode_pyav(
    container, stream, wanted: set[int], threads: int
) -> tuple[dict[int, np.ndarray], int]:
    """Decode until every wanted frame is seen; frame numbers come from pts, not a loop counter
    (a counter drifts after a corrupt packet). Returns the frames and the frames seen so far."""
    av = _av()
    if threads != 1:
        stream.thread_type = "AUTO"
        stream.thread_count = threads
    rate = stream.average_rate or stream.guessed_rate
    start = stream.start_time or 0
    last_wanted, got, seen, counter = max(wanted, default=-1), {}, 0, 0
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            continue  # a damaged packet: skip it, keep the rest of the clip
        for frame in frames:
            index = counter
            if frame.pts is not None and rate:
                index = math.floor((frame.pts - start) * stream.time_base * rate + 0.5)
            counter += 1
            seen = max(seen, index + 1)
            if index in wanted and index not in got:
                got[index] = _displayed(frame)
        if seen > last_wanted and len(got) == len(wanted):
            break
    return got, seen


def _quarter_turns(frame) -> int:
    """Counter-clockwise quarter turns of the display matrix (phones record portrait streams
    as landscape with a rotation); 0 without one."""
    return round((getattr(frame, "rotation", 0) or 0) / 90) % 4


def _displayed(frame) -> np.ndarray:
    """A decoded PyAV frame as RGB, turned as displayed (decord applies the rotation itself)."""
    image = frame.to_ndarray(format="rgb24")
    turns = _quarter_turns(frame)
    return np.ascontiguousarray(np.rot90(image, turns)) if turns else image


def _first_rotation(container, stream) -> int:
    """Quarter turns of the first decodable frame (the display matrix travels with the frames)."""
    av = _av()
    try:
        for frame in container.decode(stream):
            return _quarter_turns(frame)
    except av.error.FFmpegError:
        pass
    return 0


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__
