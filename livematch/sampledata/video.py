"""Writing clips: H.264 through PyAV (what real footage uses), mp4v through OpenCV."""

from __future__ import annotations

from pathlib import Path

import numpy as np

CODECS = ("h264", "mp4v")


def write_video(
    path,
    frames,
    fps: float = 25.0,
    codec: str = "h264",
    gop: int = 50,
    crf: int = 23,
    faststart: bool = False,
) -> int:
    """Encode RGB ``uint8`` frames (an iterable of equal-size ``(H, W, 3)`` arrays, even sides)
    to ``path``; returns the number of frames written. ``gop`` is the keyframe interval;
    ``faststart`` (H.264 only) puts the index at the start, as streaming uploads do."""
    if codec not in CODECS:
        raise ValueError(f"unknown codec {codec!r}; choose one of {CODECS}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if codec == "mp4v":
        return _write_mp4v(path, iter(frames), fps)
    return _write_h264(path, iter(frames), fps, gop, crf, faststart)


def _write_h264(path: Path, frames, fps: float, gop: int, crf: int, faststart: bool) -> int:
    from fractions import Fraction

    import av

    count = 0
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), mode="w", options=options) as container:
        stream = None
        for rgb in frames:
            if stream is None:
                stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
                stream.height, stream.width = rgb.shape[:2]
                stream.pix_fmt = "yuv420p"
                # One thread and fixed options: identical bytes for identical frames (determinism).
                stream.options = {
                    "crf": str(crf),
                    "preset": "ultrafast",
                    "g": str(gop),
                    "threads": "1",
                    "bframes": "0",
                }
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            container.mux(stream.encode(frame))
            count += 1
        if stream is not None:
            container.mux(stream.encode(None))
    return count


def _write_mp4v(path: Path, frames, fps: float) -> int:
    import cv2

    count, writer = 0, None
    for rgb in frames:
        if writer is None:
            height, width = rgb.shape[:2]
            writer = cv2.VideoWriter(
                str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height)
            )
            if not writer.isOpened():
                raise OSError(f"{path}: OpenCV cannot write mp4v here")
        writer.write(np.ascontiguousarray(rgb[..., ::-1]))
        count += 1
    if writer is not None:
        writer.release()
    return count
