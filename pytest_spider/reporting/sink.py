"""The record sink: where finished items' records go, in the one process that writes them.

Registered only in that process (the only one without pytest-xdist, the controller with it),
as pytest registers its ``LogXML`` only where it writes: records arrive on teardown reports
(from this process or from workers) and go to the ndjson output, to JUnit properties, to the
terminal summary and progress line, to the ``pytest_spider_record`` hook and, with a
baseline, into the comparison. At the end the output gets its metadata line and, if asked,
the HTML report is written.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Generator, Iterator
from typing import Any

import pytest

from pytest_spider import __version__, schema
from pytest_spider.campaign.compare import Baseline, diff_baselines
from pytest_spider.distributed import report_worker
from pytest_spider.inputs import Inputs
from pytest_spider.outcome import Output
from pytest_spider.record import Record, to_builtin
from pytest_spider.reporting import junit
from pytest_spider.reporting.ndjson import NdjsonWriter
from pytest_spider.reporting.progress import ProgressLine, quiet_status
from pytest_spider.reporting.summary import Summary

SINK_KEY = pytest.StashKey["RecordSink"]()


class RecordSink:
    """Writes, counts and hands on every record of the run (a pytest plugin object)."""

    def __init__(self, config: pytest.Config, inputs: Inputs) -> None:
        self.config = config
        self.inputs = inputs
        self.settings = inputs.settings
        self.summary = Summary()
        self.writer: NdjsonWriter | None = None
        self.progress: ProgressLine | None = None
        #: This run's conditions, to compare with the baseline at the end.
        self._fresh = Baseline() if inputs.baseline is not None else None
        self.started = time.time()

    # -- records ---------------------------------------------------------------------------

    def emit(self, report: pytest.TestReport, output: Output) -> None:
        """Write a finished item's records everywhere they go."""
        if self.writer is None and self.settings.output:
            self.writer = NdjsonWriter(self.settings.output, append=self.settings.resume)
        record = output["record"]
        if output["discarded"]:
            self.summary.add_discarded(str(output["experiment"]), str(output["vantage"]))
        if record is not None:
            junit.add_record(self.config, report, record)
            self.summary.add(record)
            if self._fresh is not None:
                self._fresh.add(record)
            self._hand_on(record)
        for each in output["emitted"]:
            self.summary.add(each, emitted=True)
            self._hand_on(each)

    def _hand_on(self, record: Record) -> None:
        if self.writer is not None:
            self.writer.write(record)
        self.config.hook.pytest_spider_record(record=record, config=self.config)

    # -- pytest hooks ----------------------------------------------------------------------

    def pytest_sessionstart(self, session: pytest.Session) -> None:
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
        """Emit records before junitxml reads the testcase's properties; then drop them from
        the report, which pytest keeps to the end of the run."""
        output = getattr(report, "spider_output", None)
        if output is not None:
            self.emit(report, output)
        if self.progress is not None and report.when == "teardown":
            in_flight = output.get("in_flight") if output else None
            self.progress.item_done(report_worker(report), in_flight)
        try:
            return (yield)
        finally:
            if output is not None:
                del report.spider_output

    def pytest_sessionfinish(self) -> None:
        if self.progress is not None:
            self.progress.finish()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        terminalreporter.write_sep("=", "spider summary")
        for line in self.summary_lines():
            terminalreporter.write_line(line)

    def pytest_unconfigure(self) -> None:
        self.close()

    # -- the end ---------------------------------------------------------------------------

    def summary_lines(self) -> Iterator[str]:
        """The end-of-run summary: conditions per experiment, then input and output facts."""
        yield from self.summary.lines()
        facts, tally = self.inputs.facts, self.summary.tally
        formats = ", ".join(sorted(set(facts.formats.values())))
        yield (
            f"input: {facts.targets} targets ({formats}), {facts.duplicates} "
            f"duplicate(s) measured once, {facts.bad} bad line(s), "
            f"{tally.unmeasured[schema.EXCLUDED]} excluded, "
            f"{tally.unmeasured[schema.NO_ADDRESS]} without address, "
            f"{self.summary.discarded.total()} discarded"
        )
        for line in facts.bad_shown:
            yield f"  bad: {line}"
        if facts.bad > len(facts.bad_shown):
            yield f"  ... and {facts.bad - len(facts.bad_shown)} more bad line(s)"
        if self.writer is not None:
            yield f"records: {self.writer.written} written to {self.writer.path}"
        baseline = self.inputs.baseline
        if baseline is not None and self._fresh is not None:
            comparison = diff_baselines(baseline, self._fresh, self.settings.fail_on)
            yield f"baseline {self.settings.baseline}:"
            yield from ("  " + line for line in comparison.format_table().splitlines())

    def metadata(self) -> Record:
        """The campaign's self-description, written as the output's last line."""
        facts = self.inputs.facts
        now = time.time()
        counts = {
            "targets": facts.targets,
            "bad_input": facts.bad,
            "duplicates": facts.duplicates,
            **self.summary.counts(),
        }
        return {
            schema.CAMPAIGN: {
                "start": schema.utc_text(self.started),
                "end": schema.utc_text(now),
                "duration": round(now - self.started, 3),
                "resumed_past": len(self.inputs.recorded),
                "vantage": self.inputs.vantage,
                "version": __version__,
                "options": to_builtin(dataclasses.asdict(self.settings)),
                "counts": counts,
            }
        }

    def close(self) -> None:
        """Finish the output (metadata line) and write the report."""
        if self.writer is None and self.settings.output and not self.config.option.collectonly:
            self.writer = NdjsonWriter(self.settings.output, append=self.settings.resume)
        if self.writer is None:
            return
        self.writer.write(self.metadata())
        self.writer.close()
        if self.settings.report:
            from pytest_spider.campaign.report import write_report

            write_report(
                [self.writer.path],
                self.settings.report,
                baseline_paths=[self.settings.baseline] if self.settings.baseline else (),
                fail_globs=self.settings.fail_on,
            )
