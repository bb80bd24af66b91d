"""``python -m pytest_spider demo|report|diff``: the commands that are not a pytest run."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

USAGE = """usage: python -m pytest_spider COMMAND [ARGS]

commands:
  demo     measure local demo servers with the h2 experiment (no Internet needed)
  report   write a self-contained HTML report of campaign ndjson files
  diff     compare two campaigns; exit 1 on regressions
"""


def _command(name: str) -> Callable[[Sequence[str]], int] | None:
    if name == "demo":
        from pytest_spider.demo.run import main as demo

        return demo
    if name in ("report", "diff"):
        from pytest_spider.campaign import cli

        return cli.report_main if name == "report" else cli.diff_main
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to a command; unknown or missing commands print the usage (exit 2)."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = _command(args[0]) if args else None
    if command is None:
        print(USAGE, file=sys.stderr if args and args[0] not in ("-h", "--help") else sys.stdout)
        return 0 if args and args[0] in ("-h", "--help") else 2
    return command(args[1:])


if __name__ == "__main__":
    sys.exit(main())
