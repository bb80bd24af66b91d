"""Conditions -> pytest outcome: which targets fail, which skip, which pass.

By default a target whose path breaks the experiment (``*.connectivity.broken``) fails and
one that is unreachable either way (``*.connectivity.offline``) skips; ``--spider-fail-on``
and ``--spider-skip-on`` replace those globs, so a CI job states its own gate. With a baseline
(``--spider-baseline``) only a regression fails: a target that failed there too passes, with a
note saying so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

from pytest_spider import schema
from pytest_spider.campaign.compare import STILL_FAILING, Baseline, format_conditions

Verdict = Literal["pass", "fail", "skip"]


@dataclasses.dataclass(frozen=True)
class Judgement:
    """The verdict and, for fail/skip, the conditions and globs that decided it; ``note`` says
    why a failing target passes anyway."""

    verdict: Verdict
    matched: tuple[str, ...] = ()
    globs: tuple[str, ...] = ()
    note: str | None = None

    def message(self) -> str:
        """A one-line reason naming the conditions and the globs they matched."""
        return f"{', '.join(self.matched)} (matches {', '.join(self.globs)})"


def judge(conditions: Sequence[str], fail_on: Sequence[str], skip_on: Sequence[str]) -> Judgement:
    """Fail beats skip beats pass."""
    matched, used = schema.matching(conditions, fail_on)
    if matched:
        return Judgement("fail", matched, used)
    matched, used = schema.matching(conditions, skip_on)
    if matched:
        return Judgement("skip", matched, used)
    return Judgement("pass")


def judge_against(
    key: schema.Key,
    conditions: Sequence[str],
    fail_on: Sequence[str],
    skip_on: Sequence[str],
    baseline: Baseline | None,
) -> Judgement:
    """:func:`judge`, except that a failure the baseline had too passes with a note."""
    judgement = judge(conditions, fail_on, skip_on)
    if judgement.verdict != "fail" or baseline is None:
        return judgement
    if baseline.verdict(key, conditions, fail_on) != STILL_FAILING:
        return judgement
    old = format_conditions(baseline.lookup(key))
    return Judgement("pass", note=f"still failing, as in the baseline ({old})")
