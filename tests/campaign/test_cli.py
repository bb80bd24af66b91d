"""The report and diff commands: what they print and the exit codes scripts rely on."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

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
    # (NEW lost a target of OLD: allowed here, to see the globs alone.)
    assert diff_main([OLD, NEW, "--fail-on", "nothing.*", "--fail-on", "*.none"]) == 1
    assert diff_main([OLD, NEW, "--vanished=ignore", "--fail-on", "nothing.*"]) == 0


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


def _write(path: Path, *records: dict[str, Any], fail_on: list[str] | None = None) -> str:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    if fail_on is not None:
        session = {"options": {"fail_on": fail_on}, "counts": {}}
        meta = {"records": str(path), "sessions": [session]}
        Path(f"{path}.meta.json").write_text(json.dumps(meta))
    return str(path)


def _record(dip: str, *conditions: str) -> dict[str, Any]:
    flows = [{"config": 0, "spdr_state": 0}, {"config": 1, "spdr_state": 0}]
    return {"dip": dip, "dp": 80, "experiment": "h2", "conditions": list(conditions),
            "flow_results": flows, "outcome": "passed"}  # fmt: skip


WORKS, OFFLINE = "h2.connectivity.works", "h2.connectivity.offline"


def test_a_target_recorded_twice_fails_the_gate_unless_allowed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The probe: a target recorded twice kept its last record, and the diff passed."""
    old = _write(tmp_path / "old.ndjson", _record("198.18.0.1", WORKS))
    new = _write(
        tmp_path / "new.ndjson", _record("198.18.0.1", "h2.connectivity.broken"),
        _record("198.18.0.1", WORKS),
    )  # fmt: skip
    assert diff_main([old, new]) == 1
    out = capsys.readouterr().out
    assert "1 unchanged, 1 duplicate" in out
    assert re.search(r"\nduplicate +h2 +198\.18\.0\.1:80 +local +1 records +2 records\n", out)
    assert "gate fails: 1 target(s) recorded more than once" in out
    assert diff_main([old, new, "--duplicates=last"]) == 0


def test_vanished_targets_fail_the_gate_unless_ignored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = _write(
        tmp_path / "old.ndjson", _record("198.18.0.1", WORKS), _record("198.18.0.2", WORKS)
    )
    new = _write(tmp_path / "new.ndjson", _record("198.18.0.1", WORKS))
    assert diff_main([old, new]) == 1
    assert "gate fails: 1 target(s) vanished from the new campaign" in capsys.readouterr().out
    assert diff_main([old, new, "--vanished=ignore"]) == 0


def test_without_fail_on_the_campaigns_own_globs_decide(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The probe: a run with --spider-fail-on=*.connectivity.offline diffed to "changed",
    exit 0, because diff used the default globs."""
    old = _write(tmp_path / "old.ndjson", _record("198.18.0.1", WORKS), fail_on=[])
    new = _write(
        tmp_path / "new.ndjson", _record("198.18.0.1", OFFLINE), fail_on=["*.connectivity.offline"]
    )
    assert diff_main([old, new]) == 1
    out = capsys.readouterr().out
    assert (
        f"fail globs *.connectivity.offline ({new}'s own, from its metadata): 1 regression" in out
    )
    assert diff_main([old, new, "--fail-on", "*.connectivity.broken"]) == 0
    moved = tmp_path / "elsewhere.json"
    Path(f"{new}.meta.json").rename(moved)
    assert diff_main([old, new]) == 0  # no metadata: the defaults
    assert "(the defaults)" in capsys.readouterr().out
    assert diff_main([old, new, "--new-metadata", str(moved)]) == 1
    capsys.readouterr()
    html = str(tmp_path / "report.html")
    assert report_main([new, "--html", html, "--baseline", old, "--metadata", str(moved)]) == 0
    assert "against the baseline: 1 regression" in capsys.readouterr().out
