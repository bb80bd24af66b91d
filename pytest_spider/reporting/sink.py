"""The record sink: where finished items' records go, in the one process that writes them.

Registered only in that process (the only one without pytest-xdist, the controller with it),
as pytest registers its ``LogXML`` only where it writes: records arrive on teardown reports
(from this process or from workers) and go to the ndjson output, to JUnit, to the terminal
summary and progress line, to the ``pytest_spider_record`` hook and, with a baseline, into the
comparison.

The output is opened, and the campaign's metadata file written with this session's entry,
at configure time, before anything is measured: a file that cannot be written is a usage
error there, and a process that dies later still leaves both. The metadata entry is brought
up to date as the run learns its experiments and at the end (``end`` stays null for a session
that was killed). A write that fails mid-run (disk full) stops the run: every whole record
stays, and the summary says how to go on (``--spider-resume``). At the end, if asked, the
HTML report is written.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_spider import __version__, distributed, schema
from pytest_spider.campaign.compare import Baseline, diff_baselines
from pytest_spider.cases import CASEBOOK_KEY
from pytest_spider.distributed import _xdist, report_worker
from pytest_spider.inputs import Inputs
from pytest_spider.outcome import Output
from pytest_spider.record import Record, to_builtin
from pytest_spider.reporting import junit
from pytest_spider.reporting.ndjson import (
    NdjsonWriter,
    OutputError,
    check_writable,
    write_metadata,
)
from pytest_spider.reporting.progress import ProgressLine, quiet_status
from pytest_spider.reporting.summary import Summary

SINK_KEY = pytest.StashKey["RecordSink"]()


class RecordSink:
    """Writes, counts and hands on every record of the run (a pytest plugin object)."""

    def __init__(self, config: pytest.Config, inputs: Inputs) -> None:
        self.config = config
        self.inputs = inputs
        self.settings = inputs.settings
        # Several vantage points report to one sink only under --dist each.
        each = config.getoption("dist", "no") == "each" and distributed.will_distribute(config)
        self.summary = Summary(self.settings.fail_on, vantages=each)
        self.writer: NdjsonWriter | None = None
        self.progress: ProgressLine | None = None
        #: This run's conditions, to compare with the baseline at the end.
        self._fresh = Baseline() if inputs.baseline is not None else None
        self.started = time.time()
        self.session: pytest.Session | None = None
        #: Experiments and vantage points of this session (as collected, and as records say).
        self.experiments: set[str] = set()
        self.vantages: set[str] = set()
        #: Why the output stopped taking records; why the metadata could not be brought up
        #: to date.
        self.output_error: str | None = None
        self.metadata_error: str | None = None
        self._finished = False
        output = self.settings.output
        self.metadata_path = (
            schema.metadata_path(output, self.settings.metadata) if output else None
        )
        if output and not config.option.collectonly:
            self._open(output)

    def _open(self, output: str) -> None:
        """Open the output and write this session's metadata entry; a usage error if either
        cannot be written."""
        assert self.metadata_path is not None
        try:
            check_writable(Path(self.metadata_path), "--spider-metadata")
            self.writer = NdjsonWriter(output, append=self.settings.resume, what="--spider-output")
            self._write_metadata()
        except OutputError as exc:
            if self.writer is not None:
                self.writer.close()
                self.writer = None
            raise pytest.UsageError(str(exc)) from None

    # -- records ---------------------------------------------------------------------------

    def emit(self, report: pytest.TestReport, output: Output) -> None:
        """Write a finished item's records everywhere they go."""
        record = output["record"]
        if output["discarded"]:
            self.summary.add_discarded(str(output["experiment"]), str(output["vantage"]))
        self._learn(str(output["experiment"]), str(output["vantage"]))
        if record is not None:
            junit.add_record(self.config, report, record)
            self.summary.add(record)
            if self._fresh is not None:
                self._fresh.add(record)
            self._hand_on(record)
        for each in output["emitted"]:
            self.summary.add(each, emitted=True)
            self._hand_on(each)

    def _learn(self, experiment: str, vantage: str) -> None:
        """Note an experiment and vantage point; the metadata says them as soon as known."""
        if experiment in self.experiments and vantage in self.vantages:
            return
        self.experiments.add(experiment)
        self.vantages.add(vantage)
        self._refresh_metadata()

    def _hand_on(self, record: Record) -> None:
        if self.writer is not None and self.output_error is None:
            try:
                self.writer.write(record)
            except OutputError as exc:
                self._stop(str(exc))
        self.config.hook.pytest_spider_record(record=record, config=self.config)

    def _stop(self, error: str) -> None:
        """Writing failed: stop measuring (here, or on the xdist controller) and say how to
        go on."""
        assert self.writer is not None
        fix = "Free space" if "disk full" in error else "Mend that"
        self.output_error = (
            f"{error}: stopped; the {self.writer.written} whole record(s) written are kept. "
            f"{fix}, then run the same command with --spider-resume to measure the rest"
        )
        if self.session is not None:
            self.session.shouldstop = self.output_error
        _xdist.stop_distributing(self.config, self.output_error)

    # -- pytest hooks ----------------------------------------------------------------------

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.session = session
        self.progress = ProgressLine.for_config(session.config)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self.progress is not None:
            self.progress.total = len(session.items)
        book = session.config.stash.get(CASEBOOK_KEY, None)
        if book is not None and book.experiments:
            self.experiments.update(experiment.name for experiment in book.experiments)
            self.vantages.add(self.inputs.vantage)
            self._refresh_metadata()

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
        vantage = getattr(report, "spider_vantage", None)
        if isinstance(vantage, str) and vantage != schema.DEFAULT_VANTAGE:
            junit.name_vantage(self.config, report, vantage)
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

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.progress is not None:
            self.progress.finish()
        # Refused (e.g. resumed with other experiments) before any record: this session
        # leaves the campaign's metadata as it found it.
        refused = exitstatus == pytest.ExitCode.USAGE_ERROR and not self.summary.tally.records
        self._finish(keep_session=not refused)

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
        output = self.settings.output
        more = (
            f": python -m pytest_spider diff --across-vantages {output} lists them all"
            if output
            else " (--spider-output keeps them)"
        )
        yield from self.summary.vantage_lines(more)
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
        if self.output_error is not None:
            yield f"OUTPUT ERROR: {self.output_error}"
        if self.metadata_error is not None:
            yield f"metadata not brought up to date: {self.metadata_error}"
        baseline = self.inputs.baseline
        if baseline is not None and self._fresh is not None:
            comparison = diff_baselines(baseline, self._fresh, self.settings.fail_on)
            yield f"baseline {self.settings.baseline}:"
            yield from ("  " + line for line in comparison.format_table().splitlines())

    def metadata(self, finished: bool = False) -> Record:
        """This session's entry in the campaign's metadata (``end`` null while it runs)."""
        facts = self.inputs.facts
        now = time.time()
        counts = {
            "targets": facts.targets,
            "bad_input": facts.bad,
            "duplicates": facts.duplicates,
            **self.summary.counts(),
        }
        entry: Record = {
            "start": schema.utc_text(self.started),
            "end": schema.utc_text(now) if finished else None,
            "duration": round(now - self.started, 3) if finished else None,
            "resumed_past": len(self.inputs.recorded),
            "experiments": sorted(self.experiments),
            "vantages": sorted(self.vantages),
            "version": __version__,
            "options": to_builtin(dataclasses.asdict(self.settings)),
            "counts": counts,
        }
        if self.output_error is not None:
            entry["output_error"] = self.output_error
        return entry

    def _write_metadata(self, finished: bool = False, keep_session: bool = True) -> None:
        """Write the campaign's metadata: the resumed sessions, then this one's entry."""
        assert self.metadata_path is not None and self.settings.output is not None
        sessions = [dict(s) for s in self.inputs.sessions] if self.settings.resume else []
        if keep_session:
            sessions.append(self.metadata(finished))
        write_metadata(self.metadata_path, self.settings.output, sessions)

    def _refresh_metadata(self) -> None:
        if self.writer is None or self._finished:
            return
        try:
            self._write_metadata()
        except OutputError as exc:
            self.metadata_error = str(exc)

    def _finish(self, keep_session: bool = True) -> None:
        """Close the output and write the metadata's final entry (once)."""
        if self._finished or self.writer is None:
            return
        self._finished = True
        self.writer.close()
        try:
            self._write_metadata(finished=True, keep_session=keep_session)
        except OutputError as exc:
            self.metadata_error = str(exc)

    def close(self) -> None:
        """Finish the output and the metadata (if the session did not), write the report."""
        if self.writer is None:
            return
        self._finish()
        if self.settings.report and self.output_error is None:
            from pytest_spider.campaign.load import RecordFileError
            from pytest_spider.campaign.report import write_report

            try:
                write_report(
                    [self.writer.path],
                    self.settings.report,
                    baseline_paths=[self.settings.baseline] if self.settings.baseline else (),
                    fail_globs=self.settings.fail_on,
                    metadata_paths=[self.metadata_path] if self.metadata_path else None,
                )
            except (OSError, RecordFileError) as exc:
                sys.stderr.write(f"ERROR: --spider-report {self.settings.report}: {exc}\n")
        self.writer = None
