"""Progress on long work, on a terminal and in logs.

On a terminal, :func:`progress_bar` is a tqdm bar. Where stderr is not a terminal (Docker logs,
``nohup``, a pipe) it prints a plain line every ``LIVEMATCH_PROGRESS_INTERVAL`` seconds (default
30) and one at the end: ``embed: 120/480 (25%), 3.1 batch/s, about 2 min left``, so a long fit
shows it is alive without carriage-return spam. ``livematch --no-progress`` (or ``--quiet``) sets
``LIVEMATCH_NO_PROGRESS`` and switches both off.
"""

from __future__ import annotations

import os
import sys
import time

from tqdm import tqdm

ENV = "LIVEMATCH_NO_PROGRESS"
INTERVAL_ENV = "LIVEMATCH_PROGRESS_INTERVAL"


def bar_disabled(progress: bool) -> bool | None:
    """tqdm's ``disable=``: ``True`` (off) or ``None`` (on when stderr is a terminal)."""
    return True if not progress or os.environ.get(ENV, "") not in ("", "0") else None


def enabled(progress: bool) -> bool:
    """Progress asked for and not switched off by ``LIVEMATCH_NO_PROGRESS``."""
    return bar_disabled(progress) is None


def say(line: str) -> None:
    """One plain progress line on stderr (flushed: logs see it at once)."""
    print(line, file=sys.stderr, flush=True)


def _duration(seconds: float) -> str:
    return (
        f"{seconds:.0f} s"
        if seconds < 90
        else f"{seconds / 60:.0f} min"
        if seconds < 5400
        else f"{seconds / 3600:.1f} h"
    )


class LogLines:
    """tqdm's calling convention (iterate, ``update``, ``set_postfix``, ``close``, ``with``) as
    plain lines: ``desc: done/total (pct), rate, time left`` at most every ``interval`` seconds,
    and a last line when done."""

    def __init__(
        self, iterable=None, total=None, desc: str = "", unit: str = "it", interval: float = 30.0
    ):
        self.iterable, self.desc, self.unit, self.interval = iterable, desc, unit, interval
        self.total = (
            total
            if total is not None
            else (len(iterable) if hasattr(iterable, "__len__") else None)
        )
        self.n, self.postfix, self.start = 0, "", time.monotonic()
        self.last, self.closed = self.start, False

    def __iter__(self):
        for x in self.iterable:
            yield x
            self.update(1)
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def set_postfix(self, **values) -> None:
        self.postfix = ", ".join(f"{k} {v}" for k, v in values.items())

    def line(self) -> str:
        elapsed = time.monotonic() - self.start
        rate = self.n / elapsed if elapsed > 0 else 0.0
        done = (
            f"{self.n}/{self.total} ({100 * self.n / self.total:.0f}%)"
            if self.total
            else f"{self.n}"
        )
        left = (
            f", about {_duration((self.total - self.n) / rate)} left"
            if self.total and rate > 0 and self.n < self.total
            else f", {_duration(elapsed)}"
        )
        return f"{self.desc}: {done}, {rate:.2f} {self.unit}/s{left}" + (
            f" ({self.postfix})" if self.postfix else ""
        )

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            say(self.line())

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            say(self.line())


def progress_bar(iterable=None, total=None, desc: str = "", unit: str = "it", show: bool = True):
    """A progress display for ``iterable`` (or ``total`` steps fed by ``update``): a tqdm bar on a
    terminal, :class:`LogLines` elsewhere, nothing when ``show`` is false or progress is switched
    off."""
    if not enabled(show):
        return tqdm(iterable, total=total, desc=desc, unit=unit, disable=True)
    if sys.stderr.isatty():
        return tqdm(iterable, total=total, desc=desc, unit=unit)
    return LogLines(iterable, total, desc, unit, float(os.environ.get(INTERVAL_ENV, "30")))
