"""``python -m pytest_spider report|diff``: the campaign commands, as functions returning codes.

Exit codes: 0 done (the gate passes), 1 the gate fails (diff only: regressions, and by default
vanished targets and duplicate records), 2 bad arguments or input. Without ``--fail-on`` the
fail globs are the campaign's own (its metadata's), else the defaults.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pytest_spider.campaign.compare import (
    DEFAULT_FAIL_GLOBS,
    DUPLICATE_POLICIES,
    FAIL,
    VANISHED_POLICIES,
    Baseline,
    campaign_fail_globs,
    diff_baselines,
)
from pytest_spider.campaign.load import RecordFileError, RecordStream

EXIT_OK = 0
EXIT_REGRESSIONS = 1
EXIT_BAD_INPUT = 2


def _fail_on(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fail-on",
        action="append",
        metavar="GLOB",
        help="a condition glob that marks a failure (repeatable; default: the campaign's "
        f"own, from its metadata, else {' '.join(DEFAULT_FAIL_GLOBS)})",
    )


def _globs(
    given: list[str] | None, *campaigns: tuple[str, RecordStream]
) -> tuple[tuple[str, ...], str | None]:
    """The fail globs to compare with, and where they came from (None: given)."""
    if given:
        return tuple(given), None
    for path, stream in campaigns:
        globs = campaign_fail_globs(stream.campaigns)
        if globs:
            return globs, f"{path}'s own, from its metadata"
    return tuple(DEFAULT_FAIL_GLOBS), "the defaults"


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace | int:
    """The options, or the exit code argparse chose (2 for bad usage, 0 for --help)."""
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT


def diff_main(argv: Sequence[str] | None = None) -> int:
    """Compare two campaigns, print the table; 1 if NEW regressed against OLD."""
    parser = argparse.ArgumentParser(
        prog="python -m pytest_spider diff",
        description="Compare two campaigns' record files target by target.",
    )
    parser.add_argument("old", help="the baseline campaign's records (ndjson)")
    parser.add_argument("new", help="the campaign to check (ndjson)")
    _fail_on(parser)
    parser.add_argument(
        "--vanished",
        choices=VANISHED_POLICIES,
        default=FAIL,
        help="targets measured in OLD but not in NEW fail the gate (default), or are ignored",
    )
    parser.add_argument(
        "--duplicates",
        choices=DUPLICATE_POLICIES,
        default=FAIL,
        help="a target recorded more than once in a campaign fails the gate (default), or "
        "its last record counts",
    )
    for side in ("old", "new"):
        parser.add_argument(
            f"--{side}-metadata",
            metavar="FILE",
            help=f"{side.upper()}'s campaign metadata, if not beside it (<{side}>.meta.json)",
        )
    parser.add_argument(
        "--limit", type=int, default=50, metavar="N", help="rows shown per kind (default 50)"
    )
    args = _parse(parser, argv)
    if isinstance(args, int):
        return args
    old = RecordStream([args.old], [args.old_metadata] if args.old_metadata else None)
    new = RecordStream([args.new], [args.new_metadata] if args.new_metadata else None)
    try:
        old_side, new_side = Baseline.from_records(old), Baseline.from_records(new)
    except RecordFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    globs, source = _globs(args.fail_on, (args.new, new), (args.old, old))
    comparison = diff_baselines(old_side, new_side, globs, source)
    print(comparison.format_table(limit=args.limit))
    failures = comparison.gate_failures(args.vanished, args.duplicates)
    if failures:
        print(f"gate fails: {'; '.join(failures)}")
    return EXIT_REGRESSIONS if failures else EXIT_OK


def report_main(argv: Sequence[str] | None = None) -> int:
    """Write the HTML report of some record files."""
    parser = argparse.ArgumentParser(
        prog="python -m pytest_spider report",
        description="Write a self-contained HTML report of a campaign's record files.",
    )
    parser.add_argument("records", nargs="+", help="record files (ndjson)")
    parser.add_argument("--html", required=True, metavar="PATH", help="the report to write")
    parser.add_argument(
        "--baseline",
        action="append",
        default=[],
        metavar="OLD",
        help="a baseline campaign's records to diff against (repeatable)",
    )
    _fail_on(parser)
    parser.add_argument(
        "--top", type=int, default=10, metavar="N", help="AS and countries shown (default 10)"
    )
    parser.add_argument("--title", help="the report's title")
    parser.add_argument(
        "--metadata",
        action="append",
        metavar="FILE",
        help="campaign metadata files, if not beside the records (<records>.meta.json)",
    )
    args = _parse(parser, argv)
    if isinstance(args, int):
        return args
    # matplotlib is imported only here: diff and the plugin's baseline checks do without it.
    from pytest_spider.campaign.report import ReportExtraMissing, write_report

    try:
        result = write_report(
            args.records,
            args.html,
            baseline_paths=args.baseline,
            fail_globs=args.fail_on,
            top=args.top,
            title=args.title,
            metadata_paths=args.metadata,
        )
    except (RecordFileError, OSError, ReportExtraMissing) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    summary = result.summary
    print(
        f"wrote {result.path}: {summary.records:,} records, {summary.targets:,} targets "
        f"in {result.seconds:.1f} s"
    )
    if result.comparison is not None:
        print(f"against the baseline: {result.comparison.summary_line()}")
    return EXIT_OK


COMMANDS = {"report": report_main, "diff": diff_main}


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``report ...`` or ``diff ...``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m pytest_spider {{{'|'.join(COMMANDS)}}} ...", file=sys.stderr)
        return EXIT_BAD_INPUT
    return COMMANDS[argv[0]](argv[1:])
