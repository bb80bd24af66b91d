"""The controller's plugin: numbers the workers' shares, hands stdin on, picks the scheduler,
tells the scheduler which item each worker is running (for crash reports), and under ``--dist
each`` keeps a target that failed from any vantage for ``--lf``."""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any, Final

import pytest

from pytest_spider.distributed import (
    REPLACES_KEY,
    SHARE_KEY,
    STDIN_KEY,
    USAGE_ERROR_KEY,
    VANTAGE_KEY,
    WIRE_KEY,
    stdin_bytes,
    tx_count,
)
from pytest_spider.distributed.scheduling import ShareScheduling

#: Where pytest's cache plugin keeps the node ids ``--lf`` runs (``pytest --cache-show``).
LASTFAILED: Final = "cache/lastfailed"


class ControllerPlugin:
    """Registered on the xdist controller only (where pytest-xdist is installed)."""

    def __init__(
        self,
        config: pytest.Config,
        share: bool,
        stdin_text: str | None,
        on_collected: Callable[[int, bool], None],
    ) -> None:
        self.config = config
        self.share = share
        self.on_collected = on_collected
        self.configured = 0
        self.scheduler: ShareScheduling | None = None
        #: Usage errors workers stopped on (each once), reported as the run's.
        self.usage_errors: dict[str, None] = {}
        self.session: pytest.Session | None = None
        self._counted: set[int] = set()
        #: Under --dist each: node ids that failed from some vantage (for --lf).
        self.failed_somewhere: set[str] = set()
        #: What was read from stdin, for every worker's workerinput (no file to leave behind).
        self.stdin = None if stdin_text is None else stdin_bytes(stdin_text)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.session = session

    def _set_total(self, total: int) -> None:
        """All shares' items: what pytest's progress percentage counts against."""
        if self.session is not None:
            self.session.testscollected = total

    def _shares(self) -> bool:
        return self.share and self.config.getoption("dist") == "load"

    def pytest_configure_node(self, node: Any) -> None:
        """xdist hook: tell each worker what it will run (and what stdin held).

        Workers see ``--dist`` as ``no``, so what they need of it travels in workerinput.
        """
        dist = self.config.getoption("dist")
        if dist == "each":
            node.workerinput[VANTAGE_KEY] = node.gateway.id
        elif self._shares():
            # A crashed worker's replacement takes over its share.
            replacing = self.scheduler.shares_to_replace if self.scheduler is not None else []
            replaces = bool(replacing)
            share = replacing.pop(0) if replaces else self.configured
            node.workerinput[SHARE_KEY] = (share, tx_count(self.config))
            node.workerinput[REPLACES_KEY] = replaces
        self.configured += 1
        node.workerinput[WIRE_KEY] = True
        if self.stdin is not None:
            node.workerinput[STDIN_KEY] = self.stdin

    def pytest_xdist_node_collection_finished(self, node: Any, ids: Sequence[str]) -> None:
        """xdist hook: a worker's collection is in, for the progress line's total: each
        vantage and each share adds to it; under load scheduling every worker has it all."""
        share = node.workerinput.get(SHARE_KEY)
        if share is not None:
            adds = share[0] not in self._counted
            self._counted.add(share[0])
        else:
            adds = self.config.getoption("dist") == "each"
        self.on_collected(len(ids), adds)

    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """xdist hook: share scheduling in place of load scheduling, unless told otherwise."""
        if self._shares():
            self.scheduler = ShareScheduling(config, log, self._set_total)
            return self.scheduler
        return None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """A worker's setup report: the scheduler learns what that worker is running. Under
        ``--dist each``, a failure from any vantage is noted for ``--lf``."""
        node = getattr(report, "node", None)
        if self.scheduler is not None and node is not None and report.when == "setup":
            self.scheduler.note_running(node, report.nodeid)
        if report.failed and self.config.getoption("dist") == "each":
            self.failed_somewhere.add(report.nodeid)

    def _keep_failed_for_lf(self) -> None:
        """Under ``--dist each`` every vantage reports the same node id, and pytest's cache
        keeps the last report's outcome: a target that failed from one vantage and then passed
        from another would drop out of ``--lf`` (the path-dependent ones, of all targets).
        After the cache plugin saved ``cache/lastfailed``, add back every node id that failed
        from some vantage."""
        cache = getattr(self.config, "cache", None)
        if not self.failed_somewhere or cache is None:
            return
        lastfailed = cache.get(LASTFAILED, {})
        if not isinstance(lastfailed, dict) or self.failed_somewhere <= lastfailed.keys():
            return
        lastfailed.update(dict.fromkeys(sorted(self.failed_somewhere - lastfailed.keys()), True))
        cache.set(LASTFAILED, lastfailed)

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """xdist hook: a worker is gone; keep the usage error it stopped on, if any."""
        message = getattr(node, "workeroutput", {}).get(USAGE_ERROR_KEY)
        if message:
            self.usage_errors.setdefault(str(message), None)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, Any, Any]:
        """Workers that stopped on a usage error leave xdist without workers; the run ends
        as one process would on that error (one line, exit 4), not as an internal error."""
        try:
            return (yield)
        except Exception:
            if self.usage_errors:
                raise pytest.UsageError("\n".join(self.usage_errors)) from None
            raise

    def lost_shares(self) -> list[str]:
        """One line per share whose items were never run (its worker crashed and no
        replacement took it over): they have no record, and the run must not pass."""
        if self.scheduler is None:
            return []
        return [
            f"share {share}: {'all' if count is None else count} of its targets' items never "
            "ran (its worker crashed and was not replaced; see --max-worker-restart)"
            for share, count in sorted(self.scheduler.never_run().items())
        ]

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self._keep_failed_for_lf()
        if self.lost_shares() and session.exitstatus in (
            pytest.ExitCode.OK,
            pytest.ExitCode.NO_TESTS_COLLECTED,
        ):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        lost = self.lost_shares()
        if lost:
            terminalreporter.write_sep("=", "spider: measurements lost", red=True)
            for line in lost:
                terminalreporter.write_line(line)
