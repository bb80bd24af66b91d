"""HTTPS server: HTTP/1.1 and HTTP/2 over TLS on TCP, HTTP/3 over QUIC on the same UDP port.

Built on hypercorn (with aioquic for QUIC). The knobs make the server side of every condition
of the h3 and tls experiments: ``--no-tcp`` / ``--no-quic`` leave one transport out,
``--alt-svc`` advertises HTTP/3 even without QUIC, ``--tls-min`` / ``--tls-max`` bound the TLS
versions over TCP and ``--alpn`` sets the protocols offered there. Without ``--cert`` and
``--key`` a throwaway CA (trustme) issues the certificate; its path is ``ca_pem`` on the
READY line. Every answer is a ``200`` whose body names the HTTP version spoken.

    python -m pytest_spider.lab.servers.h3 --host 127.0.0.1 --port 0 [--no-quic] [--alt-svc]
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import socket
import ssl
import tempfile
from pathlib import Path

import hypercorn.asyncio
import hypercorn.config
import trustme
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, Scope

from pytest_spider.lab.servers import common

#: Seconds open connections get to finish once the server is asked to stop.
_GRACE = 0.5

TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    """The ASGI application: ``200`` with the HTTP version in the body."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = f"http_version={scope['http_version']}\n".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))],
            "trailers": False,
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


class _Config(hypercorn.config.Config):
    """Hypercorn's configuration, with the TLS versions over TCP bounded."""

    tls_min = ssl.TLSVersion.TLSv1_2
    tls_max = ssl.TLSVersion.MAXIMUM_SUPPORTED

    def create_ssl_context(self) -> ssl.SSLContext | None:
        context: ssl.SSLContext | None = super().create_ssl_context()
        if context is not None:
            context.minimum_version = self.tls_min
            context.maximum_version = self.tls_max
        return context


def issue_certificate(hosts: list[str], names: list[str], folder: Path) -> tuple[str, str, str]:
    """A throwaway CA and a certificate for ``hosts`` and ``names``: (ca, cert, key) paths."""
    ca = trustme.CA()
    identities = [h for h in hosts if not ipaddress.ip_address(h).is_unspecified] + names
    cert = ca.issue_cert(*identities)
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    ca.cert_pem.write_to_path(str(paths[0]))
    cert.cert_chain_pems[0].write_to_path(str(paths[1]))
    cert.private_key_pem.write_to_path(str(paths[2]))
    return str(paths[0]), str(paths[1]), str(paths[2])


async def serve(args: argparse.Namespace, folder: Path) -> None:
    """Serve HTTPS over TCP and/or QUIC on every host until stopped."""
    hosts = common.hosts(args)
    kinds = [socket.SOCK_STREAM] * (not args.no_tcp) + [socket.SOCK_DGRAM] * (not args.no_quic)
    sockets = common.bind(hosts, args.port, kinds)
    port = sockets[0].getsockname()[1]
    config = _Config()
    config.tls_min, config.tls_max = TLS_VERSIONS[args.tls_min], TLS_VERSIONS[args.tls_max]
    config.alpn_protocols = args.alpn.split(",")
    config.loglevel = "WARNING"
    config.graceful_timeout = _GRACE
    if args.cert and args.key:
        ca_pem, config.certfile, config.keyfile = None, args.cert, args.key
    else:
        ca_pem, config.certfile, config.keyfile = issue_certificate(hosts, args.name, folder)
    if args.alt_svc and args.no_quic:
        config.alt_svc_headers = [f'h3=":{port}"; ma=3600']
    for sock in sockets:
        if sock.type == socket.SOCK_STREAM:
            sock.listen(128)  # before READY: hypercorn takes over the listening sockets
    # Hypercorn adopts the sockets by descriptor; detach() hands it their ownership.
    config.bind = [f"fd://{s.detach()}" for s in sockets if s.type == socket.SOCK_STREAM]
    config.quic_bind = [f"fd://{s.detach()}" for s in sockets if s.type == socket.SOCK_DGRAM]
    common.ready(server="h3", hosts=hosts, port=port, ca_pem=ca_pem)
    await hypercorn.asyncio.serve(app, config, shutdown_trigger=common.stopped)


def main() -> None:
    """Command-line entry point."""
    parser = common.parser(__doc__ or "")
    parser.add_argument("--no-tcp", action="store_true", help="no TLS over TCP")
    parser.add_argument("--no-quic", action="store_true", help="no HTTP/3 over QUIC")
    parser.add_argument(
        "--alt-svc", action="store_true", help="advertise HTTP/3 (Alt-Svc) even with --no-quic"
    )
    parser.add_argument("--tls-min", choices=TLS_VERSIONS, default="1.2")
    parser.add_argument("--tls-max", choices=TLS_VERSIONS, default="1.3")
    parser.add_argument("--alpn", default="h2,http/1.1", help="ALPN protocols over TCP")
    parser.add_argument("--cert", help="certificate chain (PEM); default: a throwaway CA's")
    parser.add_argument("--key", help="private key of --cert (PEM)")
    parser.add_argument(
        "--name", action="append", default=["lab.test", "*.lab.test"], help="certificate name"
    )
    args = parser.parse_args()
    if args.no_tcp and args.no_quic:
        parser.error("--no-tcp and --no-quic leave nothing to serve")
    with tempfile.TemporaryDirectory(prefix="spider-h3-") as folder:
        asyncio.run(serve(args, Path(folder)))


if __name__ == "__main__":
    main()
