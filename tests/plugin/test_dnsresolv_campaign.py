"""dnsresolv through the plugin: names in, one record per address out, fit for the next run;
names without an address and dead resolvers reported, special answers never made targets."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_spider.lab.servers import running
from tests.plugin.conftest import read_records


@pytest.fixture(scope="module")
def dns_server() -> Iterator[dict[str, Any]]:
    records = ["www=198.18.0.5", "www=2001:db8::5", "mail=198.18.0.6"]
    records += ["lo=127.0.0.1", "lo=::1", "lo=198.18.0.8", "priv=10.0.0.1"]
    args = ["--host", "127.0.0.1", "--port", "0", "--origin", "lab.test."]
    with running("dns", [*args, *(f"--record={r}" for r in records)]) as facts:
        yield facts


def test_names_become_address_records_and_a_target_list(
    pytester: pytest.Pytester, dns_server: dict[str, Any]
) -> None:
    names = pytester.path / "names.csv"
    names.write_text("1,www.lab.test\n2,mail.lab.test\n3,nowhere.lab.test\n")
    out = pytester.path / "addresses.ndjson"
    result = pytester.runpytest(
        f"--spider-targets={names}", "--spider-experiment=dnsresolv",
        f"--spider-dns-server=127.0.0.1:{dns_server['port']}", f"--spider-output={out}",
        "--spider-timeout=2", "-p", "no:cacheprovider",
    )  # fmt: skip
    # A name that resolved: its own record is discarded, as in PATHspider (the item skips
    # with that reason). One that did not keeps its record, saying so, and passes by default.
    result.assert_outcomes(skipped=2, passed=1)
    result.stdout.fnmatch_lines(
        ["dnsresolv: 3 targets (2 discarded, 1 passed), 3 records emitted", "*2 discarded*"]
    )
    records = read_records(out)
    emitted = [r for r in records if "emitted_by" in r]
    assert sorted((r["domain"], r["dip"], r["conditions"][0]) for r in emitted) == [
        ("mail.lab.test", "198.18.0.6", "dnsresolv.resolved.a"),
        ("www.lab.test", "198.18.0.5", "dnsresolv.resolved.a"),
        ("www.lab.test", "2001:db8::5", "dnsresolv.resolved.aaaa"),
    ]
    assert {r["rank"] for r in emitted} == {"1", "2"}
    # As PATHspider's: a copy of the name's job with dip set; no port is made up.
    assert not any("dp" in r for r in emitted)
    [nowhere] = [r for r in records if "emitted_by" not in r]
    assert (nowhere["domain"], nowhere["outcome"]) == ("nowhere.lab.test", "passed")
    assert nowhere["conditions"] == ["dnsresolv.connectivity.online", "dnsresolv.resolved.none"]

    # ndjson out = ndjson in: the next campaign reads the file as its target list.
    again = pytester.runpytest(f"--spider-targets={out}", "--spider-experiment=h2", "--co", "-q")
    again.stdout.fnmatch_lines_random(
        [
            "*H2[[]198.18.0.6 mail.lab.test[]]",
            "*H2[[]198.18.0.5 www.lab.test[]]",
            "*H2[[]2001:db8:0:0:0:0:0:5 www.lab.test[]]",
            "*H2[[]nowhere.lab.test[]]",  # a name: skipped unmeasured, no address
            "4 tests collected*",
        ]
    )


def test_nxdomain_and_a_dead_resolver_can_fail_the_run(
    pytester: pytest.Pytester, dns_server: dict[str, Any]
) -> None:
    (pytester.path / "names.csv").write_text("1,www.lab.test\n2,nowhere.lab.test\n")
    base = ["--spider-targets=names.csv", "--spider-experiment=dnsresolv", "-p", "no:cacheprovider"]
    nxdomain = pytester.runpytest(
        *base, f"--spider-dns-server=127.0.0.1:{dns_server['port']}",
        "--spider-fail-on=dnsresolv.resolved.none", "--spider-timeout=2",
    )  # fmt: skip
    nxdomain.assert_outcomes(skipped=1, failed=1)
    nxdomain.stdout.fnmatch_lines(["*dnsresolv.resolved.none (matches dnsresolv.resolved.none)*"])

    # Nothing answers there (a closed port: refused; a silent server: timeout, the same way).
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    with silent:
        dead = [*base, f"--spider-dns-server=127.0.0.1:{silent.getsockname()[1]}"]
        skipped = pytester.runpytest(*dead, "--spider-timeout=0.3", "--spider-output=dead.ndjson")
        # By default a dead resolver skips every name (*.connectivity.offline), with the reason.
        skipped.assert_outcomes(skipped=2)
        assert [r["conditions"] for r in read_records(pytester.path / "dead.ndjson")] == [
            ["dnsresolv.connectivity.offline", "dnsresolv.resolved.timeout"]
        ] * 2
        failed = pytester.runpytest(
            *dead, "--spider-timeout=0.3", "--spider-fail-on=dnsresolv.resolved.timeout"
        )
        assert failed.ret == pytest.ExitCode.TESTS_FAILED
        failed.assert_outcomes(failed=2)


def test_special_answers_are_flagged_and_never_measured_next(
    pytester: pytest.Pytester, dns_server: dict[str, Any]
) -> None:
    (pytester.path / "names.csv").write_text("1,lo.lab.test\n2,priv.lab.test\n")
    out = pytester.path / "out.ndjson"
    exclude = pytester.path / "exclude.txt"
    exclude.write_text("198.18.0.8/32\n")
    pytester.runpytest(
        "--spider-targets=names.csv", "--spider-experiment=dnsresolv",
        f"--spider-dns-server=127.0.0.1:{dns_server['port']}", f"--spider-output={out}",
        f"--spider-exclude={exclude}", "--spider-timeout=2", "-p", "no:cacheprovider",
    ).assert_outcomes(skipped=2)  # fmt: skip
    records = read_records(out)
    assert sorted((r["dnsresolv_address"], r["dnsresolv_special"]) for r in records) == [
        ("10.0.0.1", "private"),
        ("127.0.0.1", "loopback"),
        ("198.18.0.8", f"excluded by {exclude}:1 (198.18.0.8/32)"),
        ("::1", "loopback"),
    ]
    assert not any("dip" in r for r in records)
    # The next campaign sees names without an address: nothing is contacted.
    again = pytester.runpytest(
        f"--spider-targets={out}", "--spider-experiment=h2", "-rs", "-p", "no:cacheprovider"
    )
    again.assert_outcomes(skipped=2)  # one per name: the records of a name are one target
    again.stdout.fnmatch_lines(["*no address for lo.lab.test*"])


def test_a_dns_server_in_an_excluded_network_is_a_usage_error(
    pytester: pytest.Pytester, dns_server: dict[str, Any]
) -> None:
    (pytester.path / "names.csv").write_text("1,www.lab.test\n")
    (pytester.path / "exclude.txt").write_text("# loopback\n127.0.0.0/8\n")
    result = pytester.runpytest(
        "--spider-targets=names.csv", "--spider-experiment=dnsresolv",
        f"--spider-dns-server=127.0.0.1:{dns_server['port']}", "--spider-exclude=exclude.txt",
        "-p", "no:cacheprovider",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: --spider-dns-server=127.0.0.1:{dns_server['port']} is excluded by "
            "exclude.txt:2 (127.0.0.0/8): no query is sent there"
        ]
    )


def test_without_a_dns_server_dnsresolv_refuses(pytester: pytest.Pytester) -> None:
    (pytester.path / "names.csv").write_text("1,www.lab.test\n")
    result = pytester.runpytest(
        "--spider-targets=names.csv", "--spider-experiment=dnsresolv", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*dnsresolv needs --spider-dns-server*"])
