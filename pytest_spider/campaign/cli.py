"""``python -m pytest_spider report|diff``: the campaign commands, as functions returning codes.

Exit codes: 0 done (the gate passes), 1 the gate fails (diff only: regressions, and by default
vanished targets and duplicate records; across vantages, targets whose verdict differs between
vantages, and by default targets not measured from every vantage and duplicate records), 2 bad
arguments or input. Without ``--fail-on`` the fail globs are the campaign's own (its
metadata's), else the defaults.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pytest_spider.campaign.compare import (
    DEFAULT_FAIL_GLOBS,
    DUPLICATE_POLICIES,
    FAIL,
    NEW,
    VANISHED,
    VANISHED_POLICIES,
    Baseline,
    Comparison,
    campaign_fail_globs,
    diff_baselines,
)
from pytest_spider.campaign.load import RecordFileError, RecordStream
from pytest_spider.vantages import PATH_DEPENDENT, VantageAgreement

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
    """Compare two campaigns (or the vantages of one), print the table; 1 if the gate fails."""
    parser = argparse.ArgumentParser(
        prog="python -m pytest_spider diff",
        description="Compare two campaigns' record files target by target: OLD NEW. With "
        "--across-vantages (or --vantage), compare the vantage points the records were "
        "measured from instead, target by target: FILE [FILE ...] (one file holding every "
        "vantage, or one per vantage).",
    )
    parser.add_argument(
        "records",
        nargs="+",
        metavar="FILE",
        help="OLD NEW: the baseline campaign's records and the campaign to check (ndjson); "
        "with --across-vantages, every record file to read",
    )
    parser.add_argument(
        "--across-vantages",
        action="store_true",
        help="compare the vantage points of the records with each other, per target x "
        "experiment: the same everywhere, or path-dependent; the gate fails where a target's "
        "verdict differs between vantages",
    )
    parser.add_argument(
        "--vantage",
        action="append",
        metavar="NAME",
        help="a vantage point to compare (repeatable, in the order the columns show; implies "
        "--across-vantages; default: every vantage in the records)",
    )
    _fail_on(parser)
    parser.add_argument(
        "--vanished",
        choices=VANISHED_POLICIES,
        default=FAIL,
        help="targets measured in OLD but not in NEW (across vantages: not from every "
        "vantage compared) fail the gate (default), or are ignored",
    )
    parser.add_argument(
        "--duplicates",
        choices=DUPLICATE_POLICIES,
        default=FAIL,
        help="a target recorded more than once in a campaign (from one vantage) fails the "
        "gate (default), or its last record counts",
    )
    for side in ("old", "new"):
        parser.add_argument(
            f"--{side}-metadata",
            metavar="FILE",
            help=f"{side.upper()}'s campaign metadata, if not beside it (<{side}>.meta.json)",
        )
    parser.add_argument(
        "--metadata",
        action="append",
        metavar="FILE",
        help="across vantages: the campaign metadata files, if not beside the records",
    )
    parser.add_argument(
        "--limit", type=int, default=50, metavar="N", help="rows shown per kind (default 50)"
    )
    args = _parse(parser, argv)
    if isinstance(args, int):
        return args
    if args.across_vantages or args.vantage:
        if args.old_metadata or args.new_metadata:
            parser.print_usage(sys.stderr)
            print("error: across vantages, name metadata files with --metadata", file=sys.stderr)
            return EXIT_BAD_INPUT
        return _diff_vantages(args)
    if len(args.records) != 2 or args.metadata:
        parser.print_usage(sys.stderr)
        what = "--metadata is for --across-vantages" if args.metadata else "give OLD and NEW"
        print(f"error: {what}", file=sys.stderr)
        return EXIT_BAD_INPUT
    old_path, new_path = args.records
    old = RecordStream([old_path], [args.old_metadata] if args.old_metadata else None)
    new = RecordStream([new_path], [args.new_metadata] if args.new_metadata else None)
    try:
        old_side, new_side = Baseline.from_records(old), Baseline.from_records(new)
    except RecordFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    globs, source = _globs(args.fail_on, (new_path, new), (old_path, old))
    comparison = diff_baselines(old_side, new_side, globs, source)
    print(comparison.format_table(limit=args.limit))
    hint = _across_hint(comparison)
    if hint:
        print(hint)
    failures = comparison.gate_failures(args.vanished, args.duplicates)
    if failures:
        print(f"gate fails: {'; '.join(failures)}")
    return EXIT_REGRESSIONS if failures else EXIT_OK


def _across_hint(comparison: Comparison) -> str | None:
    """When every target is new or vanished because OLD and NEW come from different vantage
    points, say how to compare them target by target."""
    counts = comparison.counts
    if not counts[NEW] or not counts[VANISHED] or counts.total() != counts[NEW] + counts[VANISHED]:
        return None
    old = {row.key.vantage for row in comparison.rows[VANISHED]}
    new = {row.key.vantage for row in comparison.rows[NEW]}
    if old & new:
        return None
    return (
        f"OLD and NEW were measured from different vantage points ({', '.join(sorted(old))}; "
        f"{', '.join(sorted(new))}): --across-vantages compares them target by target"
    )


def _diff_vantages(args: argparse.Namespace) -> int:
    """Compare the vantages of the records target by target; 1 if the gate fails."""
    stream = RecordStream(args.records, args.metadata)
    agreement = VantageAgreement(args.vantage, rows=max(args.limit, 0))
    try:
        for record in stream:
            agreement.add(record)
    except RecordFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    seen = agreement.seen
    missing = [v for v in args.vantage or () if v not in seen]
    if missing or len(args.vantage or seen) < 2:
        what = (
            f"no measured records from vantage {', '.join(missing)}"
            if missing
            else "fewer than two vantage points to compare"
        )
        print(f"error: {what} (records from: {', '.join(seen) or 'none'})", file=sys.stderr)
        return EXIT_BAD_INPUT
    label = args.records[0] if len(args.records) == 1 else "the campaign"
    globs, source = _globs(args.fail_on, (label, stream))
    result = agreement.result(globs, args.limit, source)
    for line in result.lines(args.limit, f" (--limit {result.total(PATH_DEPENDENT)} shows all)"):
        print(line)
    failures = result.gate_failures(
        incomplete=args.vanished == FAIL, duplicates=args.duplicates == FAIL
    )
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
