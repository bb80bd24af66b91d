"""Conditions to pytest outcomes, and the exit code as a CI gate."""

from __future__ import annotations

import time

import pytest

from tests.plugin.conftest import read_records, scripted_targets, write_targets


def _run(pytester: pytest.Pytester, scripts: tuple[str, ...], *args: str) -> pytest.RunResult:
    targets = write_targets(pytester.path / "t.ndjson", scripted_targets(*scripts))
    out = pytester.path / "out.ndjson"
    return pytester.runpytest(
        f"--spider-targets={targets}", f"--spider-output={out}", "experiments/", "-rA", *args
    )


def test_default_verdicts(scripted: pytest.Pytester) -> None:
    result = _run(scripted, ("ok,ok", "ok,fail", "fail,ok", "timeout,timeout"))
    # works and transient pass, broken fails, offline skips with its reason.
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*_ Scripted[[]198.18.0.2:80 t1.example[]] _*",
            "scripted.connectivity.broken (matches *.connectivity.broken);"
            " conn_exp: refused: scripted fail",
            "*SKIPPED*scripted.connectivity.offline*conn_base: timeout: scripted timeout*",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    records = read_records(scripted.path / "out.ndjson")
    assert [r["outcome"] for r in records] == ["passed", "failed", "passed", "skipped"]
    assert records[1]["reason"].startswith("Failed: scripted.connectivity.broken")


def test_fail_on_replaces_the_default_gate(scripted: pytest.Pytester) -> None:
    scripts = ("ok,ok", "ok,fail", "fail,ok")
    # Gate on "transient" only: the broken target now passes, the transient one fails.
    result = _run(scripted, scripts, "--spider-fail-on=*.transient")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["scripted.connectivity.transient (matches [*].transient); *"])
    # A gate nothing matches: green.
    assert _run(scripted, scripts, "--spider-fail-on=nothing.*").ret == pytest.ExitCode.OK


def test_skip_on_and_fail_on_together(scripted: pytest.Pytester) -> None:
    result = _run(
        scripted,
        ("ok,ok", "ok,fail"),
        "--spider-skip-on=*.works",
        "--spider-fail-on=*.offline",
    )
    result.assert_outcomes(skipped=1, passed=1)


def test_gate_from_the_ini_file(scripted: pytest.Pytester) -> None:
    scripted.makeini("[pytest]\nspider_fail_on =\n    *.transient\n    *.offline\n")
    result = _run(scripted, ("ok,fail", "fail,ok"))
    result.assert_outcomes(passed=1, failed=1)


def test_an_exception_in_a_conn_function_errors_that_item_only(scripted: pytest.Pytester) -> None:
    result = _run(scripted, ("ok,ok", "ok,raise", "ok,notadict", "ok,ok"))
    result.assert_outcomes(passed=2, errors=2)
    result.stdout.fnmatch_lines(
        ["*ConnFunctionError: conn_exp: ValueError: scripted failure in conn 1*"]
    )
    records = read_records(scripted.path / "out.ndjson")
    assert [r["outcome"] for r in records] == ["passed", "error", "error", "passed"]
    # The flow that finished before the exception is kept.
    assert [f["conn"] for f in records[1]["flow_results"]] == ["conn_base"]
    assert "not a result dict" in records[2]["reason"]


@pytest.mark.parametrize("step", ["exit", "interrupt"])
def test_systemexit_or_keyboardinterrupt_in_a_conn_function_is_that_items_error(
    scripted: pytest.Pytester, step: str
) -> None:
    """Raised in an engine thread, neither is the user's Ctrl-C nor the run's exit."""
    scripts = ("ok,ok", f"ok,{step}", *["ok,ok"] * 18)
    result = _run(scripted, scripts)
    result.assert_outcomes(passed=19, errors=1)
    name = "SystemExit" if step == "exit" else "KeyboardInterrupt"
    result.stdout.fnmatch_lines([f"*ConnFunctionError: conn_exp: {name}: scripted *"])
    records = read_records(scripted.path / "out.ndjson")
    assert len(records) == 20
    assert [r["outcome"] for r in records].count("passed") == 19


def test_a_hanging_conn_function_errors_within_its_budget(scripted: pytest.Pytester) -> None:
    start = time.monotonic()
    result = _run(scripted, ("ok,hang", "ok,ok"), "--spider-timeout=0.2")
    elapsed = time.monotonic() - start
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*SequenceHung: Scripted still running after 2.4 s*"])
    assert elapsed < 30


BLOCKING = """
import time
from pytest_spider import CONN_OK, DesynchronizedSpider, PluggableSpider


class Blocking(DesynchronizedSpider, PluggableSpider):
    name = "blocking"
    cooperative = True

    def conn_a(self, job, config):
        time.sleep(3.5)  # blocks the hub, as no helper would: the sequence runs long
        return {"spdr_state": CONN_OK}

    def conn_b(self, job, config):
        return {"spdr_state": CONN_OK}

    connections = [conn_a, conn_b]

    def combine_flows(self, flows):
        return []
"""


@pytest.mark.parametrize(("driver", "budget"), [("auto", "2.8"), ("threads", "2.4")])
def test_a_sequence_on_the_hub_may_take_each_connection_twice_before_it_hangs(
    pytester: pytest.Pytester, driver: str, budget: str
) -> None:
    """On the hub a connection whose timeout was the hub's own is made again (helpers.http):
    two timeouts per connection (4 x 0.2 s), plus the grace, before a sequence counts as
    hung. On threads nothing is made again: two timeouts plus the grace."""
    pytester.mkdir("experiments")
    (pytester.path / "experiments" / "blocking.py").write_text(BLOCKING)
    targets = write_targets(pytester.path / "t.ndjson", scripted_targets("ok,ok"))
    result = pytester.runpytest(
        f"--spider-targets={targets}", "--spider-timeout=0.2", f"--spider-driver={driver}"
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*SequenceHung: Blocking still running after {budget} s*"])


def test_discarded_targets_are_skipped_and_counted(scripted: pytest.Pytester) -> None:
    result = _run(scripted, ("discard,ok", "ok,ok"))
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*1 discarded*"])


def test_skips_are_shown_at_the_experiment_not_inside_pytest_spider(
    scripted: pytest.Pytester,
) -> None:
    module = scripted.path / "experiments" / "scripted.py"
    module.write_text(
        module.read_text() + "\n\ndef test_own_skip(spider_target):\n    pytest.skip('my reason')\n"
    )
    module.write_text("import pytest\n" + module.read_text())
    line = next(
        number
        for number, text in enumerate(module.read_text().splitlines(), 1)
        if text.startswith("class Scripted")
    )
    result = _run(scripted, ("timeout,timeout",), "-rs")
    result.stdout.fnmatch_lines_random(
        [
            f"SKIPPED [[]1[]] experiments/scripted.py:{line}: scripted.connectivity.offline*",
            "SKIPPED [[]1[]] experiments/scripted.py:*: my reason",
        ]
    )
    assert "pytest_spider" not in result.stdout.str().split("short test summary")[1]
