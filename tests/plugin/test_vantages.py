"""Several vantage points in one run (``--dist each``): the summary says per target whether
the vantages agree, and each JUnit testcase says its vantage, with node ids and ``--lf`` as
they were. The scripted experiment reads a target's ``script_<vantage>`` under --dist each,
so the two vantages' paths differ as the test says, without a network."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.plugin.conftest import read_output, write_targets

VANTAGES = ("paris", "tokyo")
TX = [arg for vantage in VANTAGES for arg in ("--tx", f"popen//id={vantage}")]

#: dip -> (conditions from paris, from tokyo).
TARGETS: list[dict[str, Any]] = [
    # The same everywhere.
    {"dip": "198.18.0.1", "script": "ok,ok"},
    # Broken from tokyo only: the verdict differs.
    {"dip": "198.18.0.2", "script": "ok,ok", "script_tokyo": "ok,fail"},
    # Offline from paris only: the conditions differ, the verdict (skip, pass) fails nowhere.
    {"dip": "198.18.0.3", "script": "ok,ok", "script_paris": "timeout,timeout"},
    # Broken everywhere: the same everywhere, failing.
    {"dip": "198.18.0.4", "script": "ok,fail"},
]
EXPECTED = {
    "198.18.0.1": ("scripted.connectivity.works", "scripted.connectivity.works"),
    "198.18.0.2": ("scripted.connectivity.works", "scripted.connectivity.broken"),
    "198.18.0.3": ("scripted.connectivity.offline", "scripted.connectivity.works"),
    "198.18.0.4": ("scripted.connectivity.broken", "scripted.connectivity.broken"),
}


def _targets(folder: Path) -> Path:
    targets = [t | {"dp": 80, "domain": f"t{i}.example"} for i, t in enumerate(TARGETS)]
    return write_targets(folder / "t.ndjson", targets)


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        f"--spider-targets={_targets(pytester.path)}", "--dist", "each", *TX, "experiments/",
        *args,
    )  # fmt: skip


def test_the_summary_keeps_path_dependent_targets_apart(scripted: pytest.Pytester) -> None:
    out = scripted.path / "out.ndjson"
    result = _run(scripted, f"--spider-output={out}")
    records, sessions = read_output(out)
    seen = {(r["vantage"], r["dip"]): r["conditions"] for r in records}
    for dip, (paris, tokyo) in EXPECTED.items():
        assert seen["paris", dip] == [paris] and seen["tokyo", dip] == [tokyo]
    # One node id per target, whichever vantage measured it.
    assert len({r["nodeid"] for r in records}) == len(TARGETS)
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if line.startswith("vantages paris, tokyo"))
    assert lines[start] == (
        "vantages paris, tokyo compared per target with fail globs *.connectivity.broken: "
        "2 same everywhere, 2 path-dependent (1 verdict differs)"
    )
    assert lines[start + 1].split() == [
        "EXPERIMENT", "TARGETS", "SAME", "PATH-DEPENDENT", "VERDICT", "DIFFERS", "ONE", "VANTAGE",
    ]  # fmt: skip
    assert lines[start + 2].split() == ["scripted", "4", "2", "2", "1", "0"]
    assert lines[start + 3] == "path-dependent targets (conditions differ between vantages):"
    table = [line.split() for line in lines[start + 5 : start + 7]]
    assert table == [
        ["verdict", "differs", "scripted", "198.18.0.2:80", "t1.example",
         "scripted.connectivity.works", "scripted.connectivity.broken"],
        ["conditions", "differ", "scripted", "198.18.0.3:80", "t2.example",
         "scripted.connectivity.offline", "scripted.connectivity.works"],
    ]  # fmt: skip
    # Same everywhere: counted, never listed.
    summary = lines[start : start + 7]
    assert lines[start + 7].startswith("input: ")
    assert not any("198.18.0.1:80" in line or "198.18.0.4:80" in line for line in summary)
    # The campaign's metadata keeps the counts.
    [session] = sessions
    assert session["counts"]["path_dependence"] == {
        "scripted": {
            "targets": 4, "same": 2, "path_dependent": 2, "verdict_differs": 1,
            "one_vantage": 0, "incomplete": 0,
        }
    }  # fmt: skip


def test_one_vantage_prints_no_comparison(scripted: pytest.Pytester) -> None:
    targets = _targets(scripted.path)
    result = scripted.runpytest_subprocess(f"--spider-targets={targets}", "-n", "2", "experiments/")
    assert not [line for line in result.stdout.lines if line.startswith("vantages ")]


def _testcases(path: Path) -> list[ET.Element]:
    return list(ET.parse(path).getroot().iter("testcase"))


@pytest.mark.parametrize("family", ["xunit2", "xunit1"])
def test_each_junit_testcase_says_its_vantage_and_lf_reruns_by_node_id(
    scripted: pytest.Pytester, family: str
) -> None:
    junit = scripted.path / "junit.xml"
    _run(scripted, f"--junitxml={junit}", "-o", f"junit_family={family}")
    cases = _testcases(junit)
    names = [case.attrib["name"] for case in cases]
    assert len(names) == len(set(names)) == len(TARGETS) * len(VANTAGES), names
    by_name = {case.attrib["name"]: case for case in cases}
    for i, target in enumerate(TARGETS):
        for vantage, conditions in zip(VANTAGES, EXPECTED[target["dip"]], strict=True):
            case = by_name[f"Scripted[{target['dip']}:80 t{i}.example] @ {vantage}"]
            out = "".join(o.text or "" for o in case.findall("system-out"))
            assert out.startswith(f"vantage: {vantage}\nconditions: {conditions}\n"), out
            failed = case.find("failure") is not None
            assert failed == conditions.endswith(".broken"), (vantage, target)
            props = {p.attrib["name"]: p.attrib["value"] for p in case.iter("property")}
            if family == "xunit1":
                assert props["spider.vantage"] == vantage
                assert props["spider.conditions"] == conditions
            else:
                assert not props
    # The testcases still run as the same items: --lf runs the targets that failed anywhere,
    # from every vantage, by their node ids.
    lastfailed = json.loads((scripted.path / ".pytest_cache/v/cache/lastfailed").read_text())
    assert sorted(lastfailed) == [
        "experiments/scripted.py::Scripted[198.18.0.2:80 t1.example]",
        "experiments/scripted.py::Scripted[198.18.0.4:80 t3.example]",
    ]
    rerun = scripted.path / "rerun.xml"
    _run(scripted, "--lf", f"--junitxml={rerun}", "-o", f"junit_family={family}")
    again = Counter(case.attrib["name"].rsplit(" @ ", 1)[1] for case in _testcases(rerun))
    assert again == {"paris": 2, "tokyo": 2}
    assert sorted({case.attrib["name"].rsplit(" @ ", 1)[0] for case in _testcases(rerun)}) == [
        "Scripted[198.18.0.2:80 t1.example]",
        "Scripted[198.18.0.4:80 t3.example]",
    ]


def test_a_named_vantage_names_its_testcases_in_one_process(scripted: pytest.Pytester) -> None:
    junit = scripted.path / "junit.xml"
    targets = _targets(scripted.path)
    scripted.runpytest(
        f"--spider-targets={targets}", f"--junitxml={junit}", "--spider-vantage=zurich",
        "experiments/",
    )  # fmt: skip
    names = [case.attrib["name"] for case in _testcases(junit)]
    assert len(names) == len(TARGETS)
    assert all(name.endswith("] @ zurich") for name in names), names
    # The default vantage (one process, none named) leaves the names as pytest writes them.
    scripted.runpytest(f"--spider-targets={targets}", f"--junitxml={junit}", "experiments/")
    assert all(c.attrib["name"].endswith(".example]") for c in _testcases(junit))
