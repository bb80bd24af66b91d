"""The spider session: one pytest run's targets, experiments, engine and outputs, wired together.

The plugin's hooks stay thin by delegating here; this is the only object that knows how
targets become cases, cases become engine tasks, and finished items become records.
"""

from __future__ import annotations

import dataclasses
import sys
import time
import types
from collections.abc import Hashable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_spider import __version__
from pytest_spider.campaign.compare import (
    Baseline,
    diff_baselines,
    format_conditions,
    load_baseline,
)
from pytest_spider.campaign.load import RecordFileError
from pytest_spider.campaign.records import key_of
from pytest_spider.collect import CASE_KEY, RECORDS_KEY, Case, experiment_location
from pytest_spider.engine import Engine, Outcome, Task
from pytest_spider.exclude import ExclusionFileError, ExclusionList
from pytest_spider.helpers import settings as helper_settings
from pytest_spider.measure import (
    ConnFunctionError,
    Outqueue,
    SequenceResult,
    run_sequence,
    utc_text,
)
from pytest_spider.options import SpiderSettings
from pytest_spider.record import (
    DISCARDED,
    EXCLUDED,
    UNADDRESSED,
    Record,
    build_record,
    to_builtin,
)
from pytest_spider.reporting import junit
from pytest_spider.reporting.ndjson import NdjsonWriter
from pytest_spider.reporting.summary import Summary
from pytest_spider.resume import recorded
from pytest_spider.runorder import run_order
from pytest_spider.spider import Spider, experiment_args
from pytest_spider.targets import Target, TargetFileError, TargetList, load_targets
from pytest_spider.verdict import judge
from pytest_spider.xdist import worker_share, worker_vantage

SESSION_KEY = pytest.StashKey["SpiderSession"]()
#: What a finished experiment item hands to the writing process.
Output = dict[str, Any]


@dataclasses.dataclass(slots=True)
class ItemRun:
    """What one item's run produced, from its setup until :meth:`SpiderSession.forget`.

    One stash entry rather than one per field: an item's stash dict never shrinks, and a
    few more keys per item made it grow for good, 28 MB over 10^5 items.
    """

    #: What the engine gave the item (kept for the record, whatever the item's outcome).
    outcome: Outcome[SequenceResult] | None = None
    #: The item's record, once combine_flows ran (completed with the outcome at teardown).
    record: Record | None = None
    #: Outcome and reason so far, phase by phase.
    result: tuple[str, str | None] | None = None
    #: Why a failing target passed anyway (it failed in the baseline too).
    note: str | None = None


RUN_KEY = pytest.StashKey[ItemRun]()


def item_run(item: pytest.Item) -> ItemRun:
    """The running item's :class:`ItemRun`, made on first use."""
    run = item.stash.get(RUN_KEY, None)
    if run is None:
        run = item.stash[RUN_KEY] = ItemRun()
    return run


#: How many bad target lines a usage error lists before it just counts.
BAD_LINES_SHOWN = 20
#: Seconds past its connections' timeouts after which a sequence counts as hung.
HANG_GRACE = 2.0


class SequenceHung(Exception):
    """A sequence ran far past its connections' timeouts (a conn_ function hangs)."""


