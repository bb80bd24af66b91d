"""Local servers for the embedded demo and the plugin's tests, one per outcome to be measured.

:class:`DemoServers` starts them all in one child process (:mod:`pytest_spider.demo.serve`):
measuring and serving then never compete for one interpreter, and ending the process ends every
connection and frees every port at once. The child also stops by itself if this process dies.

=================  =====  ============================================================
name               TLS    behaviour
=================  =====  ============================================================
``h2_tls``         yes    HTTP/1.1 and HTTP/2 (ALPN ``h2``, ``http/1.1``)
``h1_tls``         yes    HTTP/1.1 only (ALPN ``http/1.1``): an h2 client gets HTTP/1.1
``h2c``            no     HTTP/1.1, and HTTP/2 after ``Upgrade: h2c``
``h1``             no     HTTP/1.1 only, ``Upgrade: h2c`` ignored
``h2_broken_tls``  yes    HTTP/1.1 answers; an HTTP/2 request gets a TCP reset
``h2_broken``      no     HTTP/1.1 answers; an ``Upgrade: h2c`` request gets a TCP reset
``h1_broken_tls``  yes    HTTP/2 answers; an HTTP/1.1 request gets a TCP reset
``h1_broken``      no     ``Upgrade: h2c`` is answered in HTTP/2; other requests are reset
``refuse``         no     nothing listens: connections are refused
``silent``         no     accepts connections, never sends a byte
=================  =====  ============================================================

Every answer is a 200 whose body names the server and the HTTP version it was spoken in. The
certificate, from a fresh trustme CA, is for ``example.test`` and the servers' address.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import json
import select
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import trustme

#: The name the demo certificate is for, sent as Host and SNI by :meth:`Endpoint.target`.
DEMO_DOMAIN: Final = "example.test"
#: Longest wait for the servers to listen, and for them to stop before they are killed.
_START_TIMEOUT: Final = 15.0
_STOP_TIMEOUT: Final = 5.0


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """One demo server: where it listens and whether it speaks TLS (``refuse``/``silent``: no)."""

    name: str
    host: str
    port: int
    tls: bool

    def target(self, domain: str | None = DEMO_DOMAIN) -> dict[str, Any]:
        """A PATHspider job for this server; ``domain`` (Host and SNI) is left out when None."""
        job: dict[str, Any] = {"dip": self.host, "dp": self.port}
        if domain is not None:
            job["domain"] = domain
        return job


class DemoServers:
    """Every demo server on ``host``, for the length of a ``with`` block.

    ``host`` must be an address literal (names are never resolved); ``tmpdir`` receives the
    certificates and the servers' log (``servers.log``), else a temporary directory is used and
    removed on exit.
    """

    #: The trustme CA certificate the servers' certificate chains to (PEM), once started.
    ca_pem: Path

    def __init__(self, host: str = "127.0.0.1", tmpdir: Path | None = None) -> None:
        address = ipaddress.ip_address(host)
        if address.is_unspecified:
            raise ValueError(f"demo servers need one address to listen on, not {host}")
        self.host = str(address)
        self.endpoints: dict[str, Endpoint] = {}
        self._tmpdir = tmpdir
        self._resources = contextlib.ExitStack()

    def __enter__(self) -> DemoServers:
        if self.endpoints:
            raise RuntimeError("these demo servers are already running")
        with contextlib.ExitStack() as resources:
            workdir = self._tmpdir
            if workdir is None:
                tmp = tempfile.TemporaryDirectory(prefix="pytest-spider-demo-")
                workdir = Path(resources.enter_context(tmp))
            self.ca_pem, cert = _write_certificates(workdir, self.host)
            log = workdir / "servers.log"
            command = [sys.executable, "-m", "pytest_spider.demo.serve", "--host", self.host]
            with log.open("wb") as stderr:
                process = subprocess.Popen(
                    [*command, "--cert", str(cert)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    # Out of the terminal's reach: a Ctrl-C stops us, and __exit__ stops it.
                    start_new_session=True,
                )
            resources.callback(_stop, process)
            self.endpoints = {
                found["name"]: Endpoint(found["name"], self.host, found["port"], found["tls"])
                for found in _wait_until_listening(process, log)
            }
            self._resources = resources.pop_all()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.endpoints = {}
        self._resources.close()


def ipv6_loopback() -> bool:
    """Whether this machine has an IPv6 loopback (::1) to serve on."""
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def write_target_list(
    endpoints: Iterable[Endpoint], path: Path, domain: str | None = DEMO_DOMAIN
) -> Path:
    """Write ``endpoints`` as a PATHspider ndjson target list, each naming its ``server``."""
    with path.open("w", encoding="utf-8") as out:
        for endpoint in endpoints:
            out.write(json.dumps({**endpoint.target(domain), "server": endpoint.name}) + "\n")
    return path


def _write_certificates(directory: Path, host: str) -> tuple[Path, Path]:
    """A fresh CA, and a key and chain for the servers: ``(ca.pem, server.pem)``."""
    ca = trustme.CA()
    ca_pem, server_pem = directory / "ca.pem", directory / "server.pem"
    ca.cert_pem.write_to_path(str(ca_pem))
    ca.issue_cert(DEMO_DOMAIN, host).private_key_and_cert_chain_pem.write_to_path(str(server_pem))
    return ca_pem, server_pem


def _wait_until_listening(process: subprocess.Popen[bytes], log: Path) -> list[dict[str, Any]]:
    """The servers the child reports once they all listen; RuntimeError if it does not."""
    assert process.stdout is not None
    readable, _, _ = select.select([process.stdout], [], [], _START_TIMEOUT)
    line = process.stdout.readline() if readable else b""
    if not line:
        reason = "exited" if process.poll() is not None else f"silent for {_START_TIMEOUT} s"
        raise RuntimeError(f"demo servers failed to start ({reason}): {log.read_text()[-2000:]}")
    found: list[dict[str, Any]] = json.loads(line)
    return found


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End the child: end its input, which makes it stop, and kill it if it lingers."""
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            pipe.close()
    try:
        process.wait(_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
