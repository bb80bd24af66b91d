"""dnsresolv against the lab DNS server on loopback: address records out, names discarded."""

from __future__ import annotations

import json
import queue
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_spider import CONN_DISCARD
from pytest_spider.experiments.dnsresolv import DNSResolv
from pytest_spider.helpers.dns import parse_server
from pytest_spider.lab.servers import running
from pytest_spider.spider import experiment_args

RECORDS = ["www=198.18.0.5", "www=2001:db8::5", "v4only=198.18.0.6"]
MANY = [f"many=198.18.1.{i}" for i in range(1, 61)]  # too many for a 512-byte UDP answer


@pytest.fixture(scope="module")
def dns_server() -> Iterator[str]:
    """The lab DNS server on both loopback addresses; its port."""
    args = ["--host", "127.0.0.1", "--host", "::1"]
    args += [f"--record={record}" for record in RECORDS + MANY]
    with running("dns", args) as facts:
        yield str(facts["port"])


def resolve(
    job: dict[str, Any], server: str | None, timeout: float = 2.0
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run dnsresolv on one job: its flow result and the records it emitted."""
    extra = {} if server is None else {"dns_server": server}
    exp = DNSResolv(experiment_args(DNSResolv, timeout, None, extra), (None, None))
    out: queue.Queue[dict[str, Any]] = queue.Queue()
    exp.outqueue = out
    flow = DNSResolv.connections[0](exp, dict(job), 0)
    return flow, [out.get_nowait() for _ in range(out.qsize())]


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
    ("domain", "rcode"), [("nope.lab.test", "NXDOMAIN"), ("example.org", "REFUSED")]
)
def test_a_name_that_does_not_resolve_leaves_nothing(
    dns_server: str, domain: str, rcode: str
) -> None:
    flow, records = resolve({"domain": domain}, f"127.0.0.1:{dns_server}")
    assert flow["spdr_state"] == CONN_DISCARD
    assert flow["dns_rcodes"] == {"A": rcode, "AAAA": rcode}
    assert records == []


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
    assert (flow["spdr_state"], flow["error_class"]) == (CONN_DISCARD, "timeout")
    assert records == []


def test_a_closed_port_is_refused_at_once(closed_port: int) -> None:
    flow, _ = resolve({"domain": "www.lab.test"}, f"127.0.0.1:{closed_port}", timeout=5)
    assert flow["error_class"] == "refused"


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("198.18.0.1", ("198.18.0.1", 53)),
        ("198.18.0.1:5353", ("198.18.0.1", 5353)),
        ("2001:db8::1", ("2001:db8::1", 53)),
        ("[2001:db8::1]:5353", ("2001:db8::1", 5353)),
    ],
)
def test_server_addresses(text: str, parsed: tuple[str, int]) -> None:
    assert parse_server(text) == parsed


@pytest.mark.parametrize("text", ["ns.example.org", "ns.example.org:53", "198.18.0.1:0"])
def test_server_names_and_bad_ports_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_server(text)
