"""The lean protocol of experiment items against pytest's full one: the same campaign run both
ways must look the same to everything that consumes reports, and items that need more than
their measurement keep pytest's full protocol."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.plugin.conftest import read_records, scripted_targets, write_targets

SCRIPTS = ("ok,ok", "ok,fail", "fail,fail", "ok,ok", "raise,ok", "ok,timeout", "ok,ok")

#: Another plugin's makereport wrapper and logreport hook: they must see the same reports.
WATCHER = """
import json
import pytest

SEEN = []

@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    report.user_properties.append(("watched", call.when))
    return report

def pytest_runtest_logreport(report):
    SEEN.append([report.nodeid, report.when, report.outcome,
                 [list(p) for p in report.user_properties if p[0] == "watched"]])

def pytest_unconfigure(config):
    if not hasattr(config, "workerinput"):
        with open("seen.json", "w") as out:
            json.dump(sorted(SEEN), out)
"""

_TIMES = re.compile(r"\d+\.\d+s|\d+\.\d+ ?s\b| in \d+\.\d+s|time=\"[0-9.]+\"|timestamp=\"[^\"]*\"")


def _run(pytester: pytest.Pytester, protocol: str, *args: str) -> dict[str, Any]:
    """One campaign; what every consumer of reports kept of it."""
    folder = pytester.path / protocol
    folder.mkdir(exist_ok=True)
    out, xml = folder / "out.ndjson", folder / "junit.xml"
    result = pytester.runpytest_subprocess(
        f"--spider-targets={pytester.path / 't.ndjson'}",
        f"--spider-output={out}",
        f"--spider-protocol={protocol}",
        f"--junitxml={xml}",
        "-o",
        "junit_family=xunit1",
        "-rA",
        "-v",
        "experiments/",
        *args,
    )
    records = [
        {k: v for k, v in r.items() if k not in ("flow_results", "time")} for r in read_records(out)
    ]
    cache = pytester.path / ".pytest_cache" / "v" / "cache" / "lastfailed"
    lastfailed = json.loads(cache.read_text()) if cache.exists() else {}
    seen = json.loads((pytester.path / "seen.json").read_text())
    lines = [_TIMES.sub("T", line) for line in result.outlines if "seconds" not in line]
    return {
        "outcomes": result.parseoutcomes(),
        "ret": result.ret,
        "terminal": [line for line in lines if "::Scripted[" in line or "passed" in line],
        "junit": _junit(xml),
        "records": sorted(records, key=lambda r: str(r["dip"])),
        "lastfailed": sorted(lastfailed),
        "seen": seen,
    }


def _junit(path: Path) -> list[Any]:
    cases = ET.parse(path).getroot().iter("testcase")
    return sorted(
        [
            case.get("classname"),
            case.get("name"),
            case.get("file"),
            case.get("line"),
            [child.tag for child in case],
            [(p.get("name"), p.get("value")) for p in case.iter("property")],
        ]
        for case in cases
    )


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_lean_and_full_protocols_report_the_same(
    scripted: pytest.Pytester, workers: list[str]
) -> None:
    scripted.makeconftest(WATCHER)
    write_targets(scripted.path / "t.ndjson", scripted_targets(*SCRIPTS))
    lean = _run(scripted, "lean", *workers)
    full = _run(scripted, "full", *workers)
    assert lean["outcomes"] == {"passed": 3, "failed": 2, "errors": 1, "skipped": 1}
    for consumer in ("outcomes", "ret", "junit", "records", "lastfailed", "seen"):
        assert lean[consumer] == full[consumer], consumer
    if not workers:  # under xdist, workers finish in any order
        assert lean["terminal"] == full["terminal"]
    # The watcher saw all three phases of every item, its wrapper ran for each.
    assert len(lean["seen"]) == 3 * len(SCRIPTS) - 1  # the error item has no call phase


def test_exitfirst_and_last_failed_under_the_lean_protocol(scripted: pytest.Pytester) -> None:
    write_targets(scripted.path / "t.ndjson", scripted_targets("ok,ok", "ok,fail", "ok,ok"))
    targets = f"--spider-targets={scripted.path / 't.ndjson'}"
    first = scripted.runpytest(targets, "experiments/", "-x", "--spider-concurrency=1",
                               "--spider-lookahead=1")  # fmt: skip
    first.assert_outcomes(passed=1, failed=1)
    again = scripted.runpytest(targets, "experiments/", "--lf", "-v")
    again.assert_outcomes(failed=1)
    again.stdout.fnmatch_lines(["*Scripted[[]198.18.0.2:80 t1.example[]] FAILED*"])


PROBE = """
import pytest

