"""Keeping pytest's store of reports small in a campaign of 10^5 to 10^6 items.

pytest's terminal reporter keeps every report of a run to the end: three per item, most of a
large campaign's memory. What is kept depends on what will be shown:

- on an xdist worker, nothing: its terminal summary is never shown;
- with ``--durations`` or ``-rA``/``-rP``, everything: those read the reports back;
- otherwise, the passed setup and teardown reports (filed under "" and never shown) are let
  go, and each passed call report is replaced by one shared stand-in that still counts
  towards "N passed".

Reports of other items are never touched.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest


class _Passed:
    """Stands in for a passed report in pytest's count; shows nothing else."""

    count_towards_summary = True
    outcome = "passed"
    when = "call"


PASSED = _Passed()


class LeanReports:
    """Applies the policy above to each finished spider report (a pytest plugin object,
    registered in every process of a campaign)."""

    def __init__(self, config: pytest.Config, worker: bool) -> None:
        self.config = config
        self.worker = worker
        chars = str(getattr(config.option, "reportchars", "") or "")
        durations = config.getoption("durations", None) is not None
        self.everything = durations or bool(set(chars) & set("AP"))

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> Generator[None, None, None]:
        try:
            return (yield)
        finally:
            if "spider" in report.keywords:
                self.forget(report)

    def forget(self, report: pytest.TestReport) -> None:
        """Called once pytest's own hooks have seen ``report``."""
        report.keywords = {}
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        stats: dict[str, list[Any]] = getattr(terminal, "stats", {})
        if self.worker:
            for filed in stats.values():
                if filed and filed[-1] is report:
                    filed.pop()
            return
        if self.everything:
            return
        unshown = stats.get("")
        if unshown and unshown[-1] is report:
            unshown.pop()
        passed = stats.get("passed")
        if passed and passed[-1] is report:
            passed[-1] = PASSED
