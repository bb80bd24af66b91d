"""--spider-resume after a real run is killed with SIGKILL: every target exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_spider.campaign.load import RecordStream
from tests.plugin.conftest import read_output, scripted_targets, write_targets

TARGETS = 40


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_a_killed_campaign_resumes_with_every_target_once(
    scripted: pytest.Pytester, workers: list[str]
) -> None:
    targets = write_targets(scripted.path / "t.ndjson", scripted_targets(*["sleep,ok"] * TARGETS))
    out = scripted.path / "out.ndjson"
    argv = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--spider-targets={targets}",
        f"--spider-output={out}", "--spider-concurrency=2", "--spider-lookahead=2",
        "experiments/", *workers,
    ]  # fmt: skip
    run = subprocess.Popen(
        argv, cwd=scripted.path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while _lines(out) < 8 and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.05)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    before = _lines(out)
    assert 8 <= before < TARGETS
    # Whatever the kill left, a torn line is possible: make sure there is one.
    with out.open("a") as stream:
        stream.write('{"dip": "198.18.0.99", "conditions": ["h2.conn')

    resumed = scripted.runpytest_subprocess(*argv[5:], "--spider-resume")
    # (xdist's controller does not count what its workers deselect.)
    resumed.assert_outcomes(passed=TARGETS - before, deselected=0 if workers else before)
    lines = out.read_text().splitlines()
    assert all(json.loads(line) for line in lines)  # no torn line left
    records, metadata = read_output(out)
    assert sorted(r["dip"] for r in records) == sorted(
        t["dip"] for t in scripted_targets(*["sleep,ok"] * TARGETS)
    )
    assert metadata[-1]["resumed_past"] == before


def test_resume_needs_an_output_file(scripted: pytest.Pytester) -> None:
    targets = write_targets(scripted.path / "t.ndjson", scripted_targets("ok,ok"))
    result = scripted.runpytest(f"--spider-targets={targets}", "--spider-resume", "experiments/")
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_a_large_list_runs_in_batches_into_one_output(scripted: pytest.Pytester) -> None:
    """The documented way for 10^6 targets: memory bounded by the batch, one merged file."""
    everything = scripted_targets(*["ok,ok"] * 30)
    out = scripted.path / "campaign.ndjson"
    for number, start in enumerate(range(0, 30, 10)):
        batch = write_targets(
            scripted.path / f"batch-{number}.ndjson", everything[start : start + 10]
        )
        result = scripted.runpytest(
            f"--spider-targets={batch}", f"--spider-output={out}", "--spider-resume",
            "experiments/",
        )  # fmt: skip
        result.assert_outcomes(passed=10)
    records, metadata = read_output(out)
    assert [r["dip"] for r in records] == [t["dip"] for t in everything]
    assert len(metadata) == 3


def test_ctrl_c_stops_measuring_and_keeps_what_finished(scripted: pytest.Pytester) -> None:
    targets = write_targets(scripted.path / "t.ndjson", scripted_targets(*["sleep,ok"] * 200))
    out = scripted.path / "out.ndjson"
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--spider-targets={targets}",
         f"--spider-output={out}", "--spider-concurrency=4", "experiments/"],
        cwd=scripted.path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while _lines(out) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    run.send_signal(signal.SIGINT)
    assert run.wait(timeout=15) == pytest.ExitCode.INTERRUPTED
    records, metadata = read_output(out)
    assert 4 <= len(records) < 200
    assert len(metadata) == 1  # the campaign still describes itself


def _measure(pytester: pytest.Pytester, *args: str, targets: int = 4) -> pytest.RunResult:
    listed = write_targets(pytester.path / "t.ndjson", scripted_targets(*["ok,ok"] * targets))
    return pytester.runpytest_subprocess(
        f"--spider-targets={listed}", "--spider-output=out.ndjson", "experiments/", *args
    )


def test_a_bad_line_in_the_middle_stops_the_resume_and_cuts_nothing(
    scripted: pytest.Pytester,
) -> None:
    """Only a torn last line may be cut: a damaged line elsewhere is no crash's trace, and
    the records after it are data (the probe lost 8 of them)."""
    _measure(scripted, targets=6).assert_outcomes(passed=6)
    out = scripted.path / "out.ndjson"
    lines = out.read_bytes().splitlines(keepends=True)
    damaged = b"".join([*lines[:2], b'{"dip": "198.18.0.3", "condi\n', *lines[3:]])
    out.write_bytes(damaged)
    result = _measure(scripted, "--spider-resume", targets=6)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.startswith("ERROR:")]
    assert len(errors) == 1 and "out.ndjson:3: not JSON" in errors[0], result.stderr.lines
    assert out.read_bytes() == damaged  # nothing cut, nothing appended


def test_a_whole_last_record_without_its_newline_is_kept(scripted: pytest.Pytester) -> None:
    """A kill between a record and its newline leaves a whole record: it gets its newline."""
    _measure(scripted, targets=3).assert_outcomes(passed=3)
    out = scripted.path / "out.ndjson"
    out.write_bytes(out.read_bytes().rstrip(b"\n"))
    _measure(scripted, "--spider-resume", targets=4).assert_outcomes(passed=1, deselected=3)
    records, _ = read_output(out)
    assert sorted(r["dip"] for r in records) == [f"198.18.0.{i}" for i in range(1, 5)]


@pytest.mark.parametrize(
    ("changed", "said"),
    [
        (["--spider-connect=https"], "--spider-connect (not given), now https"),
        (["--spider-timeout=2"], "--spider-timeout 3.0, now 2.0"),
        (["--spider-trials=2"], "--spider-trials 1, now 2"),
        (["--spider-codepoint=10"], "--spider-codepoint (not given), now 10"),
        (["--spider-fail-on=*.offline"], "--spider-fail-on *.connectivity.broken, now *.offline"),
    ],
)
def test_a_resume_with_other_options_is_refused_and_changes_nothing(
    scripted: pytest.Pytester, changed: list[str], said: str
) -> None:
    _measure(scripted, "--spider-timeout=3", targets=2).assert_outcomes(passed=2)
    out, meta = scripted.path / "out.ndjson", scripted.path / "out.ndjson.meta.json"
    before = out.read_bytes(), meta.read_bytes()
    result = _measure(scripted, "--spider-timeout=3", "--spider-resume", *changed, targets=3)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: --spider-resume: out.ndjson was measured with *{said}*"])
    assert (out.read_bytes(), meta.read_bytes()) == before


def test_a_resume_with_other_experiments_is_refused_and_changes_nothing(
    scripted: pytest.Pytester,
) -> None:
    _measure(scripted, targets=2).assert_outcomes(passed=2)
    out, meta = scripted.path / "out.ndjson", scripted.path / "out.ndjson.meta.json"
    before = out.read_bytes(), meta.read_bytes()
    source = (scripted.path / "experiments" / "scripted.py").read_text()
    scripted.mkdir("more")
    (scripted.path / "more" / "other.py").write_text(
        source.replace('name = "scripted"', 'name = "other"').replace("Scripted", "Other")
    )
    result = _measure(scripted, "--spider-resume", "more/", targets=2)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --spider-resume: out.ndjson holds a campaign of scripted, this run measures "
         "other, scripted*"]
    )  # fmt: skip
    assert (out.read_bytes(), meta.read_bytes()) == before


def test_a_process_that_dies_at_once_leaves_its_output_and_metadata(
    scripted: pytest.Pytester,
) -> None:
    """Both files are opened before the first connection: os._exit in a conn_ leaves them."""
    targets = scripted_targets("ok,ok", "ok,crash_once")
    for target in targets:
        target["marker"] = str(scripted.path / "crashed")
    listed = write_targets(scripted.path / "t.ndjson", targets)
    argv = [f"--spider-targets={listed}", "--spider-output=out.ndjson", "experiments/"]
    died = scripted.runpytest_subprocess(*argv)
    assert died.ret == 3  # the scripted os._exit
    assert (scripted.path / "out.ndjson").exists()
    [session] = json.loads((scripted.path / "out.ndjson.meta.json").read_text())["sessions"]
    assert session["end"] is None and session["experiments"] == ["scripted"]
    kept = len((scripted.path / "out.ndjson").read_text().splitlines())  # 0 or 1, by timing
    resumed = scripted.runpytest_subprocess(*argv, "--spider-resume")
    resumed.assert_outcomes(passed=2 - kept, deselected=kept)
    assert len(read_output(scripted.path / "out.ndjson")[0]) == 2


def test_an_output_of_an_earlier_version_resumes_with_its_metadata_line(
    scripted: pytest.Pytester,
) -> None:
    """Earlier outputs ended with a {"spider_campaign": ...} line: it still says how the
    campaign was measured, and its session moves into the metadata file once."""
    _measure(scripted, "--spider-timeout=3", targets=2).assert_outcomes(passed=2)
    out, meta = scripted.path / "out.ndjson", scripted.path / "out.ndjson.meta.json"
    [session] = json.loads(meta.read_text())["sessions"]
    meta.unlink()
    with out.open("a") as stream:
        stream.write(json.dumps({"spider_campaign": session}) + "\n")
    refused = _measure(scripted, "--spider-resume", targets=3)
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(["*--spider-timeout 3.0, now 5.0*"])
    _measure(scripted, "--spider-timeout=3", "--spider-resume", targets=3).assert_outcomes(
        passed=1, deselected=2
    )
    records = RecordStream([out])
    assert len(list(records)) == 3
    assert [s["resumed_past"] for s in records.campaigns] == [0, 2]
