"""JUnit XML (``--junitxml``): every testcase shows its conditions, in both families, valid
against the family's schema; and the private pytest interface that takes."""

from __future__ import annotations

import inspect
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Literal

import pytest

# The private names reporting/junit.py relies on, pinned below.
from _pytest.junitxml import LogXML, _NodeReporter, bin_xml_escape, xml_key  # noqa: TID251

from tests.plugin.conftest import scripted_targets, write_targets

SCRIPTS = ("ok,ok", "ok,fail", "fail,ok", "timeout,timeout", "ok,raise")

#: What pytest's xunit2 schema (its testing/example_scripts/junit-10.xsd) lets a testcase
#: hold and say; and a testsuite.
XUNIT2_TESTCASE_CHILDREN = {
    "skipped", "error", "errors", "failure", "rerunFailure", "rerunError", "flakyFailure",
    "flakyError", "system-out", "system-err",
}  # fmt: skip
XUNIT2_TESTCASE_ATTRIBUTES = {"name", "time", "classname", "group"}
XUNIT2_TESTSUITE_CHILDREN = {"testsuite", "properties", "testcase", "system-out", "system-err"}


def _junit(pytester: pytest.Pytester, family: str, *args: str) -> ET.Element:
    """Run the scripted campaign with --junitxml in the given junit_family."""
    targets = write_targets(pytester.path / "t.ndjson", scripted_targets(*SCRIPTS))
    junit = pytester.path / "junit.xml"
    pytester.runpytest(
        f"--spider-targets={targets}", f"--junitxml={junit}",
        "-o", f"junit_family={family}", "experiments/", *args,
    )  # fmt: skip
    return ET.parse(junit).getroot()


def _testcases(root: ET.Element) -> dict[str, ET.Element]:
    return {tc.attrib["name"]: tc for tc in root.iter("testcase")}


def _system_out(testcase: ET.Element) -> str:
    return "".join(out.text or "" for out in testcase.findall("system-out"))


def _assert_valid_xunit2(root: ET.Element) -> None:
    """The structure the xunit2 schema allows (the parts a testcase and a suite can get
    wrong: which children, which attributes, text only in system-out)."""
    for suite in root.iter("testsuite"):
        assert {child.tag for child in suite} <= XUNIT2_TESTSUITE_CHILDREN
        for testcase in suite.findall("testcase"):
            assert {child.tag for child in testcase} <= XUNIT2_TESTCASE_CHILDREN, testcase
            assert set(testcase.attrib) <= XUNIT2_TESTCASE_ATTRIBUTES, testcase.attrib
            assert "name" in testcase.attrib
            for out in testcase.findall("system-out"):
                assert len(out) == 0  # xs:string: text, no elements


@pytest.mark.parametrize("args", [(), ("-n", "2")], ids=["one-process", "xdist"])
def test_xunit2_every_testcase_shows_its_conditions_in_system_out(
    scripted: pytest.Pytester, args: tuple[str, ...]
) -> None:
    """pytest's default family: passing testcases showed nothing (conditions sat only in
    suite-level properties, 714 rows for 204 targets)."""
    root = _junit(scripted, "xunit2", *args)
    _assert_valid_xunit2(root)
    cases = _testcases(root)
    assert len(cases) == len(SCRIPTS)
    passing = _system_out(cases["Scripted[198.18.0.1:80 t0.example]"])
    assert passing == (
        "conditions: scripted.connectivity.works\nconn_base: ok\nconn_exp: ok\noutcome: passed\n"
    )
    offline = _system_out(cases["Scripted[198.18.0.4:80 t3.example]"])
    assert "conditions: scripted.connectivity.offline\n" in offline
    assert "conn_base: timeout (timeout: scripted timeout)\n" in offline
    broken = cases["Scripted[198.18.0.2:80 t1.example]"]
    assert broken.find("failure") is not None
    assert "conn_exp: failed (refused: scripted fail)" in _system_out(broken)
    # Nothing at suite level any more: the testcases say it.
    assert root.find("testsuite/properties") is None


def test_system_out_does_not_depend_on_junit_logging(scripted: pytest.Pytester) -> None:
    """junit_logging picks captured output; the record is written whatever it says, and
    captured output (if asked for) goes beside it, still valid."""
    root = _junit(scripted, "xunit2", "-o", "junit_logging=all")
    _assert_valid_xunit2(root)
    outs = _testcases(root)["Scripted[198.18.0.1:80 t0.example]"].findall("system-out")
    assert any("scripted.connectivity.works" in (out.text or "") for out in outs)


def test_xunit1_testcases_carry_properties_and_point_at_the_experiment_class(
    scripted: pytest.Pytester,
) -> None:
    root = _junit(scripted, "xunit1")
    source = (scripted.path / "experiments" / "scripted.py").read_text().splitlines()
    class_line = next(n for n, line in enumerate(source) if line.startswith("class Scripted"))
    for testcase in root.iter("testcase"):
        # pytest writes a testcase's line 0-based, for every test: the class's line, not
        # pytest-spider's (it was pytest_spider/collect.py:88 for every testcase).
        assert (testcase.attrib["file"], testcase.attrib["line"]) == (
            "experiments/scripted.py",
            str(class_line),
        )
    broken = _testcases(root)["Scripted[198.18.0.2:80 t1.example]"]
    props = {p.attrib["name"]: p.attrib["value"] for p in broken.iter("property")}
    assert props == {
        "spider.conditions": "scripted.connectivity.broken",
        "spider.conn_base.state": "ok",
        "spider.conn_exp.state": "failed",
        "spider.conn_exp.error": "refused: scripted fail",
    }
    assert broken.find("failure") is not None
    assert "scripted.connectivity.broken" in _system_out(broken)


def test_the_private_junitxml_interface_junit_py_uses() -> None:
    """reporting/junit.py reaches a testcase through pytest's private LogXML: pinned here."""
    assert isinstance(xml_key, pytest.StashKey)
    assert list(inspect.signature(LogXML.node_reporter).parameters) == ["self", "report"]
    assert list(inspect.signature(_NodeReporter.append).parameters) == ["self", "node"]
    assert bin_xml_escape("a\x00b") == "a#x00b"


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
