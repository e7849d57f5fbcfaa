"""When progress bars show: asked for, not switched off (``livematch --no-progress`` sets
``LIVEMATCH_NO_PROGRESS``), and stderr is a terminal (Docker logs and pipes get no carriage-return
spam; tqdm's ``disable=None`` is its own terminal test)."""
from __future__ import annotations

import os

ENV = "LIVEMATCH_NO_PROGRESS"


def bar_disabled(progress: bool) -> bool | None:
    """tqdm's ``disable=``: ``True`` (off) or ``None`` (on when stderr is a terminal)."""
    return True if not progress or os.environ.get(ENV, "") not in ("", "0") else None
