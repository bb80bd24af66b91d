"""The live progress line of a long campaign, in pytest's own terminal reporter.

``spider: 41,200/100,000 items  1,015/s  100 in flight  ETA 0:58`` rewritten in place, at
most five times a second, instead of a dot per item (a million dots say nothing). Only at
pytest's default verbosity and on a terminal: ``-q`` stays quiet, ``-v`` keeps its lines,
and a log file gets no carriage returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

#: Seconds between two redraws.
REDRAW = 0.2


class ProgressLine:
    """Counts finished items against the total and redraws the line now and then."""

    def __init__(self, terminal: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self.terminal = terminal
        self.clock = clock
        self.total = 0
        self.done = 0
        self.in_flight: dict[str, int] = {}
        self.started: float | None = None
        self._drawn = 0.0
        self._width = 0
        self.shown = False

    @classmethod
    def for_config(cls, config: pytest.Config) -> ProgressLine | None:
        """A progress line where one belongs (default verbosity, a terminal), else None."""
        terminal = config.pluginmanager.get_plugin("terminalreporter")
        if terminal is None or config.get_verbosity() != 0 or not _on_a_terminal(terminal):
            return None
        return cls(terminal)

    def item_done(self, source: str = "", in_flight: int | None = None) -> None:
        """One item finished (from ``source``, a worker or ""), with its engine's load."""
        now = self.clock()
        if self.started is None:
            self.started = now
        self.done += 1
        if in_flight is not None:
            self.in_flight[source] = in_flight
        if now - self._drawn >= REDRAW or self.done == self.total:
            self._drawn = now
            # Pad over a longer previous line, but no further: pytest appends to this line.
            text = self.text(now)
            self._width = max(self._width, len(text))
            self.terminal.rewrite(text.ljust(self._width))
            self.shown = True

    def text(self, now: float) -> str:
        """The line itself."""
        elapsed = max(now - (self.started or now), 1e-9)
        rate = self.done / elapsed if self.done > 1 else 0.0
        parts = [f"spider: {self.done:,}/{self.total:,} items", f"{rate:,.0f}/s"]
        if self.in_flight:
            parts.append(f"{sum(self.in_flight.values())} in flight")
        left = self.total - self.done
        if rate > 0 and left > 0:
            minutes, seconds = divmod(round(left / rate), 60)
            parts.append(f"ETA {minutes}:{seconds:02d}")
        return "  ".join(parts)

    def finish(self) -> None:
        """End the line so that pytest's own summary starts on a fresh one."""
        if self.shown:
            self.terminal.write_line("")
            self.shown = False


def _on_a_terminal(terminal: Any) -> bool:
    """``TerminalReporter.isatty``: a bool before pytest 8.4.1, a method since (a callable bool
    for now); both are asked the way that works for each."""
    isatty = terminal.isatty
    return bool(isatty() if callable(isatty) else isatty)


def quiet_status(report: pytest.TestReport) -> tuple[str, str, str]:
    """pytest's own category and word for a report, without the per-item letter."""
    if report.when in ("setup", "teardown"):
        if report.failed:
            return "error", "", "ERROR"
        if report.skipped:
            return "skipped", "", "SKIPPED"
        return "", "", ""
    return report.outcome, "", report.outcome.upper()