class SpiderSession:
    """One run: targets x experiments, measured ahead by the engine, reported as records."""

    def __init__(self, config: pytest.Config, settings: SpiderSettings, writes: bool) -> None:
        self.config = config
        self.settings = settings
        #: This process writes records (False on xdist workers: the controller writes).
        self.writes = writes
        self.targets = TargetList(targets=[], bad=[], duplicates=0, formats={})
        self.exclusions: list[ExclusionList] = []
        self.summary = Summary()
        self.writer: NdjsonWriter | None = None
        self.engine: Engine[SequenceResult] | None = None
        self._instances: dict[type[Spider], Spider] = {}
        self._cases: dict[type[Spider], list[Case]] = {}
        self._conn_fixtures: set[str] = set()
        #: The previous campaign to gate against, and this run's conditions to compare.
        self.baseline: Baseline | None = None
        self._fresh = Baseline()
        self.started = time.time()
        #: The input was read and found good: the run measures (unless collect-only).
        self.loaded = False
        self.target_count = 0
        #: The engine knows up front what runs here (else: on demand, one item ahead).
        self.planned = False
        #: Keys of the planned measurements: the engine announces each when it finishes.
        self._measured: dict[Hashable, int] = {}
        #: Items the output already has records of (--spider-resume).
        self.done: set[tuple[str, str]] = set()
        #: Where this process measures from, recorded with every record.
        self.vantage = settings.vantage or self._default_vantage(config)

    @staticmethod
    def _default_vantage(config: pytest.Config) -> str:
        return worker_vantage(config) or "local"

    # -- input -----------------------------------------------------------------------------

    def load(self, stdin: Any = None, xdist_controller: bool = False) -> None:
        """Read target and exclusion lists; bad input stops the run unless told otherwise."""
        try:
            self.targets = load_targets(self.settings.targets, stdin or sys.stdin)
            self.exclusions = [ExclusionList.load(p) for p in self.settings.exclude]
        except (TargetFileError, ExclusionFileError, OSError) as exc:
            raise pytest.UsageError(str(exc)) from None
        self.target_count = len(self.targets.targets)
        bad = self.targets.bad
        if bad and not self.settings.keep_bad_targets:
            shown = "\n".join(f"  {line}" for line in bad[:BAD_LINES_SHOWN])
            more = len(bad) - BAD_LINES_SHOWN
            tail = f"\n  ... and {more} more" if more > 0 else ""
            raise pytest.UsageError(
                f"{len(bad)} bad target line(s); nothing was measured "
                f"(--spider-keep-bad-targets measures the rest):\n{shown}{tail}"
            )
        if self.settings.resume:
            if not self.settings.output:
                raise pytest.UsageError("--spider-resume needs --spider-output (the campaign file)")
            self.done = recorded(self.settings.output, repair=self.writes)
        if self.settings.report and not self.settings.output:
            raise pytest.UsageError("--spider-report needs --spider-output (the records it reads)")
        if self.settings.baseline:
            try:
                self.baseline = load_baseline(self.settings.baseline)
            except (RecordFileError, OSError) as exc:
                raise pytest.UsageError(f"--spider-baseline: {exc}") from None
        self.loaded = True
        if xdist_controller:
            # The controller measures nothing: it keeps the counts, not 10^6 targets.
            self.targets.targets = []
        helper_settings.configure(
            helper_settings.HelperSettings(
                tls_verify=self.settings.tls_verify,
                ca_file=self.settings.ca_file,
                max_body=self.settings.max_body,
            )
        )

    def already_recorded(self, items: list[pytest.Item]) -> list[pytest.Item]:
        """Items ``--spider-resume`` finds in the output (to deselect): records, not tests."""
        if not self.done:
            return []
        return [
            item
            for item in items
            if item.stash.get(RECORDS_KEY, False) and (item.nodeid, self.vantage) in self.done
        ]

    def check_connect_mode(self) -> None:
        """Refuse a ``--spider-connect`` mode that a collected experiment lacks, or all do."""
        mode = self.settings.connect
        if mode is None or not self._cases:
            return
        modal = [e for e in self._cases if e.connect_supported]
        lacking = [e for e in modal if mode not in e.connect_supported]
        if lacking or not modal:
            known = "; ".join(f"{e.name}: {', '.join(e.connect_supported)}" for e in modal)
            raise pytest.UsageError(
                f"--spider-connect={mode}: not a mode of "
                f"{', '.join(e.name for e in lacking) or 'any collected experiment'}"
                f" ({known or 'none has modes'})"
            )

    def instance(self, experiment: type[Spider]) -> Spider:
        """The one instance of ``experiment`` in this process (experiments hold no state)."""
        if experiment not in self._instances:
            mode = self.settings.connect if experiment.connect_supported else None
            extra = {"dns_server": self.settings.dns_server}
            args = experiment_args(experiment, self.settings.timeout, mode, extra)
            instance = experiment(args=args, source=(None, None))
            instance.outqueue = Outqueue()  # type: ignore[attr-defined]
            self._instances[experiment] = instance
        return self._instances[experiment]

    def _skip_reason(self, experiment: type[Spider], target: Target) -> str | None:
        if target.dip is None:
            if experiment.needs_address:
                return f"{UNADDRESSED} {target.label()} (names are never resolved here)"
            return None
        for exclusion in self.exclusions:
            entry = exclusion.match(target.dip)
            if entry is not None:
                return f"{EXCLUDED} {entry}"
        return None

    def cases(self, experiment: type[Spider]) -> list[Case]:
        """Every target of the campaign for ``experiment``, in input order (on an xdist
        worker under share scheduling, every target of its share)."""
        if experiment not in self._cases:
            targets = self.targets.targets
            share = worker_share(self.config)
            if share is not None:
                index, count = share
                targets = targets[index::count] if index < count else []
            self._cases[experiment] = [
                Case(experiment, t, self._skip_reason(experiment, t)) for t in targets
            ]
        return self._cases[experiment]

    def provide_conn_fixtures(self, experiments: Iterable[type[Spider]]) -> None:
        """Register a fixture per ``conn_*`` name that returns that connection's result."""
        for experiment in experiments:
            for name in experiment.connection_names():
                if name not in self._conn_fixtures:
                    self._conn_fixtures.add(name)
                    # A module object: pytest reads its fixtures as plain (unbound) functions.
                    holder = types.ModuleType(f"pytest_spider_conn_{name}")
                    setattr(holder, name, _conn_fixture(name))
                    self.config.pluginmanager.register(holder, name=f"pytest-spider:{name}")

    # -- measuring -------------------------------------------------------------------------

    def _task(self, case: Case, consumers: int = 1) -> Task[SequenceResult]:
        instance = self.instance(case.experiment)
        job = case.target.job
        return Task(case.key, lambda: run_sequence(instance, job()), consumers)

    def start(self, items: Sequence[pytest.Item], ahead: bool) -> None:
        """Start the engine; ``ahead``: ``items`` is what runs here, so measure ahead of it."""
        longest = max((len(c.experiment.connections) for c in self._all_cases(items)), default=1)
        self.engine = Engine(
            self.settings.concurrency,
            self.settings.lookahead,
            hang_after=longest * self.settings.timeout + max(HANG_GRACE, self.settings.timeout),
            rate=self._process_rate(),
        )
        if ahead:
            self.planned = True
            self.engine.plan(self._plan(items))
        # From here on the items hold what they measure; the lists of all of it can go.
        self._cases.clear()
        self.targets.targets = []

    def _process_rate(self) -> float | None:
        """This process's part of ``--spider-rate``: the workers share it evenly."""
        rate = self.settings.rate
        workers = int(getattr(self.config, "workerinput", {}).get("workercount", 1))
        return None if rate is None else rate / max(workers, 1)

    @staticmethod
    def _all_cases(items: Iterable[pytest.Item]) -> Iterable[Case]:
        return (item.stash[CASE_KEY] for item in items if CASE_KEY in item.stash)

    def _plan(self, items: Sequence[pytest.Item]) -> Iterable[Task[SequenceResult]]:
        consumers: dict[Hashable, int] = {}
        order: list[Case] = []
        for item in items:
            case = item.stash.get(CASE_KEY, None)
            if case is None or not _consumes(item, case):
                continue
            if case.key not in consumers:
                order.append(case)
                consumers[case.key] = 0
            consumers[case.key] += 1
        self._measured = consumers
        return (self._task(case, consumers[case.key]) for case in order)

    def run_order(
        self, items: Sequence[pytest.Item]
    ) -> Iterator[tuple[pytest.Item, pytest.Item | None]]:
        """``items`` in the order to run them, finished measurements first (see ``runorder``).
        Only for a planned engine: it announces the planned keys as they finish."""
        if self.engine is None or not self.planned:
            raise RuntimeError("the run order follows a planned engine; none is running")
        return run_order(
            items,
            key_of=_case_key,
            parent_of=lambda item: item.parent,
            measured=self._measured.__contains__,
            engine=self.engine,
            patience=self.engine.hang_after,
        )

    def prefetch(self, item: pytest.Item | None) -> None:
        """Without a plan (xdist's own scheduling), start the next item's sequence early."""
        case = None if item is None else item.stash.get(CASE_KEY, None)
        if self.planned or self.engine is None:
            return
        if case is not None and not case.skip_reason:
            self.engine.prefetch(self._task(case))

    def measure(self, item: pytest.Item) -> SequenceResult:
        """The finished sequence of ``item``'s case; raises what the sequence raised."""
        case = item.stash[CASE_KEY]
        if case.skip_reason:
            pytest.skip(case.skip_reason)
        if self.engine is None:
            raise RuntimeError("the measurement engine is not running")
        outcome = self.engine.take(case.key, self._task(case))
        item_run(item).outcome = outcome
        if outcome.hung_after is not None:
            raise SequenceHung(
                f"{case.experiment.__name__} still running after {outcome.hung_after:g} s "
                f"(timeout {self.settings.timeout:g} s per connection)"
            )
        if outcome.error is not None:
            raise outcome.error
        assert outcome.value is not None
        if outcome.value.discarded:
            pytest.skip(DISCARDED)
        return outcome.value

    def stop(self) -> None:
        """Measure nothing more (``-x``, ``--maxfail``, interrupted)."""
        if self.engine is not None:
            self.engine.stop()

    # -- outcomes --------------------------------------------------------------------------

    def record_of(self, item: pytest.Item, flows: list[dict[str, Any]]) -> Record:
        """Run ``combine_flows``, check it returned condition strings, build the record."""
        case = item.stash[CASE_KEY]
        conditions = self.instance(case.experiment).combine_flows(flows)
        if not isinstance(conditions, list | tuple) or not all(
            isinstance(c, str) for c in conditions
        ):
            raise TypeError(
                f"{case.experiment.__name__}.combine_flows must return a list of condition "
                f"strings, not {conditions!r}"
            )
        record = self._build(item, flows, conditions, "running", None)
        item_run(item).record = record
        return record

    def _build(
        self,
        item: pytest.Item,
        flows: list[dict[str, Any]],
        conditions: Sequence[str] | None,
        outcome: str,
        reason: str | None,
    ) -> Record:
        case = item.stash[CASE_KEY]
        return build_record(
            case.target.fields,
            flows,
            conditions,
            experiment=case.experiment.name,
            nodeid=item.nodeid,
            outcome=outcome,
            reason=reason,
            vantage=self.vantage,
        )

    def apply_verdict(self, item: pytest.Item, record: Record) -> None:
        """Fail or skip the running experiment item as its conditions (and baseline) say."""
        judgement = judge(record["conditions"], self.settings.fail_on, self.settings.skip_on)
        if judgement.verdict == "fail" and self.baseline is not None:
            key = key_of(record)
            if self.baseline.verdict(key, record["conditions"], self.settings.fail_on) == (
                "still_failing"
            ):
                old = format_conditions(self.baseline.lookup(key))
                item_run(item).note = f"still failing, as in the baseline ({old})"
                return
        if judgement.verdict == "pass":
            return
        errors = "; ".join(
            f"{flow.get('conn')}: {flow['error_class']}: {flow.get('error')}"
            for flow in record["flow_results"]
            if flow.get("error_class")
        )
        message = f"{judgement.message()}{'; ' if errors else ''}{errors}"
        if judgement.verdict == "fail":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)

    def note_phase(self, item: pytest.Item, report: pytest.TestReport, call: Any) -> None:
        """Fold one phase's report into the item's overall outcome and reason."""
        run = item_run(item)
        if report.passed:
            if run.result is None:
                run.result = ("passed", None)
            return
        if report.skipped:
            reason = str(getattr(call.excinfo.value, "msg", "")) if call.excinfo else None
            run.result = ("skipped", reason)
            _point_at_experiment(report, item)
            return
        reason = call.excinfo.exconly() if call.excinfo else None
        run.result = ("failed" if report.when == "call" else "error", reason)

    def output(self, item: pytest.Item) -> Output | None:
        """What an experiment item leaves behind, once its phases are done.

        Its record (none if the experiment discarded the target, as PATHspider drops such
        jobs) and the records its sequence emitted through ``outqueue``; plain builtins, as
        they may travel from an xdist worker to the controller.
        """
        if not item.stash.get(RECORDS_KEY, False):
            return None
        case = item.stash[CASE_KEY]
        run = item_run(item)
        outcome = run.outcome
        flows: list[dict[str, Any]] = []
        emitted: list[dict[str, Any]] = []
        if outcome is not None and outcome.value is not None:
            flows, emitted = outcome.value.flows, outcome.value.emitted
        elif outcome is not None and isinstance(outcome.error, ConnFunctionError):
            flows = outcome.error.flows
        discarded = outcome is not None and outcome.value is not None and outcome.value.discarded
        result, reason = run.result or ("error", "no outcome")
        if result == "passed":
            reason = run.note
        record = None
        if not discarded:
            record = run.record
            if record is None:
                record = self._build(item, flows, None, result, reason)
            record.update(outcome=result, reason=reason)
        extra = [
            to_builtin(
                {
                    **r,
                    "experiment": case.experiment.name,
                    "nodeid": item.nodeid,
                    "vantage": self.vantage,
                }
            )
            for r in emitted
        ]
        return {
            "experiment": case.experiment.name,
            "record": record,
            "emitted": extra,
            "discarded": discarded,
            "in_flight": self.engine.in_flight if self.engine is not None else 0,
        }

    def forget(self, item: pytest.Item) -> None:
        """A finished item lets its measurement go: pytest keeps items to the end of the run.

        One that never took its measurement (its setup failed first) still counts as a
        consumer of it, so it releases it here, or the engine would hold it forever.
        """
        case = item.stash.get(CASE_KEY, None)
        run = item.stash.get(RUN_KEY, None)
        took = run is not None and run.outcome is not None
        if self.engine is not None and case is not None and not took and _consumes(item, case):
            self.engine.release(case.key)
        if run is not None:
            del item.stash[RUN_KEY]

    def emit(self, report: pytest.TestReport, output: Output) -> None:
        """Write a finished item's records everywhere they go (writing process only)."""
        if not self.writes:
            return
        if self.writer is None and self.settings.output:
            self.writer = NdjsonWriter(self.settings.output, append=self.settings.resume)
        record = output["record"]
        if output["discarded"]:
            self.summary.add_discarded(str(output["experiment"]))
        if record is not None:
            junit.add_record(self.config, report, record)
            self.summary.add(record)
            if self.baseline is not None:
                self._fresh.add(record)
        for each in ([record] if record is not None else []) + output["emitted"]:
            if record is not each:
                self.summary.add_emitted(each)
            if self.writer is not None:
                self.writer.write(each)
            self.config.hook.pytest_spider_record(record=each, config=self.config)

    def summary_lines(self) -> Iterator[str]:
        """The end-of-run summary: conditions per experiment, then input and output facts."""
        if not self.settings.active:
            return
        yield from self.summary.lines()
        targets, summary = self.targets, self.summary
        formats = ", ".join(sorted(set(targets.formats.values())))
        yield (
            f"input: {self.target_count} targets ({formats}), {targets.duplicates} "
            f"duplicate(s) measured once, {len(targets.bad)} bad line(s), "
            f"{summary.excluded} excluded, {summary.unaddressed} without address, "
            f"{summary.discarded} discarded"
        )
        for line in targets.bad[:BAD_LINES_SHOWN]:
            yield f"  bad: {line}"
        if len(targets.bad) > BAD_LINES_SHOWN:
            yield f"  ... and {len(targets.bad) - BAD_LINES_SHOWN} more bad line(s)"
        if self.writer is not None:
            yield f"records: {self.writer.written} written to {self.writer.path}"
        if self.baseline is not None:
            comparison = diff_baselines(self.baseline, self._fresh, self.settings.fail_on)
            yield f"baseline {self.settings.baseline}:"
            yield from ("  " + line for line in comparison.format_table().splitlines())

    def metadata(self) -> Record:
        """The campaign's self-description, written as the output's last line."""
        targets = self.targets
        return {
            "spider_campaign": {
                "start": utc_text(self.started),
                "end": utc_text(time.time()),
                "duration": round(time.time() - self.started, 3),
                "resumed_past": len(self.done),
                "vantage": self.vantage,
                "version": __version__,
                "options": to_builtin(dataclasses.asdict(self.settings)),
                "counts": {
                    "targets": self.target_count,
                    "bad_input": len(targets.bad),
                    "duplicates": targets.duplicates,
                    "excluded": self.summary.excluded,
                    "unaddressed": self.summary.unaddressed,
                    "discarded": self.summary.discarded,
                    "outcomes": {e: dict(c) for e, c in self.summary.outcomes.items()},
                    "conditions": {e: dict(c) for e, c in self.summary.conditions.items()},
                },
            }
        }

    def close(self) -> None:
        """Stop the engine, finish the output (metadata line) and write the report."""
        if self.engine is not None:
            self.engine.close()
        measured = self.loaded and not self.config.option.collectonly
        if self.writer is None and self.writes and self.settings.output and measured:
            self.writer = NdjsonWriter(self.settings.output, append=self.settings.resume)
        if self.writer is not None:
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