FULL = []

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    FULL.append(item.name)
    yield

def pytest_unconfigure(config):
    print("full protocol:", sorted(FULL))
"""


def _full_protocol_items(pytester: pytest.Pytester, *args: str) -> str:
    pytester.makeconftest(PROBE)
    write_targets(pytester.path / "t.ndjson", scripted_targets("ok,ok", "ok,ok", "ok,ok"))
    result = pytester.runpytest(
        f"--spider-targets={pytester.path / 't.ndjson'}", "-s", "-p", "no:randomly", *args
    )
    line = next(line for line in result.outlines if line.startswith("full protocol:"))
    return line.split(":", 1)[1].strip()


def test_only_the_last_item_of_a_lean_run_takes_the_full_protocol(
    scripted: pytest.Pytester,
) -> None:
    # (It leaves pytest's setup state as after any item of its own.)
    assert _full_protocol_items(scripted, "experiments/") == (
        "['Scripted[198.18.0.3:80 t2.example]']"
    )


def test_what_keeps_the_full_protocol(scripted: pytest.Pytester) -> None:
    everything = (
        "['Scripted[198.18.0.1:80 t0.example]', 'Scripted[198.18.0.2:80 t1.example]', "
        "'Scripted[198.18.0.3:80 t2.example]']"
    )
    assert _full_protocol_items(scripted, "experiments/", "--spider-protocol=full") == everything
    assert _full_protocol_items(scripted, "experiments/", "--setup-show") == everything
    module = scripted.path / "experiments" / "scripted.py"
    source = module.read_text()
    module.write_text(source.replace("class Scripted(", "@pytest.mark.slow\nclass Scripted("))
    (scripted.path / "pytest.ini").write_text("[pytest]\nmarkers =\n    slow: slow\n")
    module.write_text("import pytest\n" + module.read_text())
    assert _full_protocol_items(scripted, "experiments/") == everything
    module.write_text(source + "\n\ndef test_beside(spider_target):\n    pass\n")
    assert "Scripted[198.18.0.1:80 t0.example]" in _full_protocol_items(scripted, "experiments/")
    module.write_text(
        "import pytest\n\n@pytest.fixture(autouse=True)\ndef everywhere():\n    yield\n\n" + source
    )
    assert _full_protocol_items(scripted, "experiments/") == everything


@pytest.mark.parametrize("protocol", ["lean", "full"])
def test_the_call_lasts_as_long_as_the_measurement(
    scripted: pytest.Pytester, protocol: str
) -> None:
    """JUnit's time and --durations show what a target cost (0.3 s of 'sleep' here), not
    the moment an item took to pick up a result measured ahead."""
    write_targets(scripted.path / "t.ndjson", scripted_targets("sleep,ok", "ok,ok", "ok,ok"))
    xml = scripted.path / "junit.xml"
    result = scripted.runpytest(
        f"--spider-targets={scripted.path / 't.ndjson'}",
        f"--spider-protocol={protocol}",
        f"--junitxml={xml}",
        "--durations=1",
        "experiments/",
    )
    result.stdout.fnmatch_lines(["*0.3?s call *Scripted[[]198.18.0.1:80 t0.example[]]"])
    times = {
        case.get("name"): float(case.get("time") or 0)
        for case in ET.parse(xml).getroot().iter("testcase")
    }
    assert times["Scripted[198.18.0.1:80 t0.example]"] >= 0.3
    assert times["Scripted[198.18.0.2:80 t1.example]"] < 0.3
