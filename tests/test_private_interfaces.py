"""Pins for the few interfaces of pytest and pytest-xdist that are not public API.

If an upgrade breaks one of these, this file says which, before a campaign loses records.
Used by: pytest_spider/xdist.py (the scheduler and the worker's queue of indices),
pytest_spider/reporting/junit.py, plugin.py (records ride on the teardown report as an extra
attribute).
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import xdist.newhooks
import xdist.scheduler.protocol
from _pytest.junitxml import LogXML, xml_key  # the private names junit.py relies on
from xdist.workermanage import parse_tx_spec_config

from pytest_spider.collect import fixture_info
from pytest_spider.xdist import (
    SHARE_KEY,
    STDIN_KEY,
    ControllerPlugin,
    ShareScheduling,
    is_controller,
    is_worker,
)


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


def test_function_items_share_a_fixture_closure(pytester: pytest.Pytester) -> None:
    """collect.fixture_info: pytest.Function keeps its closure in _fixtureinfo and takes one."""
    item = pytester.getitem("def test_func(tmp_path): pass")
    assert isinstance(item, pytest.Function)
    info = fixture_info(item)
    assert "tmp_path" in info.names_closure
    twin = pytest.Function.from_parent(item.parent, name="twin", callobj=item.obj, fixtureinfo=info)
    assert fixture_info(twin) is info and twin.fixturenames == item.fixturenames


def test_junitxml_exposes_its_logxml_under_xml_key() -> None:
    assert isinstance(xml_key, pytest.StashKey)
    assert callable(LogXML.add_global_property)
    assert list(inspect.signature(LogXML.add_global_property).parameters) == [
        "self",
        "name",
        "value",
    ]


def test_xdist_hooks_and_names_we_use(pytester: pytest.Pytester) -> None:
    assert hasattr(xdist.newhooks, "pytest_configure_node")
    assert hasattr(xdist.newhooks, "pytest_xdist_make_scheduler")
    config = pytester.parseconfig("--tx", "3*popen", "--dist", "load")
    assert not is_worker(config) and not is_controller(config)
    assert len(parse_tx_spec_config(config)) == 3
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
    copy = nodes[0].workerinput[STDIN_KEY]
    assert isinstance(copy, str) and Path(copy).read_text() == "198.18.0.1\n"
    controller.pytest_unconfigure()
    assert not Path(copy).exists()


def test_share_scheduling_has_every_method_of_the_scheduler_protocol() -> None:
    wanted = {name for name in dir(xdist.scheduler.protocol.Scheduling) if not name.startswith("_")}
    assert wanted <= set(dir(ShareScheduling))


def test_workers_have_workerinput_and_the_controller_a_dsession(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
from pytest_spider.xdist import is_controller, is_worker
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


def test_xdist_worker_loop_takes_indices_from_its_torun_queue() -> None:
    """xdist.hand_out_in_order: the worker loop asks ``self.torun.get()`` for each next index
    and the command handler fills it with ``self.torun.put``."""
    import xdist.remote

    interactor = xdist.remote.WorkerInteractor
    assert "self.torun = " in inspect.getsource(interactor.__init__)
    assert "self.torun.get()" in inspect.getsource(interactor.pytest_runtestloop)
    assert "self.torun.get()" in inspect.getsource(interactor.run_one_test)
    assert "self.torun.put(" in inspect.getsource(interactor.handle_command)
    assert {"get", "put"} <= set(dir(xdist.remote.TestQueue))
