"""dnsresolv against the lab DNS server on loopback: address records out, names discarded;
a name without an address keeps its record, special and excluded answers are flagged."""

from __future__ import annotations

import json
import queue
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_spider import CONN_DISCARD, CONN_FAILED, CONN_OK, CONN_TIMEOUT
from pytest_spider.exclude import ExclusionList
from pytest_spider.experiments.dnsresolv import DNSResolv
from pytest_spider.helpers.dns import parse_server
from pytest_spider.lab.servers import running
from pytest_spider.spider import experiment_args

RECORDS = ["www=198.18.0.5", "www=2001:db8::5", "v4only=198.18.0.6"]
#: Answers no campaign may contact, each with what dnsresolv calls it.
SPECIAL = {
    "127.0.0.1": "loopback",
    "::1": "loopback",
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "255.255.255.255": "broadcast",
    "169.254.1.1": "link-local",
    "fe80::1": "link-local",
    "224.0.0.1": "multicast",
    "ff02::1": "multicast",
    "10.1.2.3": "private",
    "fd00::1": "private",
    "240.0.0.1": "reserved",
    "192.0.0.8": "special-purpose",
}
SPECIAL_RECORDS = [f"special={address}" for address in SPECIAL]
MIXED = ["mixed=198.18.0.7", "mixed=::ffff:127.0.0.1", "mixed=198.18.7.7"]
MANY = [f"many=198.18.1.{i}" for i in range(1, 61)]  # too many for a 512-byte UDP answer


@pytest.fixture(scope="module")
def dns_server() -> Iterator[str]:
    """The lab DNS server on both loopback addresses; its port."""
    args = ["--host", "127.0.0.1", "--host", "::1"]
    args += [f"--record={record}" for record in RECORDS + MANY + SPECIAL_RECORDS + MIXED]
    with running("dns", args) as facts:
        yield str(facts["port"])


