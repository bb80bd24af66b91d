"""Collection honours what users write: any experiment class with ``connections``, marks and
``usefixtures`` on the class, PATHspider's ``--connect`` handling, and items that are pytest's
own parametrized functions (location, keywords, the module left as it was)."""

from __future__ import annotations

import pytest

from tests.plugin.conftest import read_records, scripted_targets, write_targets

#: An experiment whose one connection is not called conn_*, reporting what it was given.
ECHO = """
import pytest
from pytest_spider import CONN_OK, DesynchronizedSpider


class Echo(DesynchronizedSpider):
    def resolve(self, job, config):
        return {"spdr_state": CONN_OK, "sp": 1, "connect": self.args.connect}

    connections = [resolve]

    def combine_flows(self, flows):
        return [f"{self.name}.mode.{flows[0]['connect']}"]
"""


def _targets(pytester: pytest.Pytester, count: int = 2) -> str:
    path = write_targets(pytester.path / "t.ndjson", scripted_targets(*["ok,ok"] * count))
    return str(path)


def test_any_class_with_connections_makes_an_experiment_module(pytester: pytest.Pytester) -> None:
    pytester.mkdir("experiments")
    (pytester.path / "experiments" / "echo.py").write_text(ECHO)
    out = pytester.path / "out.ndjson"
    result = pytester.runpytest(
        f"--spider-targets={_targets(pytester)}", f"--spider-output={out}", "experiments/echo.py"
    )
    result.assert_outcomes(passed=2)
    # No name given: the class's, lower-cased; no modes declared: PATHspider's default.
    assert [r["conditions"] for r in read_records(out)] == [["echo.mode.http"]] * 2
    assert {r["experiment"] for r in read_records(out)} == {"echo"}


def test_a_mode_reaches_an_experiment_that_declares_none_as_given(
    pytester: pytest.Pytester,
) -> None:
    pytester.mkdir("experiments")
    (pytester.path / "experiments" / "echo.py").write_text(ECHO)
    out = pytester.path / "out.ndjson"
    result = pytester.runpytest(
        f"--spider-targets={_targets(pytester, 1)}",
        f"--spider-output={out}",
        "--spider-connect=https",
        "experiments/",
    )
    result.assert_outcomes(passed=1)
    assert read_records(out)[0]["conditions"] == ["echo.mode.https"]


MARKED = """
import pytest
from pytest_spider import CONN_OK, DesynchronizedSpider

USED = []


@pytest.fixture
def announce():
    USED.append(1)
    yield
    USED.append(-1)


@pytest.mark.slow
@pytest.mark.usefixtures("announce")
class Marked(DesynchronizedSpider):
    \"\"\"Marked on the class.\"\"\"

    def conn_a(self, job, config):
        return {"spdr_state": CONN_OK, "sp": 1}

    connections = [conn_a]

    def combine_flows(self, flows):
        return [f"marked.used.{sum(USED)}"]


def test_fixture_ran_for_each_item():
    # Each item that ran before this test set the fixture up and tore it down.
    assert USED in ([], [1, -1, 1, -1])
"""


def test_class_marks_apply_to_its_items(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmarkers =\n    slow: slow ones\n")
    pytester.makepyfile(test_marked=MARKED)
    targets = _targets(pytester)
    out = pytester.path / "out.ndjson"
    result = pytester.runpytest(
        f"--spider-targets={targets}", f"--spider-output={out}", "-m", "slow", "--strict-markers"
    )
    result.assert_outcomes(passed=2, deselected=1)
    # usefixtures on the class: the fixture was up while each item's record was made.
    assert [r["conditions"] for r in read_records(out)] == [["marked.used.1"]] * 2
    everything = pytester.runpytest(f"--spider-targets={targets}", "-p", "no:randomly")
    everything.assert_outcomes(passed=3)
    pytester.runpytest(f"--spider-targets={targets}", "-m", "not slow").assert_outcomes(
        passed=1, deselected=2
    )


ITEMS_PROBE = """
def pytest_collection_finish(session):
    item = session.items[0]
    module = item.module
    lines = [
        f"location {item.location[0]}:{item.location[1]}",
        f"obj is class {item.obj is module.Scripted}",
        f"module keeps its class {isinstance(module.Scripted, type)}",
        f"marks {sorted(m.name for m in item.iter_markers())}",
        f"class keywords {sorted(k for k in item.keywords if k in vars(module.Scripted))}",
        f"callspec {sorted(item.callspec.params)}",
    ]
    print("\\n".join(lines))
"""


def test_items_are_parametrized_functions_located_at_the_class(
    scripted: pytest.Pytester,
) -> None:
    scripted.makeconftest(ITEMS_PROBE)
    targets = _targets(scripted)
    result = scripted.runpytest(f"--spider-targets={targets}", "experiments/", "--co", "-s")
    class_line = (scripted.path / "experiments" / "scripted.py").read_text().splitlines()
    line = next(i for i, text in enumerate(class_line) if text.startswith("class Scripted"))
    result.stdout.fnmatch_lines(
        [
            f"location experiments/scripted.py:{line}",
            "obj is class False",
            "module keeps its class True",
            "marks ['spider']",
            "class keywords []",
            "callspec ['spider_verdict']",
        ]
    )


def test_a_module_with_experiments_only_imported_collects_nothing_of_them(
    scripted: pytest.Pytester,
) -> None:
    scripted.makepyfile(
        test_imports="from experiments.scripted import Scripted\n\ndef test_ok():\n    pass\n"
    )
    (scripted.path / "experiments" / "__init__.py").write_text("")
    result = scripted.runpytest(f"--spider-targets={_targets(scripted)}", "test_imports.py")
    result.assert_outcomes(passed=1)
