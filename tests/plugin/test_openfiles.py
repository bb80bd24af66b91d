"""The concurrency fits the open-file limit: raised where the hard limit allows, lowered (and
said) where it does not. Each case runs in a child process, whose limits it may lower."""

from __future__ import annotations

import resource
import subprocess
import sys
import textwrap

import pytest

from pytest_spider import openfiles
from tests.plugin.conftest import scripted_targets, write_targets

#: Lowers the child's limits to ``soft``/``hard``, then prints what ``fit(concurrency)`` gives
#: and the soft limit after it.
FIT = """
import resource, sys
from pytest_spider import openfiles
soft, hard, concurrency = (int(a) for a in sys.argv[1:])
resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
fitted = openfiles.fit(concurrency)
print(fitted, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
"""


def _fit(soft: int, hard: int, concurrency: int) -> tuple[int, int]:
    out = subprocess.run(
        [sys.executable, "-c", FIT, str(soft), str(hard), str(concurrency)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return int(out[0]), int(out[1])


def _hard() -> int:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < openfiles.needed(1000):
        pytest.skip(f"this machine's hard open-file limit ({hard}) is below what the case needs")
    return 1 << 20 if hard == resource.RLIM_INFINITY else hard


def test_a_low_soft_limit_is_raised_to_what_the_concurrency_needs() -> None:
    hard = _hard()
    assert _fit(256, hard, 1000) == (1000, openfiles.needed(1000))


def test_a_high_enough_soft_limit_is_left_alone() -> None:
    hard = _hard()
    soft = min(hard, 10_000)
    assert _fit(soft, hard, 100) == (100, soft)


def test_a_hard_limit_that_holds_a_socket_per_slot_keeps_the_concurrency() -> None:
    """Room for one pool of sockets (threads or hub), if not for both: it runs as asked."""
    assert _fit(256, 1024, 500) == (500, 1024)


def test_under_a_low_hard_limit_the_concurrency_is_lowered_to_fit() -> None:
    fitted, soft = _fit(256, 512, 1000)
    assert soft == 512
    assert fitted == 512 - openfiles.RESERVE


def test_a_campaign_under_a_low_hard_limit_says_it_lowered_the_concurrency(
    scripted: pytest.Pytester,
) -> None:
    targets = write_targets(scripted.path / "t.ndjson", scripted_targets("ok,ok", "ok,ok"))
    run = textwrap.dedent(
        f"""
        import resource, sys
        import pytest
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
        sys.exit(pytest.main(["--spider-targets={targets}", "experiments/"]))
        """
    )
    result = scripted.run(sys.executable, "-c", run)
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        ["*--spider-concurrency 500 lowered to 192: 500 would need up to 1064 open files*"]
    )
    assert "2 passed" in result.stdout.str()