def resolve(
    job: dict[str, Any], server: str | None, timeout: float = 2.0, exclude: str | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run dnsresolv on one job: its flow result and the records it emitted."""
    extra: dict[str, Any] = {} if server is None else {"dns_server": server}
    if exclude is not None:
        extra["exclusions"] = (ExclusionList.load(exclude),)
    exp = DNSResolv(experiment_args(DNSResolv, timeout, None, extra), (None, None))
    out: queue.Queue[dict[str, Any]] = queue.Queue()
    exp.outqueue = out
    flow = DNSResolv.connections[0](exp, dict(job), 0)
    return flow, [out.get_nowait() for _ in range(out.qsize())]


def conditions(flow: dict[str, Any]) -> list[str]:
    """What dnsresolv concludes from the flow of a name it kept."""
    exp = DNSResolv(experiment_args(DNSResolv, 1.0, None, {}), (None, None))
    result: list[str] = exp.combine_flows([flow])
    return result


@pytest.mark.parametrize("server_host", ["127.0.0.1", "[::1]"])
def test_a_name_becomes_one_record_per_address(dns_server: str, server_host: str) -> None:
    job = {"rank": "12", "domain": "www.lab.test"}
    flow, records = resolve(job, f"{server_host}:{dns_server}")
    assert flow["spdr_state"] == CONN_DISCARD
    assert flow["dns_rcodes"] == {"A": "NOERROR", "AAAA": "NOERROR"}
    assert records == [
        {"rank": "12", "domain": "www.lab.test", "dip": "198.18.0.5",
         "conditions": ["dnsresolv.resolved.a"]},
        {"rank": "12", "domain": "www.lab.test", "dip": "2001:db8::5",
         "conditions": ["dnsresolv.resolved.aaaa"]},
    ]  # fmt: skip
    # ndjson out = ndjson in: every record is a target line with an address.
    for record in records:
        assert json.loads(json.dumps(record))["dip"] == record["dip"]


def test_a_name_without_aaaa_gives_only_its_a_record(dns_server: str) -> None:
    flow, records = resolve({"domain": "v4only.lab.test"}, f"127.0.0.1:{dns_server}")
    assert flow["dns_rcodes"] == {"A": "NOERROR", "AAAA": "NOERROR"}
    assert [r["dip"] for r in records] == ["198.18.0.6"]


def test_a_truncated_answer_is_asked_again_over_tcp(dns_server: str) -> None:
    flow, records = resolve({"domain": "many.lab.test"}, f"127.0.0.1:{dns_server}")
    assert sorted(flow["dns_addresses"]) == sorted(r.split("=")[1] for r in MANY)
    assert len(records) == len(MANY)


@pytest.mark.parametrize(
    ("domain", "rcode", "resolved"),
    [("nope.lab.test", "NXDOMAIN", "none"), ("example.org", "REFUSED", "error")],
)
def test_a_name_that_does_not_resolve_keeps_its_record_saying_so(
    dns_server: str, domain: str, rcode: str, resolved: str
) -> None:
    flow, records = resolve({"domain": domain}, f"127.0.0.1:{dns_server}")
    assert flow["spdr_state"] == CONN_OK  # kept: no longer discarded in silence
    assert flow["dns_rcodes"] == {"A": rcode, "AAAA": rcode}
    assert flow["sip"] == "127.0.0.1"
    assert records == []
    assert conditions(flow) == ["dnsresolv.connectivity.online", f"dnsresolv.resolved.{resolved}"]


def test_special_purpose_answers_are_flagged_and_never_a_dip(dns_server: str) -> None:
    flow, records = resolve({"rank": "3", "domain": "special.lab.test"}, f"[::1]:{dns_server}")
    assert flow["spdr_state"] == CONN_DISCARD
    assert {r["dnsresolv_address"]: r["dnsresolv_special"] for r in records} == SPECIAL
    for record in records:
        assert "dip" not in record and "dp" not in record, record
        family = "aaaa" if ":" in record["dnsresolv_address"] else "a"
        assert record["conditions"] == [
            f"dnsresolv.resolved.{family}",
            "dnsresolv.address.special",
        ]
        assert (record["rank"], record["domain"]) == ("3", "special.lab.test")


def test_excluded_answers_are_flagged_and_the_rest_become_targets(
    dns_server: str, tmp_path: Path
) -> None:
    exclude = tmp_path / "exclude.txt"
    exclude.write_text("198.18.7.0/24\n")
    _, records = resolve(
        {"domain": "mixed.lab.test"}, f"127.0.0.1:{dns_server}", exclude=str(exclude)
    )
    # The server orders an answer's records as it likes.
    assert sorted(records, key=lambda r: str(r.get("dip") or r["dnsresolv_address"])) == [
        {
            # An AAAA answer ::ffff:127.0.0.1 is IPv4 loopback.
            "domain": "mixed.lab.test",
            "dnsresolv_address": "127.0.0.1",
            "dnsresolv_special": "loopback",
            "conditions": ["dnsresolv.resolved.aaaa", "dnsresolv.address.special"],
        },
        {"domain": "mixed.lab.test", "dip": "198.18.0.7", "conditions": ["dnsresolv.resolved.a"]},
        {
            "domain": "mixed.lab.test",
            "dnsresolv_address": "198.18.7.7",
            "dnsresolv_special": f"excluded by {exclude}:1 (198.18.7.0/24)",
            "conditions": ["dnsresolv.resolved.a", "dnsresolv.address.excluded"],
        },
    ]


def test_a_server_in_an_excluded_network_is_never_asked(dns_server: str, tmp_path: Path) -> None:
    exclude = tmp_path / "exclude.txt"
    exclude.write_text("::1/128\n127.0.0.0/8\n")
    for server in (f"127.0.0.1:{dns_server}", f"[::1]:{dns_server}", "[::ffff:127.0.0.1]:53"):
        with pytest.raises(RuntimeError, match=r"is excluded by .*exclude.txt:\d .*no query"):
            resolve({"domain": "www.lab.test"}, server, exclude=str(exclude))


def test_a_job_without_a_domain_is_discarded_unasked() -> None:
    flow, records = resolve({"dip": "198.18.0.9"}, None)
    assert flow["spdr_state"] == CONN_DISCARD
    assert records == []


def test_without_a_dns_server_it_refuses_to_guess() -> None:
    with pytest.raises(RuntimeError, match="--spider-dns-server"):
        resolve({"domain": "www.lab.test"}, None)


def test_a_silent_server_is_a_bounded_timeout(silent_port: int, host: str) -> None:
    server = f"[{host}]:{silent_port}" if ":" in host else f"{host}:{silent_port}"
    flow, records = resolve({"domain": "www.lab.test"}, server, timeout=0.5)
    assert (flow["spdr_state"], flow["error_class"]) == (CONN_TIMEOUT, "timeout")
    assert flow["sip"] == host
    assert records == []
    assert conditions(flow) == ["dnsresolv.connectivity.offline", "dnsresolv.resolved.timeout"]


def test_a_closed_port_is_refused_at_once(closed_port: int) -> None:
    flow, _ = resolve({"domain": "www.lab.test"}, f"127.0.0.1:{closed_port}", timeout=5)
    assert (flow["spdr_state"], flow["error_class"]) == (CONN_FAILED, "refused")
    assert conditions(flow) == ["dnsresolv.connectivity.offline", "dnsresolv.resolved.failed"]


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("198.18.0.1", ("198.18.0.1", 53)),
        ("198.18.0.1:5353", ("198.18.0.1", 5353)),
        ("2001:db8::1", ("2001:db8::1", 53)),
        ("2001:db8::cafe", ("2001:db8::cafe", 53)),
        ("[2001:db8::1]:5353", ("2001:db8::1", 5353)),
        ("[2001:db8::1:53]", ("2001:db8::1:53", 53)),
        ("[::ffff:198.18.0.1]:53", ("198.18.0.1", 53)),
    ],
)
def test_server_addresses(text: str, parsed: tuple[str, int]) -> None:
    assert parse_server(text) == parsed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ns.example.org", "is not an IP address (names are not resolved)"),
        ("ns.example.org:53", "is not an IP address (names are not resolved)"),
        ("198.18.0.1:0", "port must be 1-65535"),
        ("198.18.0.1:99999", "port must be 1-65535"),
        ("198.18.0.1:abc", "port 'abc' is not a number"),
        ("198.18.0.1:", "port '' is not a number"),
        (":53", "has no address"),
        ("[]:53", "has no address"),
        ("[2001:db8::1", "is not ADDR, ADDR:PORT or [V6]:PORT"),
        ("2001:db8::1:53", "is ambiguous: write [2001:db8::1]:53 for port 53"),
    ],
)
def test_server_names_and_bad_ports_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_server(text)
