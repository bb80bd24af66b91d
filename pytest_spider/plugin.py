"""pytest hooks only: declare options, build each role's object where it belongs, delegate.

The pipeline, one module per stage: target lists (``targets``, ``exclude``, read by
``inputs``) -> cases and items (``cases``, ``collect``) -> the measurer (``measurer``: the
``engine`` running ``measure`` sequences ahead of the items, in ``runorder``) -> conn_
fixtures (``fixtures``) -> ``combine_flows`` -> conditions -> verdict (``verdict``) -> the
item's outcome and record (``outcome``, ``record``, fields in ``schema``) -> the record sink
(``reporting.sink``: ndjson, JUnit, summary, the ``pytest_spider_record`` hook).

Which objects exist depends on the process, as in pytest-xdist: every process has the
:class:`~pytest_spider.inputs.Inputs` and reports lean; a process that collects has the
:class:`~pytest_spider.cases.CaseBook`; one that runs items has a
:class:`~pytest_spider.measurer.Measurer`; only the writing process (no xdist, or the xdist
controller) has the :class:`~pytest_spider.reporting.sink.RecordSink`.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_spider import (
    collect,
    distributed,
    fixtures,
    heap,
    hookspec,
    openfiles,
    options,
    outcome,
    schema,
)
from pytest_spider.cases import CASEBOOK_KEY, CaseBook, case_of, is_experiment_item
from pytest_spider.distributed import worker
from pytest_spider.distributed.wire import ReportWire
from pytest_spider.fixtures import ItemCase
from pytest_spider.helpers import settings as helper_settings
from pytest_spider.inputs import INPUTS_KEY, load_inputs, read_stdin
from pytest_spider.measurer import MEASURER_KEY, Measurer
from pytest_spider.options import SpiderSettings
from pytest_spider.protocol import LEAN_KEY, LeanProtocol
from pytest_spider.reporting.lean import LeanReports
from pytest_spider.reporting.sink import SINK_KEY, RecordSink
from pytest_spider.runorder import run_items


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspec)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "spider: a target x experiment measurement item")
    config.pluginmanager.register(fixtures, "pytest-spider-fixtures")
    settings = options.SpiderSettings.from_config(config)
    if not settings.active:
        if settings.experiments:
            raise pytest.UsageError("--spider-experiment needs --spider-targets")
        return
    if config.option.help or config.option.version:
        return
    settings = _fit_open_files(config, settings)
    config.pluginmanager.register(heap.Refreezer(), "pytest-spider-heap")
    stdin_text = None
    if "-" in settings.targets:
        stdin_text = distributed.worker_stdin(config)
        if stdin_text is None:
            stdin_text = read_stdin(config)
    writes = not distributed.is_worker(config)
    vantage = settings.vantage or distributed.worker_vantage(config) or schema.DEFAULT_VANTAGE
    inputs, targets = load_inputs(settings, vantage, stdin_text, writes)
    config.stash[INPUTS_KEY] = inputs
    # The xdist controller collects nothing: it keeps the counts, not 10^6 targets.
    controller = distributed.will_distribute(config)
    book = CaseBook(
        [] if controller else targets, inputs.exclusions, settings, distributed.worker_share(config)
    )
    config.stash[CASEBOOK_KEY] = book
    config.stash[LEAN_KEY] = LeanProtocol(config, lambda item: ItemCase.of_item(item).verdict())
    config.pluginmanager.register(LeanReports(config, not writes), "pytest-spider-lean")
    if controller or distributed.controller_reads_json(config):
        config.pluginmanager.register(ReportWire(), "pytest-spider-wire")
    helper_settings.configure(
        helper_settings.HelperSettings(
            tls_verify=settings.tls_verify, ca_file=settings.ca_file, max_body=settings.max_body
        )
    )
    if not writes:
        return
    sink = RecordSink(config, inputs)
    config.stash[SINK_KEY] = sink
    config.pluginmanager.register(sink, "pytest-spider-sink")
    if config.pluginmanager.hasplugin("xdist"):
        from pytest_spider.distributed.controller import ControllerPlugin

        plugin = ControllerPlugin(
            config, settings.dist == "share", stdin_text, sink.count_collected
        )
        config.pluginmanager.register(plugin, "pytest-spider-xdist")


def _fit_open_files(config: pytest.Config, settings: SpiderSettings) -> SpiderSettings:
    """The settings with a concurrency this process can open sockets for (``openfiles``)."""
    fitted = openfiles.fit(settings.concurrency)
    if fitted == settings.concurrency:
        return settings
    config.issue_config_time_warning(
        pytest.PytestConfigWarning(
            f"--spider-concurrency {settings.concurrency} lowered to {fitted}: "
            f"{settings.concurrency} would need up to {openfiles.needed(settings.concurrency)} "
            "open files, more than this process may open (raise its hard limit: ulimit -Hn)"
        ),
        stacklevel=2,
    )
    return dataclasses.replace(settings, concurrency=fitted)


def _measuring(config: pytest.Config) -> bool:
    return INPUTS_KEY in config.stash


def _is_python_test_file(path: Path, config: pytest.Config) -> bool:
    return any(fnmatch.fnmatch(path.name, pattern) for pattern in config.getini("python_files"))


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Experiment modules are collected by content, whatever their file name."""
    if not _measuring(parent.config) or file_path.suffix != ".py":
        return None
    if file_path.name in ("conftest.py", "__init__.py", "setup.py"):
        return None
    # Files named on the command line and test files reach pytest_pycollect_makemodule.
    if parent.session.isinitpath(file_path) or _is_python_test_file(file_path, parent.config):
        return None
    if not collect.looks_like_experiment(file_path):
        return None
    return collect.SpiderModule.from_parent(parent, path=file_path)


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> Any:
    """A ``test_*.py`` file that defines experiments becomes an experiment module too."""
    if _measuring(parent.config) and collect.looks_like_experiment(module_path):
        return collect.SpiderModule.from_parent(parent, path=module_path)
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> Any:
    return collect.make_experiment_items(collector, name, obj)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    collect.parametrize(metafunc)


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, Any]:
    """Add ``--spider-experiment`` modules to what the session collects.

    Named without paths, they are all that is collected: measuring h2 from some folder must
    not also run whatever tests that folder holds.
    """
    report = yield
    if isinstance(collector, pytest.Session) and report.passed:
        config = collector.config
        inputs = config.stash.get(INPUTS_KEY, None)
        if inputs is not None and inputs.settings.experiments:
            if config.args_source != pytest.Config.ArgsSource.ARGS:
                report.result.clear()
            report.result.extend(
                collect.entry_point_modules(collector, inputs.settings.experiments)
            )
    return report


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """--spider-resume: what the output already records is deselected, not measured again.

    On an xdist worker under share scheduling, only its share of the plain tests stays.
    """
    inputs = config.stash.get(INPUTS_KEY, None)
    if inputs is None:
        return
    worker.keep_share(config, items, lambda item: case_of(item) is not None)
    if not inputs.recorded:
        return
    done = {
        case.key
        for item in items
        if is_experiment_item(item)
        and (case := case_of(item)) is not None
        and case.record_key(inputs.vantage) in inputs.recorded
    }
    if done:
        # Their tests go with them: a target's items are measured together or not at all.
        deselected = [item for item in items if (case := case_of(item)) and case.key in done]
        config.hook.pytest_deselected(items=deselected)
        gone = set(map(id, deselected))
        items[:] = [item for item in items if id(item) not in gone]


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session) -> Generator[None, Any, Any]:
    """A campaign's items are collected with the cycle collector paused (``heap``)."""
    if not _measuring(session.config):
        return (yield)
    with heap.paused():
        return (yield)


