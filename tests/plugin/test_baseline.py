"""Gating against a previous campaign, and the HTML report at the end of a run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.plugin.conftest import read_records, scripted_targets, write_targets


def _campaign(
    pytester: pytest.Pytester, name: str, *scripts: str, args: tuple[str, ...] = ()
) -> tuple[pytest.RunResult, Path]:
    targets = write_targets(pytester.path / f"{name}.targets", scripted_targets(*scripts))
    out = pytester.path / f"{name}.ndjson"
    result = pytester.runpytest(
        f"--spider-targets={targets}", f"--spider-output={out}", "experiments/", *args
    )
    return result, out


def test_with_a_baseline_only_regressions_fail(scripted: pytest.Pytester) -> None:
    # t0 stays broken, t1 breaks now (regression), t2 recovers, t3 stays fine.
    _campaign(scripted, "old", "ok,fail", "ok,ok", "ok,fail", "ok,ok")
    result, new = _campaign(
        scripted,
        "new",
        "ok,fail",
        "ok,fail",
        "ok,ok",
        "ok,ok",
        args=("--spider-baseline", "old.ndjson"),
    )
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "baseline old.ndjson:",
            "*1 regression*1 improvement*1 still_failing*",
            "*regression*scripted*198.18.0.2:80*scripted.connectivity.works*"
            "scripted.connectivity.broken*",
        ]
    )
    records = {r["domain"]: r for r in read_records(new)}
    assert records["t0.example"]["outcome"] == "passed"
    assert records["t0.example"]["reason"] == (
        "still failing, as in the baseline (scripted.connectivity.broken)"
    )
    assert records["t1.example"]["outcome"] == "failed"


def test_a_bad_baseline_is_a_usage_error(scripted: pytest.Pytester) -> None:
    (scripted.path / "bad.ndjson").write_text("not json\n")
    result, _ = _campaign(scripted, "x", "ok,ok", args=("--spider-baseline=bad.ndjson",))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --spider-baseline: *bad.ndjson*"])


def test_the_run_writes_its_html_report(scripted: pytest.Pytester) -> None:
    result, _ = _campaign(
        scripted, "run", "ok,ok", "ok,fail", args=("--spider-report=report.html",)
    )
    result.assert_outcomes(passed=1, failed=1)
    html = (scripted.path / "report.html").read_text()
    assert "<svg" in html and "scripted.connectivity.broken" in html
    assert "http://" not in html.replace("http://www.w3.org", "")
    result, _ = _campaign(scripted, "again", "ok,ok", args=("--spider-report=r.html",))
    # Without --spider-output there are no records to report on.
    no_output = scripted.runpytest(
        "--spider-targets=again.targets", "--spider-report=r.html", "experiments/"
    )
    assert no_output.ret == pytest.ExitCode.USAGE_ERROR
