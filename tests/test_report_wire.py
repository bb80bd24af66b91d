"""Reports sent from xdist workers as JSON text come back exactly as pytest's own dicts do."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_spider import distributed
from pytest_spider.distributed.wire import JSON_KEY, ReportWire

#: What xdist adds to a report's dict on a worker, after pytest_report_to_serializable.
XDIST_KEYS = {"item_index": 7, "worker_id": "gw1", "testrun_uid": "abc"}


def _ship(config: pytest.Config, report: Any, wire: bool) -> tuple[dict[str, Any], Any]:
    """``report`` as a worker sends it (with or without the wire) and as the controller
    rebuilds it."""
    plugin = ReportWire()
    if wire:
        config.pluginmanager.register(plugin)
    try:
        data = config.hook.pytest_report_to_serializable(config=config, report=report)
        data.update(XDIST_KEYS)
        return data, config.hook.pytest_report_from_serializable(config=config, data=data)
    finally:
        if wire:
            config.pluginmanager.unregister(plugin)


def _plain(config: pytest.Config, report: Any) -> dict[str, Any]:
    data: dict[str, Any] = config.hook.pytest_report_to_serializable(config=config, report=report)
    return data


def _report(**extra: Any) -> pytest.TestReport:
    report = pytest.TestReport(
        nodeid="experiments/h2.py::H2[198.18.0.1:80 lab.test]",
        location=("experiments/h2.py", 20, "H2[198.18.0.1:80 lab.test]"),
        keywords={"H2[198.18.0.1:80 lab.test]": 1, "spider": 1},
        outcome="passed",
        longrepr=None,
        when="teardown",
        duration=0.25,
        start=1796186428.704464,
        stop=1796186428.954464,
    )
    for name, value in extra.items():
        setattr(report, name, value)
    return report


def test_a_plain_report_travels_as_one_json_text(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfig()
    output = {"record": {"conditions": ["h2.connectivity.works"], "dp": 80, "ok": True}}
    report = _report(spider_output=output)
    data, back = _ship(config, report, wire=True)
    assert set(data) == {JSON_KEY, *XDIST_KEYS}
    assert isinstance(data[JSON_KEY], str)
    _, plain = _ship(config, report, wire=False)
    assert _plain(config, back) == _plain(config, plain)
    assert back.location == report.location and isinstance(back.location, tuple)
    assert back.spider_output == output
    assert back.item_index == 7 and back.worker_id == "gw1"


@pytest.mark.parametrize(
    "extra",
    [
        {"spider_output": {"http_info": {1: 3}}},  # a number key would come back as text
        {"spider_output": {"dip": b"\xc6\x12\x00\x01"}},  # bytes are no JSON
        {"user_properties": [("conditions", "h2.connectivity.works")]},  # tuples: lists
        {"spider_output": {"rtt": float("nan")}},  # NaN is no JSON
    ],
    ids=["number-key", "bytes", "tuple", "nan"],
)
def test_what_json_would_change_goes_as_xdist_sends_it(
    pytester: pytest.Pytester, extra: dict[str, Any]
) -> None:
    config = pytester.parseconfig()
    report = _report(**extra)
    data, back = _ship(config, report, wire=True)
    assert JSON_KEY not in data
    assert data == {**_plain(config, report), **XDIST_KEYS}
    for name, value in extra.items():
        assert repr(getattr(back, name)) == repr(value)


def test_every_kind_of_report_comes_back_as_pytest_sends_it(pytester: pytest.Pytester) -> None:
    """Reports of a real run (passed, failed, skipped, xfailed, errors, captured output,
    properties) rebuilt on the controller are the same with the wire as without."""
    pytester.makepyfile(
        """
        import sys, pytest

        @pytest.fixture
        def broken():
            raise RuntimeError("setup broke")

        def test_pass(record_property):
            record_property("conditions", "h2.connectivity.works")
            print("out"); sys.stderr.write("err")

        def test_fail():
            assert 1 == 2, "numbers"

        def test_fail_plain():
            pytest.fail("a message", pytrace=False)

        def test_skip():
            pytest.skip("not here")

        @pytest.mark.xfail(reason="known")
        def test_xfail():
            assert 0

        def test_error(broken):
            pass
        """
    )
    reports = pytester.inline_run().getreports("pytest_runtest_logreport")
    assert len(reports) == 17  # three per test, two for the one whose setup failed
    config = pytester.parseconfig()
    shipped = 0
    for report in reports:
        data, back = _ship(config, report, wire=True)
        _, plain = _ship(config, report, wire=False)
        assert _plain(config, back) == _plain(config, plain), report
        assert back.longreprtext == plain.longreprtext
        shipped += JSON_KEY in data
    # Most go as JSON text; the rest (tuples in properties, captured sections, tracebacks)
    # as xdist sends them.
    assert 10 <= shipped < len(reports)


def test_workers_send_json_only_when_their_controller_reads_it(pytester: pytest.Pytester) -> None:
    """The controller tells each worker it reads JSON text; a worker not told (its controller
    runs an older pytest-spider) sends reports as xdist does."""
    pytester.mkdir("experiments")
    (pytester.path / "experiments" / "quick.py").write_text(
        """
from pytest_spider import CONN_OK, DesynchronizedSpider, PluggableSpider

class Quick(DesynchronizedSpider, PluggableSpider):
    name = "quick"
    def conn_a(self, job, config):
        return {"spdr_state": CONN_OK, "sp": 1000}
    connections = [conn_a]
    def combine_flows(self, flows):
        return ["quick.connectivity.works"]
"""
    )
    pytester.makeconftest(
        """
import os
from pytest_spider import distributed

def pytest_sessionfinish(session):
    config = session.config
    if distributed.is_worker(config):
        wire = config.pluginmanager.get_plugin("pytest-spider-wire") is not None
        told = distributed.controller_reads_json(config)
        with open(f"wire-{os.environ['PYTEST_XDIST_WORKER']}", "w") as f:
            f.write(f"{told} {wire}")
"""
    )
    (pytester.path / "t.ndjson").write_text(
        "".join(f'{{"dip": "198.18.0.{i}", "dp": 80}}\n' for i in range(1, 5))
    )
    result = pytester.runpytest_subprocess("--spider-targets=t.ndjson", "experiments/", "-n", "2")
    result.assert_outcomes(passed=4)
    assert {p.name: p.read_text() for p in pytester.path.glob("wire-gw*")} == {
        "wire-gw0": "True True",
        "wire-gw1": "True True",
    }
    config = pytester.parseconfig()
    config.workerinput = {"workerid": "gw0"}  # type: ignore[attr-defined]
    assert not distributed.controller_reads_json(config)
