"""The hooks that turn finished items into output: records, progress, summary.

Kept out of ``plugin.py`` (which only wires) because they hold per-run state: the session,
the progress line and the report-trimming policy.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from pytest_spider import xdist
from pytest_spider.reporting.lean import LeanReports
from pytest_spider.reporting.progress import ProgressLine, quiet_status
from pytest_spider.session import SpiderSession


class ReportingHooks:
    """The run's reporting hooks, registered once per process with its spider session.

    Records are emitted where they are written (the only process, or the xdist controller);
    every process keeps its report store lean; the progress line and the summary are drawn
    where pytest's own terminal output is shown.
    """

    def __init__(self, spider: SpiderSession) -> None:
        self.spider = spider
        self.progress: ProgressLine | None = None
        self.lean = LeanReports(spider.config, xdist.is_worker(spider.config))

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self.spider.settings.active and self.spider.writes:
            self.progress = ProgressLine.for_config(session.config)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self.progress is not None:
            self.progress.total = len(session.items)

    def count_collected(self, items: int, adds: bool) -> None:
        """A worker's collection (controller): it ``adds`` to the total (a vantage's or a
        share's), or is the whole of it (load scheduling: every worker collects everything)."""
        if self.progress is not None and (adds or not self.progress.total):
            self.progress.total += items

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report: pytest.TestReport) -> tuple[str, str, str] | None:
        """With the progress line, spider items print no letter of their own."""
        if self.progress is not None and "spider" in report.keywords:
            return quiet_status(report)
        return None

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> Generator[None, None, None]:
        """Emit records before junitxml reads the testcase's properties; then drop them.

        pytest keeps every report until the end of the run; without its record, a report of
        a million-target campaign stays small.
        """
        output = getattr(report, "spider_output", None)
        if output is not None:
            self.spider.emit(report, output)
        if self.progress is not None and report.when == "teardown":
            in_flight = output.get("in_flight") if output else None
            self.progress.item_done(xdist.report_worker(report), in_flight)
        try:
            return (yield)
        finally:
            if output is not None:
                del report.spider_output
            if "spider" in report.keywords:
                self.lean.forget(report)

    def pytest_keyboard_interrupt(self) -> None:
        self.spider.stop()

    def pytest_sessionfinish(self) -> None:
        if self.progress is not None:
            self.progress.finish()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        lines = list(self.spider.summary_lines())
        if lines:
            terminalreporter.write_sep("=", "spider summary")
            for line in lines:
                terminalreporter.write_line(line)

    def pytest_unconfigure(self) -> None:
        self.spider.close()
