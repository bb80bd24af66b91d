"""Conditions -> pytest outcome: which targets fail, which skip, which pass.

By default a target whose path breaks the experiment (``*.connectivity.broken``) fails and
one that is unreachable either way (``*.connectivity.offline``) skips; ``--spider-fail-on``
and ``--spider-skip-on`` replace those globs, so a CI job states its own gate.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Iterable, Sequence
from typing import Literal

Verdict = Literal["pass", "fail", "skip"]


@dataclasses.dataclass(frozen=True)
class Judgement:
    """The verdict and, for fail/skip, the conditions and globs that decided it."""

    verdict: Verdict
    matched: tuple[str, ...] = ()
    globs: tuple[str, ...] = ()

    def message(self) -> str:
        """A one-line reason naming the conditions and the globs they matched."""
        return f"{', '.join(self.matched)} (matches {', '.join(self.globs)})"


def _matches(
    conditions: Iterable[str], globs: Sequence[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    hits = [(c, g) for c in conditions for g in globs if fnmatch.fnmatchcase(c, g)]
    return tuple(dict.fromkeys(c for c, _ in hits)), tuple(dict.fromkeys(g for _, g in hits))


def judge(conditions: Sequence[str], fail_on: Sequence[str], skip_on: Sequence[str]) -> Judgement:
    """Fail beats skip beats pass."""
    matched, used = _matches(conditions, fail_on)
    if matched:
        return Judgement("fail", matched, used)
    matched, used = _matches(conditions, skip_on)
    if matched:
        return Judgement("skip", matched, used)
    return Judgement("pass")
