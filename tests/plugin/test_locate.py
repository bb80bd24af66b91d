"""--spider-locate through the plugin: which targets are located, what their records and
messages say, the options and their bounds, and the rate limit shared with the campaign.

Probes go to a listener on 127.0.0.1 only (on loopback every probe reaches the target at
TTL 1); the lab tests locate real breaks in a chain of routers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.plugin.conftest import read_records, write_targets
from tests.support.servers import tcp_server

#: An experiment whose connections contact nothing: each target's ``script`` says how they
#: end. Its failures are located with the dscp pair (a SYN with and without DSCP 48).
LOCATED = """
from pytest_spider import CONN_OK, CONN_TIMEOUT, DesynchronizedSpider

class Located(DesynchronizedSpider):
    name = "located"
    locate_with = "dscp"

    def conn_a(self, job, config):
        return {"spdr_state": CONN_OK}

    def conn_b(self, job, config):
        ok = job["script"] == "ok"
        return {"spdr_state": CONN_OK if ok else CONN_TIMEOUT,
                "error_class": None if ok else "timeout", "error": None if ok else "scripted"}

    connections = [conn_a, conn_b]

    def combine_flows(self, flows):
        return [self.combine_connectivity(True, flows[1]["spdr_state"] == CONN_OK)]


class Unlocated(Located):
    name = "unlocated"
    locate_with = None
"""


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that accepts and closes."""
    with tcp_server() as port:
        yield port


@pytest.fixture
def located(pytester: pytest.Pytester, listener: int) -> pytest.Pytester:
    """experiments/located.py and targets.ndjson: one passing, one failing target."""
    pytester.mkdir("experiments")
    (pytester.path / "experiments" / "located.py").write_text(LOCATED)
    targets = [
        {"dip": "127.0.0.1", "dp": listener, "domain": f"{script}.test", "script": script}
        for script in ("ok", "fail")
    ]
    write_targets(pytester.path / "targets.ndjson", targets)
    return pytester


def _records(pytester: pytest.Pytester, *args: str) -> dict[tuple[str, str], dict[str, Any]]:
    out = pytester.path / "out.ndjson"
    result = pytester.runpytest(
        "--spider-targets=targets.ndjson", f"--spider-output={out}", *args, "experiments/"
    )
    result.assert_outcomes(passed=2, failed=2)
    return {(r["experiment"], r["script"]): r for r in read_records(out)}


def test_failing_targets_are_located_and_say_where_or_why_not(located: pytest.Pytester) -> None:
    records = _records(located, "--spider-locate", "-rf")
    assert "locate" not in records["located", "ok"]
    assert "locate" not in records["unlocated", "ok"]
    found = records["located", "fail"]["locate"]
    # On loopback both probes reach the target at once: there is nothing to locate.
    assert (found["hop"], found["address"], found["method"], found["pair"]) == (
        None,
        None,
        "recverr",
        "dscp",
    )
    assert found["probes"] == ["tcp-syn", "tcp-syn-dscp48"]
    assert found["trace"] == [{"ttl": 1, "baseline": "target", "experimental": "target"}]
    assert found["sent"] == 2 and 0 <= found["seconds"] < 1
    assert found["reason"].startswith("the experimental probe reached the target (TTL 1)")
    unlocated = records["unlocated", "fail"]["locate"]
    assert unlocated["hop"] is None and unlocated["sent"] == 0
    assert unlocated["reason"] == "unlocated names no probe pair (locate_with = None)"


def test_the_failure_message_says_what_locating_found(located: pytest.Pytester) -> None:
    result = located.runpytest(
        "--spider-targets=targets.ndjson", "--spider-locate", "-rf", "experiments/"
    )
    result.stdout.fnmatch_lines(
        [
            "*located.connectivity.broken (matches *.connectivity.broken); conn_b: timeout: "
            "scripted; break not located: the experimental probe reached the target (TTL 1)*",
        ]
    )


def test_without_the_option_nothing_is_located(located: pytest.Pytester) -> None:
    records = _records(located)
    assert not any("locate" in record for record in records.values())


def test_locating_takes_turns_under_the_campaign_rate(located: pytest.Pytester) -> None:
    # At 5 sequences a second the locating round waits its turn behind the sequence starts.
    records = _records(located, "--spider-locate", "--spider-rate=5")
    assert records["located", "fail"]["locate"]["seconds"] >= 0.15


def test_settings_come_from_the_ini_file(located: pytest.Pytester) -> None:
    located.makeini(
        "[pytest]\nspider_locate = true\nspider_locate_max_ttl = 3\n"
        "spider_locate_probes = 1\nspider_locate_wait = 0.2\nspider_locate_budget = 2\n"
    )
    records = _records(located)
    assert records["located", "fail"]["locate"]["sent"] == 2
    metadata = Path(f"{located.path / 'out.ndjson'}.meta.json").read_text()
    assert '"locate_max_ttl": 3' in metadata and '"locate_wait": 0.2' in metadata


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--spider-locate-max-ttl=0", "--spider-locate-max-ttl: must be at least 1"),
        ("--spider-locate-max-ttl=256", "--spider-locate-max-ttl: must be at most 255"),
        ("--spider-locate-probes=11", "--spider-locate-probes: must be at most 10"),
        ("--spider-locate-probes=1.5", "--spider-locate-probes: not a number: '1.5'"),
        ("--spider-locate-wait=1", "--spider-locate-wait: must be at most 0.9"),
        ("--spider-locate-wait=nan", "--spider-locate-wait: must be a finite number, not 'nan'"),
        ("--spider-locate-budget=601", "--spider-locate-budget: must be at most 600"),
        (
            "--spider-locate-budget=0.1",
            "--spider-locate-budget: must be at least --spider-locate-wait (0.5 s), "
            "or no probe could be sent",
        ),
    ],
)
def test_bad_bounds_are_usage_errors(located: pytest.Pytester, option: str, message: str) -> None:
    result = located.runpytest("--spider-targets=targets.ndjson", option, "experiments/")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    result.stderr.fnmatch_lines([f"ERROR: {message}"])


def test_xdist_workers_locate_their_own_share(located: pytest.Pytester) -> None:
    records = _records(located, "--spider-locate", "-n", "2")
    assert "locate" not in records["located", "ok"]
    assert records["located", "fail"]["locate"]["trace"] == [
        {"ttl": 1, "baseline": "target", "experimental": "target"}
    ]
