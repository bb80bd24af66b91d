"""Making the HTML report of record files: one streaming pass, then one page written.

This is what ``python -m pytest_spider report`` and the plugin's ``--spider-report`` call.
The charts need matplotlib, the ``report`` extra: without it :func:`write_report` raises
:class:`ReportExtraMissing` before reading anything.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence

from pytest_spider.campaign import REPORT_EXTRA
from pytest_spider.campaign.aggregate import Summary
from pytest_spider.campaign.compare import (
    DEFAULT_FAIL_GLOBS,
    Baseline,
    Comparison,
    campaign_fail_globs,
    diff_baselines,
    load_baseline,
)
from pytest_spider.campaign.load import RecordStream

Paths = Sequence[str | os.PathLike[str]]


class ReportExtraMissing(ImportError):
    """matplotlib, which draws the report's charts (the ``report`` extra), is not installed."""


def require_report_extra() -> None:
    """Raise :class:`ReportExtraMissing`, with a one-line message, if matplotlib won't import."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        message = f"the HTML report needs matplotlib ({exc}): {REPORT_EXTRA}"
        raise ReportExtraMissing(message) from exc


@dataclasses.dataclass
class ReportResult:
    """What was written, for the caller's one-line message."""

    path: str
    summary: Summary
    comparison: Comparison | None
    seconds: float


def write_report(
    record_paths: Paths,
    html_path: str | os.PathLike[str],
    *,
    baseline_paths: Paths = (),
    fail_globs: Sequence[str] | None = None,
    top: int = 10,
    title: str | None = None,
    metadata_paths: Paths | None = None,
) -> ReportResult:
    """Write the report of ``record_paths`` (with a diff against ``baseline_paths`` if given).

    ``fail_globs``: what a regression is; None takes the campaign's own (its metadata's
    ``fail_on``), else the defaults. ``metadata_paths``: the campaign's metadata files, if not
    beside the records (``<records>.meta.json``).

    Raises RecordFileError on unreadable or malformed input, before anything is written, and
    ReportExtraMissing without matplotlib, before anything is read.
    """
    require_report_extra()
    from pytest_spider.campaign.html import render  # imports matplotlib

    started = time.perf_counter()
    baseline = load_baseline(baseline_paths) if baseline_paths else None
    fresh = Baseline() if baseline is not None else None
    stream = RecordStream(record_paths, metadata_paths)
    summary = Summary()
    for record in stream:
        summary.add(record)
        if fresh is not None:
            fresh.add(record)
    summary.campaigns = stream.campaigns
    globs = fail_globs or campaign_fail_globs(stream.campaigns) or DEFAULT_FAIL_GLOBS
    comparison = None
    if baseline is not None and fresh is not None:
        comparison = diff_baselines(baseline, fresh, globs)
    agreement = summary.tally.agreement
    page = render(
        summary,
        comparison,
        title=title or "pytest-spider campaign report",
        sources=stream.paths,
        top=top,
        agreement=agreement.result(globs) if agreement is not None else None,
    )
    target = os.fspath(html_path)
    with open(target, "w", encoding="utf-8") as out:
        out.write(page)
    return ReportResult(target, summary, comparison, time.perf_counter() - started)