def pytest_collection_finish(session: pytest.Session) -> None:
    book = session.config.stash.get(CASEBOOK_KEY, None)
    if book is None:
        return
    try:
        book.check_connect_mode()
        # --spider-resume: the same experiments as the campaign's (known only once collected).
        session.config.stash[INPUTS_KEY].check_experiments(e.name for e in book.experiments)
    except pytest.UsageError as exc:
        # On an xdist worker nobody would see it: the controller reports it (exit 4).
        distributed.tell_controller_usage_error(session.config, str(exc))
        raise
    book.release()
    heap.settle()


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, Any, Any]:
    """Start measuring ahead before the first item runs; stop when the loop ends."""
    config = session.config
    book = config.stash.get(CASEBOOK_KEY, None)
    measurer = None
    if book is not None and _runs_items(session):
        # A worker plans what its scheduling tells it up front (its share, or all under
        # --dist each); with xdist's own load scheduling it cannot plan, and measures on demand.
        is_worker = distributed.is_worker(config)
        ahead = not is_worker or distributed.plans_everything(config)
        follow = ahead and (not is_worker or worker.can_hand_out_in_order(config))
        measurer = Measurer(
            book, config.stash[INPUTS_KEY].settings, distributed.worker_count(config)
        )
        config.stash[MEASURER_KEY] = measurer
        measurer.start(session.items, ahead, follow)
    try:
        return (yield)
    finally:
        if measurer is not None:
            measurer.close()


