"""dnsresolv through the plugin: names in, one record per address out, fit for the next run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pytest_spider.lab.servers import running
from tests.plugin.conftest import read_output


@pytest.fixture(scope="module")
def dns_server() -> Iterator[dict[str, Any]]:
    records = ["www=198.18.0.5", "www=2001:db8::5", "mail=198.18.0.6"]
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
    # Every name's own record is discarded, as in PATHspider: the items skip with that reason.
    result.assert_outcomes(skipped=3)
    result.stdout.fnmatch_lines(
        ["dnsresolv: 3 targets (3 discarded), 3 records emitted", "*3 discarded*"]
    )
    records, (meta,) = read_output(out)
    assert sorted((r["domain"], r["dip"], r["conditions"][0]) for r in records) == [
        ("mail.lab.test", "198.18.0.6", "dnsresolv.resolved.a"),
        ("www.lab.test", "198.18.0.5", "dnsresolv.resolved.a"),
        ("www.lab.test", "2001:db8::5", "dnsresolv.resolved.aaaa"),
    ]
    assert {r["rank"] for r in records} == {"1", "2"}
    assert meta["counts"]["discarded"] == 3

    # ndjson out = ndjson in: the next campaign reads the file as its target list.
    again = pytester.runpytest(f"--spider-targets={out}", "--spider-experiment=h2", "--co", "-q")
    again.stdout.fnmatch_lines_random(
        [
            "*H2[[]198.18.0.6 mail.lab.test[]]",
            "*H2[[]198.18.0.5 www.lab.test[]]",
            "*H2[[]2001:db8:0:0:0:0:0:5 www.lab.test[]]",
            "3 tests collected*",
        ]
    )


def test_without_a_dns_server_dnsresolv_refuses(pytester: pytest.Pytester) -> None:
    (pytester.path / "names.csv").write_text("1,www.lab.test\n")
    result = pytester.runpytest(
        "--spider-targets=names.csv", "--spider-experiment=dnsresolv", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*dnsresolv needs --spider-dns-server*"])
