"""matplotlib is the optional ``report`` extra: without it the report says so in one line and
exits 2, and the commands that do not draw (diff) work as before.

Each run is a fresh interpreter in which a meta-path finder refuses to import matplotlib, as
on a machine where ``pip install pytest-spider`` left the extra out.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).parent / "data"
OLD, NEW = str(DATA / "old.ndjson"), str(DATA / "new.ndjson")

#: Runs ``python -m pytest_spider ARGS`` with matplotlib made unimportable.
WITHOUT_MATPLOTLIB = """
import runpy, sys

class NoMatplotlib:
    def find_spec(self, name, path=None, target=None):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoMatplotlib())
for name in [n for n in sys.modules if n == "matplotlib" or n.startswith("matplotlib.")]:
    del sys.modules[name]
sys.argv = sys.argv[1:]
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


def without_matplotlib(
    *args: str, module: str = "pytest_spider", cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_MATPLOTLIB, module, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )


def test_report_without_matplotlib_names_the_extra_and_exits_2(tmp_path: Path) -> None:
    html = tmp_path / "report.html"
    run = without_matplotlib("report", NEW, "--html", str(html), "--baseline", OLD)
    assert run.returncode == 2, run.stderr
    assert run.stdout == ""
    assert run.stderr.splitlines() == [
        "error: the HTML report needs matplotlib (No module named 'matplotlib'): "
        "pip install 'pytest-spider[report]'"
    ]
    assert not html.exists()


def test_a_campaign_asking_for_a_report_without_matplotlib_is_a_usage_error(
    tmp_path: Path,
) -> None:
    """Refused before anything is measured, not after the campaign."""
    (tmp_path / "t.txt").write_text("127.0.0.1:9\n")
    run = without_matplotlib(
        "--spider-targets=t.txt",
        "--spider-experiment=h2",
        "--spider-output=out.ndjson",
        "--spider-report=report.html",
        "-p",
        "no:cacheprovider",
        module="pytest",
        cwd=tmp_path,
    )
    assert run.returncode == 4, run.stdout + run.stderr
    assert "--spider-report needs matplotlib: pip install 'pytest-spider[report]'" in run.stderr
    assert not (tmp_path / "out.ndjson").exists()


def test_diff_does_without_matplotlib() -> None:
    run = without_matplotlib("diff", OLD, NEW)
    assert run.returncode == 1, run.stderr  # 1: the data has a regression
    assert "1 regression" in run.stdout


def test_the_finder_really_hides_matplotlib() -> None:
    """Guards the two tests above: in the same interpreter, matplotlib is importable."""
    probe = "import matplotlib; print(matplotlib.__name__)"
    shown = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert shown.stdout.strip() == "matplotlib"