def _runs_items(session: pytest.Session) -> bool:
    """This process runs the session's items (pytest's own loop would not bail out first)."""
    config = session.config
    if config.option.collectonly or distributed.is_controller(config):
        return False
    return not (session.testsfailed and not config.option.continue_on_collection_errors)


@pytest.hookimpl(tryfirst=True, specname="pytest_runtestloop")
def pytest_runtestloop_finished_first(session: pytest.Session) -> bool | None:
    """Run items whose measurements have finished first (``runorder``).

    In one process this is the run loop; on an xdist worker, xdist's loop runs the share in
    that order.
    """
    config = session.config
    measurer = config.stash.get(MEASURER_KEY, None)
    if measurer is None or not _runs_items(session):
        return None
    if not measurer.follows:
        if distributed.replaces_a_crashed_worker(config) and worker.can_hand_out_in_order(config):
            _replacement_runs_ahead(session, measurer)
        return None
    if distributed.is_worker(config):
        worker.hand_out_in_order(
            config, session, lambda share: (item for item, _ in measurer.run_order(share))
        )
        return None
    run_items(session, measurer.run_order(session.items))
    return True


def _replacement_runs_ahead(session: pytest.Session, measurer: Measurer) -> None:
    """A crashed worker's replacement runs what was left of the share, which it learns only
    when the controller sends it: it then measures all of it ahead, finished-first."""

    def plan_then_order(share: list[pytest.Item]) -> Iterator[pytest.Item]:
        measurer.plan(share)
        return (item for item, _ in measurer.run_order(share))

    worker.hand_out_in_order(session.config, session, plan_then_order, whole=False)


@pytest.hookimpl(tryfirst=True, specname="pytest_runtest_protocol")
def pytest_runtest_protocol_lean(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    """Experiment items that need nothing but their measurement run lean (``protocol``)."""
    lean = item.config.stash.get(LEAN_KEY, None)
    if lean is None or not lean.runs_lean(item, nextitem):
        return None
    lean.run(item)
    return True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    measurer = item.config.stash.get(MEASURER_KEY, None)
    if measurer is None:
        return (yield)
    measurer.prefetch(nextitem)
    try:
        return (yield)
    finally:
        if item.session.shouldstop or item.session.shouldfail:
            measurer.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Fold each phase into the item's outcome; the teardown report carries the record."""
    report: pytest.TestReport = yield
    inputs = item.config.stash.get(INPUTS_KEY, None)
    if inputs is None or case_of(item) is None:
        return report
    outcome.note_phase(item, report, call)
    if report.when == "call":
        # The call's duration is the measurement's, from the first connection's start to the
        # last one's stop: JUnit's time and --durations show what a target cost.
        measured = outcome.item_run(item).outcome
        if measured is not None and measured.seconds is not None:
            report.duration = measured.seconds
    if report.when == "teardown":
        measurer = item.config.stash.get(MEASURER_KEY, None)
        output = outcome.output(item, inputs.vantage, measurer.in_flight if measurer else 0)
        run = outcome.forget(item)
        if measurer is not None:
            measurer.done_with(item, took=run is not None and run.outcome is not None)
        if output is not None:
            # A plain-builtins attribute: pytest-xdist ships it to the controller.
            report.spider_output = output  # type: ignore[attr-defined]
        # Where the item ran from, for its JUnit testcase (plain tests of an experiment
        # module run once per target and vantage too).
        report.spider_vantage = inputs.vantage  # type: ignore[attr-defined]
    return report
