"""The files a run writes: checked before anything is measured, never a user's other file, and
a full disk stops the run with every whole record kept."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.plugin.conftest import read_output, scripted_targets, write_targets


def _targets(pytester: pytest.Pytester, count: int = 3, pad: int = 0) -> Path:
    targets = scripted_targets(*["ok,ok"] * count)
    for target in targets:
        if pad:
            target["pad"] = "x" * pad
    return write_targets(pytester.path / "t.ndjson", targets)


def _one_error_line(result: pytest.RunResult) -> str:
    """The run's error: one line, and no traceback anywhere."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = "\n".join(result.outlines + result.errlines)
    assert "INTERNALERROR" not in text and "Traceback" not in text
    errors = [line for line in result.errlines if line.strip()]
    assert len(errors) == 1, errors
    return errors[0]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--spider-output=t.ndjson"], "--spider-output and --spider-targets"),
        (["--spider-output=old.ndjson", "--spider-baseline=old.ndjson"], "and --spider-baseline"),
        (["--spider-output=new.ndjson", "--spider-report=t.ndjson"], "--spider-report and"),
        (["--spider-output=new.ndjson", "--spider-report=new.ndjson"], "--spider-report and"),
        (["--spider-output=block.txt", "--spider-exclude=block.txt"], "and --spider-exclude"),
        (["--spider-output=new.ndjson", "--spider-metadata=t.ndjson"], "--spider-metadata and"),
        (["--spider-output=link.ndjson"], "(link.ndjson = t.ndjson)"),
        (["--spider-output=old.ndjson", "--spider-resume"], None),  # a legal resume
    ],
    ids=["targets", "baseline", "report", "report-output", "exclude", "meta", "symlink", "ok"],
)
def test_one_file_in_two_roles_is_refused_before_anything_changes(
    scripted: pytest.Pytester, args: list[str], said: str | None
) -> None:
    targets = _targets(scripted)
    (scripted.path / "block.txt").write_text("203.0.113.0/24\n")
    scripted.runpytest("--spider-targets=t.ndjson", "--spider-output=old.ndjson", "experiments/")
    os.symlink(targets, scripted.path / "link.ndjson")
    files = _files(scripted.path)
    result = scripted.runpytest_subprocess("--spider-targets=t.ndjson", "experiments/", *args)
    if said is None:
        result.assert_outcomes(deselected=3)
        return
    error = _one_error_line(result)
    assert said in error and "refusing to overwrite" in error, error
    assert _files(scripted.path) == files


def _files(where: Path) -> dict[str, bytes]:
    """The files in ``where`` and what they hold (pytester's captured output left out)."""
    return {
        path.name: path.read_bytes()
        for path in where.iterdir()
        if path.is_file() and path.name not in ("stdout", "stderr")
    }


@pytest.fixture
def mounted(tmp_path: Path) -> Iterator[Path]:
    """A directory to mount a small tmpfs on (skips where mounting is not permitted)."""
    where = tmp_path / "mnt"
    where.mkdir()
    yield where
    subprocess.run(["umount", str(where)], check=False, capture_output=True)


def _mount(where: Path, options: str) -> None:
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")


@pytest.mark.parametrize("kind", ["read-only", "directory", "/dev/full", "metadata-directory"])
def test_an_unwritable_output_is_one_usage_error_before_measuring(
    scripted: pytest.Pytester, mounted: Path, kind: str
) -> None:
    args = {
        "read-only": [f"--spider-output={mounted}/out.ndjson"],
        "directory": [f"--spider-output={scripted.path / 'experiments'}"],
        "/dev/full": ["--spider-output=/dev/full"],
        "metadata-directory": ["--spider-output=out.ndjson", "--spider-metadata=experiments"],
    }[kind]
    if kind == "read-only":
        _mount(mounted, "ro,size=64k")
    result = scripted.runpytest_subprocess(
        f"--spider-targets={_targets(scripted)}", "experiments/", *args
    )
    error = _one_error_line(result)
    assert error.startswith("ERROR: --spider-"), error
    assert "passed" not in "\n".join(result.outlines)  # nothing was measured


def test_a_full_disk_stops_the_run_keeps_whole_records_and_says_how_to_resume(
    scripted: pytest.Pytester, mounted: Path
) -> None:
    _mount(mounted, "size=64k")
    targets = _targets(scripted, count=250, pad=300)  # about 100 kB of records
    out = mounted / "out.ndjson"
    argv = [f"--spider-targets={targets}", f"--spider-output={out}", "experiments/"]
    result = scripted.runpytest_subprocess(*argv)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    text = "\n".join(result.outlines + result.errlines)
    assert "INTERNALERROR" not in text and "Traceback" not in text
    result.stdout.fnmatch_lines(
        ["OUTPUT ERROR: writing *out.ndjson failed (disk full): stopped; the * whole record(s) "
         "written are kept. Free space, then run the same command with --spider-resume*"]
    )  # fmt: skip
    data = out.read_bytes()
    assert data.endswith(b"\n")  # no torn record left behind
    kept = [json.loads(line) for line in data.splitlines()]
    assert 0 < len(kept) < 250
    assert result.parseoutcomes()["passed"] < 250  # measuring stopped
    subprocess.run(["mount", "-o", "remount,size=2m", str(mounted)], check=True)
    scripted.runpytest_subprocess(*argv, "--spider-resume").assert_outcomes(
        passed=250 - len(kept), deselected=len(kept)
    )
    records, sessions = read_output(out)
    assert sorted(r["dip"] for r in records) == sorted(t["dip"] for t in scripted_targets(
        *["ok,ok"] * 250
    ))  # fmt: skip
    assert [s["resumed_past"] for s in sessions] == [0, len(kept)]
