"""The report as a person sees it: rendered by headless Chromium, offline, with no JS error.

The screenshot is kept in artifacts/report.png for a look. Chromium is told to resolve no
name at all, so even a reference the other tests missed could not leave the machine.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_spider.campaign.report import write_report
from tests.support.synth import synthetic_records, write_records

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHROMIUM = shutil.which("chromium")
#: Charts' colours for "works" and "broken": seen on screen only if the SVG really rendered.
WORKS_RGB, BROKEN_RGB = (0x43, 0xA0, 0x47), (0xE5, 0x39, 0x35)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None, reason="chromium is not installed (Debian package: chromium)"
    ),
]


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """One headless run, bounded in time, with networking features and name resolution off."""
    assert CHROMIUM is not None
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def console_messages(stderr: str) -> list[str]:
    """What the page wrote to the console (JS errors included)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A campaign of 1,500 targets x 3 experiments x 2 vantages, against an earlier one."""
    folder = tmp_path_factory.mktemp("campaign")
    options = {"experiments": ["h2", "tfo", "ecn"], "vantages": ["local", "lab-b"]}
    meta = {"start": "2026-11-25 13:00:00", "version": "0.1.0", "counts": {"bad_input": 4}}
    for name, seed in (("old", 1), ("new", 2)):
        records = synthetic_records(
            1500, seed=seed, experiments=options["experiments"], vantages=options["vantages"]
        )
        write_records(folder / f"{name}.ndjson", records, meta | {"options": options})
    html = folder / "report.html"
    write_report([folder / "new.ndjson"], html, baseline_paths=[folder / "old.ndjson"])
    return html


def test_screenshot_shows_the_charts(report: Path, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    run = chromium(
        tmp_path / "profile", f"--screenshot={shot}", "--window-size=1400,2000", report.as_uri()
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert console_messages(run.stderr) == []
    image = pytest.importorskip("PIL.Image").open(shot).convert("RGB")
    assert image.size == (1400, 2000)
    colours = {rgb for _, rgb in image.getcolors(maxcolors=1 << 20) or []}
    assert WORKS_RGB in colours and BROKEN_RGB in colours


def test_dom_has_charts_and_the_sorter_ran(report: Path, tmp_path: Path) -> None:
    # The sort order lives in the URL: the conditions table by records (column 2), ascending.
    run = chromium(tmp_path / "profile", "--dump-dom", report.as_uri() + "#sort=conditions.2.asc")
    assert run.returncode == 0, run.stderr[-2000:]
    assert console_messages(run.stderr) == []
    dom = run.stdout
    # conditions; per vantage, AS and country; whether the vantages agree; times
    assert dom.count("<svg") == 6
    assert 'aria-sort="none"' in dom  # the script ran over every sortable table
    table = dom[dom.index('id="conditions"') :]
    table = table[: table.index("</table>")]
    assert 'aria-sort="ascending"' in table
    records = [int(v) for v in re.findall(r'<td class="n" data-v="(\d+)">', table)]
    assert len(records) > 10
    assert records == sorted(records)


def test_path_dependent_targets_sort_by_a_vantage_column(report: Path, tmp_path: Path) -> None:
    """Two vantages: the path-dependent targets' table, sorted by local's conditions (its
    last column: vantages by name), descending, from the URL."""
    run = chromium(
        tmp_path / "profile", "--dump-dom", report.as_uri() + "#sort=vantage-targets.4.desc"
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert console_messages(run.stderr) == []
    dom = run.stdout
    table = dom[dom.index('id="vantage-targets"') :]
    table = table[: table.index("</table>")]
    headers = re.findall(r'<th aria-sort="(\w+)"[^>]*>([^<]*)</th>', table)
    assert headers[3:] == [("none", "from lab-b"), ("descending", "from local")]
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.DOTALL)[1:]
    experiments = [re.findall(r"<td>([^<]*)</td>", row)[-1].split(".")[0] for row in rows]
    assert len(set(experiments)) == 3
    assert experiments == sorted(experiments, reverse=True)
