"""Records: the ndjson output, the pytest_spider_record hook, JUnit XML, xdist parity."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.plugin.conftest import read_output, read_records, scripted_targets, write_targets

SCRIPTS = ("ok,ok", "ok,fail", "fail,ok", "timeout,timeout", "ok,raise")


def _targets(pytester: pytest.Pytester) -> str:
    targets = scripted_targets(*SCRIPTS)
    targets[0]["info"] = {"ASN": 64500, "CountryCode": "CH"}
    return str(write_targets(pytester.path / "t.ndjson", targets))


def test_records_keep_input_fields_and_add_pathspider_and_our_fields(
    scripted: pytest.Pytester,
) -> None:
    out = scripted.path / "out.ndjson"
    scripted.runpytest(
        f"--spider-targets={_targets(scripted)}", f"--spider-output={out}", "experiments/"
    )
    records = read_records(out)
    assert len(records) == len(SCRIPTS)
    first = records[0]
    assert first["info"] == {"ASN": 64500, "CountryCode": "CH"}
    assert (first["dip"], first["dp"], first["domain"], first["script"]) == (
        "198.18.0.1",
        80,
        "t0.example",
        "ok,ok",
    )
    assert first["conditions"] == ["scripted.connectivity.works"]
    assert first["experiment"] == "scripted"
    assert first["nodeid"] == "experiments/scripted.py::Scripted[198.18.0.1:80 t0.example]"
    assert first["outcome"] == "passed" and first["reason"] is None
    flows = first["flow_results"]
    assert [(f["config"], f["conn"], f["spdr_state"], f["sp"]) for f in flows] == [
        (0, "conn_base", 0, 1000),
        (1, "conn_exp", 0, 1001),
    ]
    # bytes from a conn_ function become text; times are PATHspider's format.
    assert flows[0]["blob"] == "\\xffbytes"
    assert first["time"]["from"] == flows[0]["spdr_start"] <= flows[1]["spdr_stop"]
    assert first["time"]["to"] == flows[1]["spdr_stop"]
    assert len(first["time"]["from"]) == len("2026-11-25 13:58:38.123456")
    timeout = records[3]["flow_results"][0]
    assert (timeout["spdr_state"], timeout["error_class"]) == (2, "timeout")


def test_the_record_hook_sees_every_record(scripted: pytest.Pytester) -> None:
    scripted.makeconftest(
        """
import json
def pytest_spider_record(record, config):
    with open("hooked.ndjson", "a") as f:
        f.write(json.dumps([record["domain"], record["outcome"]]) + "\\n")
"""
    )
    scripted.runpytest(f"--spider-targets={_targets(scripted)}", "experiments/")
    lines = [json.loads(x) for x in (scripted.path / "hooked.ndjson").read_text().splitlines()]
    assert lines == [
        ["t0.example", "passed"],
        ["t1.example", "failed"],
        ["t2.example", "passed"],
        ["t3.example", "skipped"],
        ["t4.example", "error"],
    ]


def _junit(pytester: pytest.Pytester, family: str) -> Path:
    """Run the scripted campaign with --junitxml in the given junit_family."""
    junit = pytester.path / "junit.xml"
    pytester.runpytest(
        f"--spider-targets={_targets(pytester)}", f"--junitxml={junit}",
        "-o", f"junit_family={family}", "experiments/",
    )  # fmt: skip
    return junit


def _testcases(xml_path: str) -> dict[str, ET.Element]:
    root = ET.parse(xml_path).getroot()
    return {tc.attrib["name"]: tc for tc in root.iter("testcase")}


def test_junit_xunit1_testcases_carry_conditions_and_connection_states(
    scripted: pytest.Pytester,
) -> None:
    cases = _testcases(str(_junit(scripted, "xunit1")))
    broken = cases["Scripted[198.18.0.2:80 t1.example]"]
    props = {p.attrib["name"]: p.attrib["value"] for p in broken.iter("property")}
    assert props == {
        "spider.conditions": "scripted.connectivity.broken",
        "spider.conn_base.state": "ok",
        "spider.conn_exp.state": "failed",
        "spider.conn_exp.error": "refused: scripted fail",
    }
    assert broken.find("failure") is not None


def test_junit_xunit2_stays_valid_with_properties_at_suite_level(
    scripted: pytest.Pytester,
) -> None:
    junit = _junit(scripted, "xunit2")
    root = ET.parse(junit).getroot()
    # The xunit2 schema has no <properties> inside a testcase.
    assert all(tc.find("properties") is None for tc in root.iter("testcase"))
    suite = root.find("testsuite")
    assert suite is not None
    props = {p.attrib["name"]: p.attrib["value"] for p in suite.iter("property")}
    nodeid = "experiments/scripted.py::Scripted[198.18.0.4:80 t3.example]"
    assert props[f"{nodeid} spider.conditions"] == "scripted.connectivity.offline"
    assert props[f"{nodeid} spider.conn_base.error"] == "timeout: scripted timeout"


def test_xdist_gives_the_same_records_as_one_process(scripted: pytest.Pytester) -> None:
    targets = write_targets(scripted.path / "many.ndjson", scripted_targets(*(list(SCRIPTS) * 8)))
    single, double = scripted.path / "one.ndjson", scripted.path / "two.ndjson"
    scripted.runpytest_subprocess(
        f"--spider-targets={targets}", f"--spider-output={single}", "experiments/"
    )
    result = scripted.runpytest_subprocess(
        f"--spider-targets={targets}",
        f"--spider-output={double}",
        "-n",
        "2",
        "--junitxml=x.xml",
        "experiments/",
    )
    result.stdout.fnmatch_lines(["*spider summary*", "records: 40 written to *two.ndjson"])

    def keyed(path: object) -> dict[str, tuple[str, list[str]]]:
        return {r["nodeid"]: (r["outcome"], r["conditions"]) for r in read_records(path)}  # type: ignore[arg-type]

    assert len(read_records(double)) == len(read_records(single))
    assert keyed(double) == keyed(single)


def test_targets_from_stdin_reach_xdist_workers(scripted: pytest.Pytester) -> None:
    out = scripted.path / "out.ndjson"
    lines = "".join(json.dumps(t) + "\n" for t in scripted_targets("ok,ok", "ok,fail"))
    result = scripted.run(
        "python",
        "-m",
        "pytest",
        "--spider-targets=-",
        f"--spider-output={out}",
        "-n",
        "2",
        "experiments/",
        stdin=lines.encode(),
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert sorted(r["outcome"] for r in read_records(out)) == ["failed", "passed"]


def test_the_output_ends_with_campaign_metadata(scripted: pytest.Pytester) -> None:
    out = scripted.path / "out.ndjson"
    scripted.runpytest(
        f"--spider-targets={_targets(scripted)}",
        f"--spider-output={out}",
        "--spider-timeout=3",
        "experiments/",
    )
    records, (meta,) = read_output(out)
    assert len(records) == len(SCRIPTS)
    assert meta["counts"]["targets"] == len(SCRIPTS)
    assert meta["counts"]["bad_input"] == 0
    assert meta["counts"]["outcomes"]["scripted"] == {
        "passed": 2,
        "failed": 1,
        "skipped": 1,
        "error": 1,
    }
    assert meta["options"]["timeout"] == 3.0
    assert meta["start"] <= meta["end"] and meta["duration"] >= 0
    assert meta["version"]
