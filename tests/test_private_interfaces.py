"""Pins for the few interfaces of pytest and pytest-xdist that are not public API, by behaviour.

If an upgrade breaks one of these, this file says which, before a campaign loses records.
Run on the lowest and the newest pytest and pytest-xdist the project supports (noxfile.py).
Used by: pytest_spider/distributed/_xdist.py (the worker's queue of item indices),
pytest_spider/reporting/junit.py (suite-level properties), plugin.py (records ride on
the teardown report as an extra attribute).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Literal

import pytest
import xdist.newhooks
import xdist.scheduler
from _pytest.junitxml import (  # the private names junit.py relies on
    LogXML,
    _NodeReporter,
    bin_xml_escape,
    xml_key,
)

from pytest_spider.distributed import (
    SHARE_KEY,
    STDIN_KEY,
    is_controller,
    is_worker,
)
from pytest_spider.distributed.controller import ControllerPlugin
from pytest_spider.distributed.scheduling import ShareScheduling


def test_report_extra_attributes_survive_serialization(pytester: pytest.Pytester) -> None:
    """xdist ships reports with pytest_report_to/from_serializable; extra attributes ride along."""
    config = pytester.parseconfig()
    report = pytest.TestReport(
        nodeid="x.py::t",
        location=("x.py", 1, "t"),
        keywords={},
        outcome="passed",
        longrepr=None,
        when="teardown",
    )
    record = {"conditions": ["h2.connectivity.works"], "flow_results": [{"http_info": {1: 3}}]}
    report.spider_output = record  # type: ignore[attr-defined]
    data = config.hook.pytest_report_to_serializable(config=config, report=report)
    back = config.hook.pytest_report_from_serializable(config=config, data=data)
    assert back.spider_output == record


def test_the_private_junitxml_interface_junit_py_uses() -> None:
    """reporting/junit.py reaches a testcase's element through pytest's private LogXML."""
    assert isinstance(xml_key, pytest.StashKey)
    assert list(inspect.signature(LogXML.node_reporter).parameters) == ["self", "report"]
    assert list(inspect.signature(_NodeReporter.append).parameters) == ["self", "node"]
    assert bin_xml_escape("a\x00b") == "a#x00b"


def test_xdist_hooks_and_names_we_use(pytester: pytest.Pytester) -> None:
    assert hasattr(xdist.newhooks, "pytest_configure_node")
    assert hasattr(xdist.newhooks, "pytest_xdist_make_scheduler")
    assert hasattr(xdist.newhooks, "pytest_xdist_node_collection_finished")
    config = pytester.parseconfig("--tx", "3*popen", "--dist", "load")
    assert not is_worker(config) and not is_controller(config)
    controller = ControllerPlugin(
        config, share=True, stdin_text="198.18.0.1\n", on_collected=lambda n, each: None
    )

    class Node:
        def __init__(self) -> None:
            self.workerinput: dict[str, object] = {}
            self.gateway = None

    nodes = [Node(), Node()]
    for node in nodes:
        controller.pytest_configure_node(node)
    assert [node.workerinput[SHARE_KEY] for node in nodes] == [(0, 3), (1, 3)]
    assert [node.workerinput[STDIN_KEY] for node in nodes] == [b"198.18.0.1\n"] * 2


def test_share_scheduling_has_every_method_of_xdists_each_scheduling() -> None:
    """The scheduler protocol (``xdist.scheduler.protocol`` from xdist 3.6), as every
    version's EachScheduling implements it and nothing more."""
    wanted = {name for name in dir(xdist.scheduler.EachScheduling) if not name.startswith("_")}
    assert wanted <= set(dir(ShareScheduling))


