"""The report and diff commands: what they print and the exit codes scripts rely on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pytest_spider.campaign.cli import diff_main, main, report_main

DATA = Path(__file__).parent / "data"
OLD, NEW = str(DATA / "old.ndjson"), str(DATA / "new.ndjson")


def test_diff_exits_1_on_regressions_and_prints_the_table(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert diff_main([OLD, NEW]) == 1
    out = capsys.readouterr().out
    assert "1 regression" in out
    assert "regression     h2" in out


def test_diff_exits_0_without_regressions(capsys: pytest.CaptureFixture[str]) -> None:
    # Targets broken in both campaigns are still failing: noted, but no regression.
    assert diff_main([OLD, OLD]) == 0
    assert "2 still_failing, 5 unchanged" in capsys.readouterr().out


def test_diff_fail_on_globs(capsys: pytest.CaptureFixture[str]) -> None:
    assert diff_main([OLD, NEW, "--fail-on", "*.upgrade.failed"]) == 1
    assert "fail globs *.upgrade.failed:" in capsys.readouterr().out
    assert diff_main([OLD, NEW, "--fail-on", "nothing.*", "--fail-on", "*.none"]) == 0


def test_diff_exits_2_on_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.ndjson"
    bad.write_text('{"conditions": []}\nnot json\n')
    assert diff_main([OLD, str(bad)]) == 2
    assert f"{bad}:2: not JSON" in capsys.readouterr().err
    assert diff_main([OLD, str(tmp_path / "absent.ndjson")]) == 2
    assert diff_main([OLD]) == 2  # usage error
    assert "usage:" in capsys.readouterr().err


def test_report_writes_the_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    html = tmp_path / "report.html"
    assert report_main([NEW, "--html", str(html), "--baseline", OLD]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"wrote {html}: 8 records, 7 targets in ")
    assert "against the baseline: 1 regression" in out
    assert html.read_text().startswith("<!DOCTYPE html>")


def test_report_exits_2_on_bad_input_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    html = tmp_path / "report.html"
    targets = tmp_path / "targets.ndjson"
    targets.write_text('{"dip": "198.18.0.1", "dp": 443}\n')
    assert report_main([str(targets), "--html", str(html)]) == 2
    assert "is it a target list?" in capsys.readouterr().err
    assert not html.exists()
    assert report_main([NEW]) == 2  # --html is required


def test_main_dispatches_and_rejects_unknown_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", OLD, OLD]) == 0
    assert main(["plot"]) == 2
    assert main([]) == 2
    assert "report|diff" in capsys.readouterr().err


def test_module_entry_point_runs_in_a_fresh_interpreter() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pytest_spider.campaign", "diff", OLD, NEW],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 1, run.stderr
    assert "1 regression" in run.stdout
