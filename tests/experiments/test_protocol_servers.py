"""The lab protocol servers themselves: what they answer, and that they start and stop cleanly."""

from __future__ import annotations

import socket
import subprocess
from io import BytesIO
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import pycurl
import pytest

from pytest_spider.helpers.udp import connect_udp, parse_echo, tos_sockopt
from pytest_spider.lab.servers import running

ZONE = """$TTL 60
@    IN SOA ns hostmaster 1 60 60 60 60
www  IN A 198.18.0.7
www  IN AAAA 2001:db8::7
"""


def test_dns_over_tcp_from_a_zone_file(tmp_path: Path, host: str) -> None:
    zone = tmp_path / "lab.zone"
    zone.write_text(ZONE)
    with running("dns", ["--host", host, "--zone", str(zone)]) as facts:
        port = facts["port"]
        answers = {
            (name, rdtype): dns.query.tcp(dns.message.make_query(name, rdtype), host, 2, port)
            for name, rdtype in [("www.lab.test", "AAAA"), ("no.lab.test", "A"), ("a.org", "A")]
        }
    www = answers[("www.lab.test", "AAAA")]
    assert [str(rdata) for rdata in www.answer[0]] == ["2001:db8::7"]
    assert answers[("no.lab.test", "A")].rcode() == dns.rcode.NXDOMAIN
    assert answers[("a.org", "A")].rcode() == dns.rcode.REFUSED


def test_udp_echo_tells_the_tos_byte(host: str) -> None:
    with running("udp_echo", ["--host", host]) as facts:
        job = {"dip": host, "dp": facts["port"]}
        result = connect_udp(
            None, job, 2, b"probe", [tos_sockopt(host, 0x2E)], parse_echo(b"probe")
        )
    assert (result["server_tos"], result["udp_reply_len"]) == (0x2E, 6)


def test_tfo_server_answers_plain_http(host: str) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with running("tfo", ["--host", host]) as facts, socket.socket(family) as sock:
        sock.settimeout(2)
        sock.connect((host, facts["port"]))
        sock.sendall(b"GET / HTTP/1.1\r\nHost: lab.test\r\n\r\n")
        reply = b"".join(iter(lambda: sock.recv(4096), b""))
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n")
    assert reply.endswith(b"\r\n\r\nsyn_data=0\n")


def test_the_throwaway_ca_certifies_the_https_server(host: str) -> None:
    pytest.importorskip("hypercorn", reason="the lab HTTPS server needs hypercorn (pip)")
    body = BytesIO()
    with running("h3", ["--host", host, "--no-quic"]) as facts:
        curl = pycurl.Curl()
        try:
            literal = f"[{host}]" if ":" in host else host
            curl.setopt(pycurl.URL, f"https://www.lab.test:{facts['port']}/")
            curl.setopt(pycurl.RESOLVE, [f"www.lab.test:{facts['port']}:{literal}"])
            curl.setopt(pycurl.CAINFO, facts["ca_pem"])
            curl.setopt(pycurl.TIMEOUT_MS, 2000)
            curl.setopt(pycurl.WRITEFUNCTION, body.write)
            curl.perform()
        finally:
            curl.close()
    assert body.getvalue() == b"http_version=2\n"


def test_a_server_that_cannot_start_is_an_error_not_a_hang() -> None:
    with pytest.raises(RuntimeError, match="exited with 2"), running("dns", ["--port", "x"]):
        pass


def test_a_server_is_stopped_on_leaving_the_block() -> None:
    procs: list[subprocess.Popen[str]] = []

    def spawn(argv: list[str], **kwargs: object) -> subprocess.Popen[str]:
        procs.append(subprocess.Popen(argv, **kwargs))  # type: ignore[call-overload]
        return procs[-1]

    with pytest.raises(KeyError), running("udp_echo", spawn=spawn):
        raise KeyError("a failing test body")
    assert procs[0].returncode is not None
