"""One item's outcome: its phases folded into passed/failed/skipped/error, its record, and
what it hands to the process that writes records.

Plain functions over the item's :class:`ItemRun` (one stash entry per running item): the
fixtures fill it while the item runs, ``pytest_runtest_makereport`` folds each phase in, and
at teardown :func:`output` turns it into plain builtins that may travel from an xdist worker.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import pytest

from pytest_spider import schema
from pytest_spider.cases import Case, case_of, is_experiment_item
from pytest_spider.engine import Outcome
from pytest_spider.measure import ConnFunctionError, SequenceResult
from pytest_spider.record import Record, build_record, to_builtin, trial_entry
from pytest_spider.spider import FlowResult, Spider
from pytest_spider.trials import super_conditions

#: The skip reason of a target whose experiment dropped it (PATHspider's CONN_DISCARD).
DISCARDED: Final = "discarded by the experiment (CONN_DISCARD)"
#: What a finished experiment item hands to the writing process.
Output = dict[str, Any]


@dataclasses.dataclass(slots=True)
class ItemRun:
    """What one item's run produced, from its setup until :func:`forget`.

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


def forget(item: pytest.Item) -> ItemRun | None:
    """Drop the item's run state (pytest keeps items to the end of the run); returns it."""
    run = item.stash.get(RUN_KEY, None)
    if run is not None:
        del item.stash[RUN_KEY]
    return run


def record_of(
    item: pytest.Item,
    case: Case,
    instance: Spider,
    flows: list[FlowResult],
    vantage: str,
    trials: Sequence[list[FlowResult]] = (),
) -> Record:
    """Run ``combine_flows``, check it returned condition strings, build the item's record.

    ``trials``: every trial's flows of a target measured more than once; ``combine_flows``
    then runs per trial, and the record's conditions are the super-conditions."""
    if not trials:
        record = _build(
            item, case, flows, _combine(case, instance, flows), "running", None, vantage
        )
    else:
        each = [_combine(case, instance, trial) for trial in trials]
        entries = [trial_entry(c, f) for c, f in zip(each, trials, strict=True)]
        conditions = super_conditions(case.experiment.name, each)
        record = _build(item, case, flows, conditions, "running", None, vantage, entries)
    run = item_run(item)
    _add_locate(record, run)
    run.record = record
    return record


def _combine(case: Case, instance: Spider, flows: list[FlowResult]) -> list[str]:
    conditions = instance.combine_flows(flows)
    if not isinstance(conditions, list | tuple) or not all(isinstance(c, str) for c in conditions):
        raise TypeError(
            f"{case.experiment.__name__}.combine_flows must return a list of condition "
            f"strings, not {conditions!r}"
        )
    return list(conditions)


def _add_locate(record: Record, run: ItemRun) -> None:
    """Where the path breaks, where ``--spider-locate`` looked (a failing target)."""
    outcome = run.outcome
    if outcome is not None and outcome.value is not None and outcome.value.locate is not None:
        record[schema.LOCATE] = outcome.value.locate


def _build(
    item: pytest.Item,
    case: Case,
    flows: Sequence[FlowResult],
    conditions: Sequence[str] | None,
    outcome: str,
    reason: str | None,
    vantage: str,
    trials: Sequence[Record] = (),
) -> Record:
    return build_record(
        case.target.fields,
        flows,
        conditions,
        experiment=case.experiment.name,
        nodeid=item.nodeid,
        outcome=outcome,
        reason=reason,
        vantage=vantage,
        unmeasured=case.unmeasured.kind if case.unmeasured is not None else None,
        connections=len(case.experiment.connections),
        trials=trials,
    )


def note_phase(item: pytest.Item, report: pytest.TestReport, call: Any) -> None:
    """Fold one phase's report into the item's overall outcome and reason."""
    run = item_run(item)
    if report.passed:
        if run.result is None:
            run.result = (schema.PASSED, None)
        return
    if report.skipped:
        reason = str(getattr(call.excinfo.value, "msg", "")) if call.excinfo else None
        run.result = (schema.SKIPPED, reason)
        _point_at_experiment(report, item)
        return
    reason = call.excinfo.exconly() if call.excinfo else None
    run.result = (schema.FAILED if report.when == "call" else schema.ERROR, reason)


def output(item: pytest.Item, vantage: str, in_flight: int) -> Output | None:
    """What an experiment item leaves behind once its phases are done (None for other items).

    Its record (none if the experiment discarded the target, as PATHspider drops such jobs)
    and the records its sequence emitted through ``outqueue``; plain builtins, as they may
    travel from an xdist worker to the controller.
    """
    case = case_of(item)
    if case is None or not is_experiment_item(item):
        return None
    run = item_run(item)
    outcome = run.outcome
    flows: list[FlowResult] = []
    emitted: list[dict[str, Any]] = []
    if outcome is not None and outcome.value is not None:
        flows, emitted = outcome.value.flows, outcome.value.emitted
    elif outcome is not None and isinstance(outcome.error, ConnFunctionError):
        flows = outcome.error.flows
    discarded = outcome is not None and outcome.value is not None and outcome.value.discarded
    result, reason = run.result or (schema.ERROR, "no outcome")
    if result == schema.PASSED:
        reason = run.note
    record = None
    if not discarded:
        record = run.record
        if record is None:
            record = _build(item, case, flows, None, result, reason, vantage)
            _add_locate(record, run)
        record.update(outcome=result, reason=reason)
    target = case.target
    source = [target.dip, target.dp, target.domain]
    extra = [
        to_builtin(
            {
                **_fresh_fields(each, target.fields),
                schema.EXPERIMENT: case.experiment.name,
                schema.NODEID: item.nodeid,
                schema.VANTAGE: vantage,
                schema.EMITTED_BY: source,
            }
        )
        for each in emitted
    ]
    return {
        "experiment": case.experiment.name,
        "record": record,
        "emitted": extra,
        "discarded": discarded,
        "vantage": vantage,
        "in_flight": in_flight,
    }


def _fresh_fields(emitted: dict[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """An emitted record (a copy of the job, as dnsresolv makes them) less what an earlier
    campaign's measurement wrote into the input: such a field is dropped where the experiment
    left it as read. Conditions stay: an experiment that emits records sets them, and may set
    the same ones again."""
    return {
        name: value
        for name, value in emitted.items()
        if name not in _STALE or name not in fields or value != fields[name]
    }


_STALE: Final = schema.MEASURED_FIELDS - {schema.CONDITIONS}


_PACKAGE = Path(__file__).resolve().parent


def _point_at_experiment(report: pytest.TestReport, item: pytest.Item) -> None:
    """A skip pytest-spider raised (a verdict, an excluded target) is shown at the experiment
    class (``-rs``), not at the line of pytest-spider that raised it."""
    longrepr = report.longrepr
    if case_of(item) is None or not isinstance(longrepr, tuple) or len(longrepr) != 3:
        return
    if Path(longrepr[0]).resolve().is_relative_to(_PACKAGE):
        lineno = item.location[1]  # the experiment class's line (0-based)
        report.longrepr = (str(item.path), (lineno or 0) + 1, longrepr[2])
