"""pytest hooks only: declare options, wire the parts, delegate to the spider session.

The pipeline, each part in its own module: targets (``targets``, ``exclude``) -> items
(``collect``) -> engine (``engine``, running ``measure`` sequences ahead of the items) ->
conn_ fixtures (``fixtures``) -> ``combine_flows`` -> conditions -> verdict (``verdict``)
-> records (``record``) -> reporters (``reporting``: ndjson, JUnit, summary; and the
``pytest_spider_record`` hook from ``hookspec``). ``session`` holds one run's state.
"""

from __future__ import annotations

import fnmatch
import gc
import io
import sys
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from pytest_spider import fixtures, hookspec, options, xdist
from pytest_spider.collect import (
    CASE_KEY,
    SpiderModule,
    entry_point_modules,
    looks_like_experiment,
    parametrize_tests,
)
from pytest_spider.reporting.hooks import ReportingHooks
from pytest_spider.runorder import run_items
from pytest_spider.session import SESSION_KEY, SpiderSession


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspec)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "spider: a target x experiment measurement item")
    config.pluginmanager.register(fixtures, "pytest-spider-fixtures")
    settings = options.SpiderSettings.from_config(config)
    spider = SpiderSession(config, settings, writes=not xdist.is_worker(config))
    config.stash[SESSION_KEY] = spider
    hooks = ReportingHooks(spider)
    config.pluginmanager.register(hooks, "pytest-spider-session")
    if not settings.active:
        if settings.experiments:
            raise pytest.UsageError("--spider-experiment needs --spider-targets")
        return
    if config.option.help or config.option.version:
        return
    stdin_text = None
    if "-" in settings.targets:
        copy = xdist.worker_stdin_copy(config)
        stdin_text = Path(copy).read_text(encoding="utf-8") if copy else _read_stdin(config)
    spider.load(
        io.StringIO(stdin_text) if stdin_text is not None else None,
        xdist_controller=xdist.will_distribute(config),
    )
    if config.pluginmanager.hasplugin("xdist") and not xdist.is_worker(config):
        controller = xdist.ControllerPlugin(
            config, settings.dist == "share", stdin_text, hooks.count_collected
        )
        config.pluginmanager.register(controller, "pytest-spider-xdist")


def _read_stdin(config: pytest.Config) -> str:
    """Read the real stdin: pytest's output capturing stands in for it by now."""
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        return sys.stdin.read()
    capture.suspend_global_capture(in_=True)
    try:
        return sys.stdin.read()
    finally:
        capture.resume_global_capture()


def _is_python_test_file(path: Path, config: pytest.Config) -> bool:
    return any(fnmatch.fnmatch(path.name, pattern) for pattern in config.getini("python_files"))


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Experiment modules are collected by content, whatever their file name."""
    if not parent.config.stash[SESSION_KEY].settings.active or file_path.suffix != ".py":
        return None
    if file_path.name in ("conftest.py", "__init__.py", "setup.py"):
        return None
    # Files named on the command line and test files reach pytest_pycollect_makemodule.
    if parent.session.isinitpath(file_path) or _is_python_test_file(file_path, parent.config):
        return None
    if not looks_like_experiment(file_path):
        return None
    return SpiderModule.from_parent(parent, path=file_path)


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> Any:
    """A ``test_*.py`` file that defines experiments becomes an experiment module too."""
    if parent.config.stash[SESSION_KEY].settings.active and looks_like_experiment(module_path):
        return SpiderModule.from_parent(parent, path=module_path)
    return None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_tests(metafunc)


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, Any]:
    """Add ``--spider-experiment`` modules to what the session collects.

    Named without paths, they are all that is collected: measuring h2 from some folder must
    not also run whatever tests that folder holds.
    """
    report = yield
    if isinstance(collector, pytest.Session) and report.passed:
        config = collector.config
        settings = config.stash[SESSION_KEY].settings
        if settings.active and settings.experiments:
            if config.args_source != pytest.Config.ArgsSource.ARGS:
                report.result.clear()
            report.result.extend(entry_point_modules(collector, settings.experiments))
    return report


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """--spider-resume: what the output already records is deselected, not measured again.

    On an xdist worker under share scheduling, only its share of the plain tests stays.
    """
    xdist.keep_share(config, items, lambda item: CASE_KEY in item.stash)
    spider = config.stash[SESSION_KEY]
    done = spider.already_recorded(items)
    if done:
        # Their tests go with them: a target's items are measured together or not at all.
        groups = {item.stash[CASE_KEY].key for item in done}
        done = [i for i in items if CASE_KEY in i.stash and i.stash[CASE_KEY].key in groups]
        config.hook.pytest_deselected(items=done)
        gone = set(map(id, done))
        items[:] = [item for item in items if id(item) not in gone]


def pytest_collection_finish(session: pytest.Session) -> None:
    spider = session.config.stash[SESSION_KEY]
    spider.check_connect_mode()
    if spider.settings.active:
        # A campaign's items live to the end of the run; the garbage collector need not
        # walk them again and again (its full passes over 10^5 items cost more than items).
        gc.collect()
        gc.freeze()


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, Any, Any]:
    """Start measuring ahead before the first item runs; stop when the loop ends."""
    spider = session.config.stash[SESSION_KEY]
    measuring = (
        spider.settings.active
        and not session.config.option.collectonly
        and not xdist.is_controller(session.config)
    )
    if measuring:
        config = session.config
        # A worker plans what its scheduling tells it up front (its share, or all under
        # --dist each); with xdist's own load scheduling it cannot plan, and measures on demand.
        ahead = not xdist.is_worker(config) or xdist.plans_everything(config)
        spider.start(session.items, ahead)
    try:
        return (yield)
    finally:
        spider.stop()


@pytest.hookimpl(tryfirst=True, specname="pytest_runtestloop")
def pytest_runtestloop_finished_first(session: pytest.Session) -> bool | None:
    """Run items whose measurements have finished first (``runorder``).

    In one process this is the run loop; on an xdist worker, xdist's loop runs the share in
    that order.
    """
    config = session.config
    if config.option.collectonly or (
        session.testsfailed and not config.option.continue_on_collection_errors
    ):
        return None  # pytest's own loop reports these
    spider = config.stash[SESSION_KEY]
    if not spider.planned:
        return None
    if xdist.is_worker(config):
        xdist.hand_out_in_order(
            config, session, lambda share: (item for item, _ in spider.run_order(share))
        )
        return None
    run_items(session, spider.run_order(session.items))
    return True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    spider = item.config.stash[SESSION_KEY]
    spider.prefetch(nextitem)
    try:
        return (yield)
    finally:
        if item.session.shouldstop or item.session.shouldfail:
            spider.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Fold each phase into the item's outcome; the teardown report carries the record."""
    report: pytest.TestReport = yield
    spider = item.config.stash[SESSION_KEY]
    if spider.settings.active:
        spider.note_phase(item, report, call)
        if report.when == "teardown":
            output = spider.output(item)
            spider.forget(item)
            if output is not None:
                # A plain-builtins attribute: pytest-xdist ships it to the controller.
                report.spider_output = output  # type: ignore[attr-defined]
    return report
