"""The "Did you mean ...?" hint of unknown-name errors (one rule for every registry)."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["did_you_mean"]


def _distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance: edits, with a swap of neighbours as one edit
    (``adma`` is one edit from ``adam``)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def did_you_mean(name: str, valid: Iterable[str]) -> str:
    """`` Did you mean 'x'?`` for the valid name fewest edits away (at most a third of its
    length, at least 1; ties go to the first in ``valid``), or ``""``."""
    key = str(name).lower()
    best, best_d = None, None
    for v in valid:
        d = _distance(key, v.lower())
        if d <= max(1, len(v) // 3) and (best_d is None or d < best_d):
            best, best_d = v, d
    return f" Did you mean {best!r}?" if best is not None else ""
