"""Run summaries: every skipped or repaired input is logged once and grouped by its kind (a
reason reads ``kind: detail``, e.g. ``unreadable photo: truncated JPEG``)."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

log = logging.getLogger("livematch")


@dataclass(frozen=True)
class Skipped:
    """One bad input: the file, what is wrong with it, and what was done (``skipped``, ``clipped``,
    ``kept``)."""

    path: str
    reason: str
    action: str = "skipped"

    @property
    def kind(self) -> str:
        """What went wrong, without the instance's details (the reason before its first colon)."""
        return self.reason.split(":")[0]


@dataclass
class RunSummary:
    """Counts of what was loaded or processed, and every bad input met on the way."""

    counts: Counter = field(default_factory=Counter)
    issues: list[Skipped] = field(default_factory=list)

    def warn(self, path, reason: str, action: str = "skipped") -> None:
        """Record one bad input and log it as a warning naming the file."""
        self.issues.append(Skipped(str(path), reason, action))
        log.warning("%s: %s (%s)", path, reason, action)

    def by_reason(self) -> Counter:
        """How many inputs were hit by each kind of problem."""
        return Counter(i.kind for i in self.issues)

    def grouped(self) -> dict[str, list[dict]]:
        """Each kind of problem (most frequent first) with its instances listed under it."""
        groups: dict[str, list[dict]] = {kind: [] for kind, _ in self.by_reason().most_common()}
        for i in self.issues:
            groups[i.kind].append(vars(i))
        return groups

    def merge(self, other: RunSummary) -> None:
        self.counts.update(other.counts)
        self.issues.extend(other.issues)

    def to_dict(self) -> dict:
        return {"counts": dict(self.counts), "issues_by_reason": self.grouped()}

    def format(self, title: str = "summary", max_issues: int = 20) -> str:
        """A short human-readable table of counts and issues."""
        lines = [title]
        lines += [f"  {k:<24} {v:>8}" for k, v in self.counts.items()]
        if self.issues:
            lines.append(f"  {len(self.issues)} bad input(s):")
            lines += [f"    {n:>5}  {r}" for r, n in self.by_reason().most_common()]
            lines += [f"    - {i.path}: {i.reason} ({i.action})" for i in self.issues[:max_issues]]
            if len(self.issues) > max_issues:
                lines.append(f"    ... and {len(self.issues) - max_issues} more")
        else:
            lines.append("  no bad input")
        return "\n".join(lines)