_PACKAGE = Path(__file__).resolve().parent


def _point_at_experiment(report: pytest.TestReport, item: pytest.Item) -> None:
    """A skip pytest-spider raised (a verdict, an excluded target) is shown at the experiment
    class (``-rs``), not at the line of pytest-spider that raised it."""
    longrepr = report.longrepr
    case = item.stash.get(CASE_KEY, None)
    if case is None or not isinstance(longrepr, tuple) or len(longrepr) != 3:
        return
    if Path(longrepr[0]).resolve().is_relative_to(_PACKAGE):
        report.longrepr = (*experiment_location(case.experiment), longrepr[2])


def _case_key(item: pytest.Item) -> Hashable | None:
    case = item.stash.get(CASE_KEY, None)
    return None if case is None else case.key


def _consumes(item: pytest.Item, case: Case) -> bool:
    """The item takes its case's measurement from the engine (so the engine counts it)."""
    names: Sequence[str] = getattr(item, "fixturenames", ())
    return ("spider_flows" in names or "spider_verdict" in names) and not case.skip_reason


def _conn_fixture(name: str) -> Any:
    def conn(spider_flows: dict[str, dict[str, Any]]) -> dict[str, Any]:
        if name not in spider_flows:
            raise LookupError(f"{name} is not a connection of this item's experiment")
        return spider_flows[name]

    conn.__doc__ = f"The result of the ``{name}`` connection for this target."
    return pytest.fixture(name=name)(conn)