def test_workers_have_workerinput_and_the_controller_a_dsession(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
from pytest_spider.distributed import is_controller, is_worker
def pytest_sessionstart(session):
    config = session.config
    role = "worker" if is_worker(config) else "controller" if is_controller(config) else "none"
    with open(f"role-{role}", "a") as f:
        f.write("x")
"""
    )
    pytester.makepyfile(test_one="def test_ok(): pass")
    pytester.runpytest_subprocess("-n", "2").assert_outcomes(passed=1)
    assert (pytester.path / "role-controller").read_text() == "x"
    assert (pytester.path / "role-worker").read_text() == "xx"


def test_a_worker_loop_takes_each_next_item_from_the_queue_we_find(
    pytester: pytest.Pytester,
) -> None:
    """_xdist.worker_queue_owner finds, on a worker, the queue xdist's loop takes item indices
    from: reversing it makes the worker run its items in reverse (one worker, so the
    controller's order of reports is the worker's order of running)."""
    pytester.makeconftest(
        """
import pytest
from pytest_spider.distributed import _xdist, is_worker

class Reversed:
    def __init__(self, queue, count):
        self.queue, self.count, self.held = queue, count, None
    def put(self, index):
        self.queue.put(index)
    def get(self):
        if self.held is None:
            self.held = [self.queue.get() for _ in range(self.count)]
        return self.held.pop() if self.held else self.queue.get()
    def __getattr__(self, name):
        return getattr(self.queue, name)

@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session):
    if is_worker(session.config):
        owner = _xdist.worker_queue_owner(session.config)
        owner.torun = Reversed(owner.torun, len(session.items))
"""
    )
    pytester.makepyfile(test_order="\n".join(f"def test_{n}(): pass" for n in range(5)))
    result = pytester.runpytest_subprocess("-n", "1", "--dist", "each", "-v", "-p", "no:randomly")
    result.assert_outcomes(passed=5)
    ran = [line.split("::")[1].split()[0] for line in result.outlines if "PASSED" in line]
    assert ran == [f"test_{n}" for n in reversed(range(5))]


def test_the_controller_stops_the_run_when_told(pytester: pytest.Pytester) -> None:
    """_xdist.stop_distributing: after the first report the controller stops the run, as the
    record sink does when the output cannot take more records."""
    pytester.makeconftest(
        """
from pytest_spider.distributed import _xdist, is_worker

class Stopper:
    def __init__(self, config):
        self.config = config
    def pytest_runtest_logreport(self, report):
        if report.when == "call":
            _xdist.stop_distributing(self.config, "told to stop")

def pytest_configure(config):
    if not is_worker(config):
        config.pluginmanager.register(Stopper(config), "stopper")
"""
    )
    pytester.makepyfile(
        test_many="import time\n"
        + "\n".join(f"def test_{n}():\n    time.sleep(0.05)\n" for n in range(40))
    )
    result = pytester.runpytest_subprocess("-n", "1")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert result.parseoutcomes()["passed"] < 40
    result.stdout.fnmatch_lines(["*told to stop*"])


@pytest.mark.parametrize("family", ["xunit2", "xunit1"])
def test_a_testcase_keeps_the_name_junit_py_gives_it(
    tmp_path: Path, family: Literal["xunit1", "xunit2"]
) -> None:
    """name_vantage renames a testcase through the reporter's record_testreport, attrs and
    add_attribute; junitxml re-reads each report of a testcase and must keep that name."""
    params = inspect.signature(_NodeReporter.record_testreport).parameters
    assert list(params) == ["self", "testreport"]
    params = inspect.signature(_NodeReporter.add_attribute).parameters
    assert list(params) == ["self", "name", "value"]
    xml = LogXML(str(tmp_path / "j.xml"), None, family=family)
    location = ("experiments/h2.py", 3, "H2[198.18.0.1:80]")
    report = pytest.TestReport("experiments/h2.py::H2[198.18.0.1:80]", location, {}, "passed",
                               None, "teardown")  # fmt: skip
    reporter = xml.node_reporter(report)
    reporter.record_testreport(report)
    assert reporter.attrs["name"] == "H2[198.18.0.1:80]"
    reporter.add_attribute("name", reporter.attrs["name"] + " @ east")
    xml.pytest_runtest_logreport(report)  # junitxml's own handling of the teardown report
    [testcase] = xml.node_reporters_ordered
    assert testcase.to_xml().attrib["name"] == "H2[198.18.0.1:80] @ east"
