"""What each demo server does with a connection: answer HTTP/1.1 and HTTP/2, or fail on purpose.

Every HTTP demo server is the same small server (h11 for HTTP/1.1, h2 for HTTP/2) with a
:class:`Behaviour` saying which version it answers, which it resets and whether it offers HTTP/2
at all, so that each one makes the h2 experiment report one known condition.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import socket
import struct
from typing import Final

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h11


class Reply(enum.Enum):
    """What a server does with the requests of one HTTP version."""

    #: A 200 response naming the server and the version it was spoken in.
    ANSWER = "answer"
    #: A TCP reset once the whole request has arrived (an h2c upgrade request is reset as such).
    RESET = "reset"
    #: HTTP/2 only: not offered (no ALPN ``h2``, ``Upgrade: h2c`` ignored), so HTTP/1.1 answers.
    DECLINE = "decline"


@dataclasses.dataclass(frozen=True)
class Behaviour:
    """How one HTTP server treats each version, over TLS or in plaintext."""

    tls: bool
    h1: Reply
    h2: Reply

    @property
    def alpn(self) -> list[str]:
        """The protocols offered in the TLS handshake."""
        return ["http/1.1"] if self.h2 is Reply.DECLINE else ["h2", "http/1.1"]


#: The HTTP demo servers by name (besides these, ``silent`` and ``refuse`` speak no HTTP).
HTTP_SERVERS: Final[dict[str, Behaviour]] = {
    "h2_tls": Behaviour(tls=True, h1=Reply.ANSWER, h2=Reply.ANSWER),
    "h1_tls": Behaviour(tls=True, h1=Reply.ANSWER, h2=Reply.DECLINE),
    "h2c": Behaviour(tls=False, h1=Reply.ANSWER, h2=Reply.ANSWER),
    "h1": Behaviour(tls=False, h1=Reply.ANSWER, h2=Reply.DECLINE),
    "h2_broken_tls": Behaviour(tls=True, h1=Reply.ANSWER, h2=Reply.RESET),
    "h2_broken": Behaviour(tls=False, h1=Reply.ANSWER, h2=Reply.RESET),
    "h1_broken_tls": Behaviour(tls=True, h1=Reply.RESET, h2=Reply.ANSWER),
    "h1_broken": Behaviour(tls=False, h1=Reply.RESET, h2=Reply.ANSWER),
}

#: A client silent this long is dropped, so no connection outlives a stalled client for long.
_IDLE_TIMEOUT: Final = 10.0
_CHUNK: Final = 65536
#: What a misbehaving or vanished client raises; the connection is then simply closed.
_CLIENT_ERRORS: Final = (OSError, TimeoutError, h11.ProtocolError, h2.exceptions.ProtocolError)


async def serve_http(
    name: str, behaviour: Behaviour, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Handle one connection to the HTTP server ``name`` as its ``behaviour`` says."""
    try:
        tls = writer.get_extra_info("ssl_object")
        if tls is not None and tls.selected_alpn_protocol() == "h2":
            await _h2_session(name, behaviour.h2, reader, writer, upgrade=None)
        else:
            await _h1_session(name, behaviour, reader, writer)
    except _CLIENT_ERRORS:
        pass
    finally:
        writer.close()


async def hold_silently(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept, then never send a byte: the client times out (until it closes or we stop)."""
    try:
        while await reader.read(_CHUNK):
            pass
    except OSError:
        pass
    finally:
        writer.close()


async def _h1_session(
    name: str, behaviour: Behaviour, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """One HTTP/1.1 request; an ``Upgrade: h2c`` one may continue in HTTP/2."""
    conn = h11.Connection(h11.SERVER)
    request = await _read_request(conn, reader)
    if request is None:
        return
    wants_h2 = b"h2c" in _header_tokens(request, b"upgrade") and behaviour.h2 is not Reply.DECLINE
    if (behaviour.h2 if wants_h2 else behaviour.h1) is Reply.RESET:
        _reset(writer)
    elif wants_h2:
        switch = [(b"connection", b"Upgrade"), (b"upgrade", b"h2c")]
        writer.write(conn.send(h11.InformationalResponse(status_code=101, headers=switch)) or b"")
        settings = _header(request, b"http2-settings").strip()
        started = (settings, conn.trailing_data[0])
        await _h2_session(name, Reply.ANSWER, reader, writer, upgrade=started)
    else:
        body = _body(name, "1.1")
        response = h11.Response(status_code=200, headers=[*_headers(body), ("connection", "close")])
        for part in (response, h11.Data(data=body), h11.EndOfMessage()):
            writer.write(conn.send(part) or b"")
        await writer.drain()


async def _h2_session(
    name: str,
    reply: Reply,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    upgrade: tuple[bytes, bytes] | None,
) -> None:
    """Answer every HTTP/2 request until the client goes away, or reset on the first one.

    ``upgrade`` is ``(HTTP2-Settings, bytes already read)`` after an h2c upgrade, whose request
    becomes stream 1 and is answered first.
    """
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    pending = b""
    if upgrade is None:
        conn.initiate_connection()
    else:
        settings, pending = upgrade
        conn.initiate_upgrade_connection(settings)
        _answer_h2(conn, 1, name)
    while True:
        # A session that will reset sends nothing, not even its SETTINGS: the client then has
        # nothing left to send and is reading when the reset comes, so it always fails with
        # "connection reset", never with "broken pipe".
        if reply is Reply.ANSWER:
            writer.write(conn.data_to_send())
            await writer.drain()
        data, pending = pending or await _read(reader), b""
        if not data:
            return
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.RequestReceived) and event.stream_id is not None:
                if reply is Reply.RESET:
                    _reset(writer)
                    return
                _answer_h2(conn, event.stream_id, name)
            elif isinstance(event, h2.events.ConnectionTerminated):
                writer.write(conn.data_to_send())
                return


def _answer_h2(conn: h2.connection.H2Connection, stream_id: int, name: str) -> None:
    body = _body(name, "2")
    conn.send_headers(stream_id, [(":status", "200"), *_headers(body)])
    conn.send_data(stream_id, body, end_stream=True)


def _body(name: str, version: str) -> bytes:
    return f"pytest-spider demo server {name} answered in HTTP/{version}\n".encode()


def _headers(body: bytes) -> list[tuple[str, str]]:
    return [
        ("content-type", "text/plain; charset=utf-8"),
        ("content-length", str(len(body))),
        ("server", "pytest-spider-demo"),
    ]


async def _read_request(conn: h11.Connection, reader: asyncio.StreamReader) -> h11.Request | None:
    """The next complete request (its body skipped), None if the client closed first."""
    request = None
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await _read(reader))
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.EndOfMessage) and request is not None:
            return request
        elif isinstance(event, h11.ConnectionClosed):
            return None


def _header(request: h11.Request, name: bytes) -> bytes:
    """The value of header ``name`` (h11 lower-cases names), repeated fields joined by commas."""
    return b",".join(value for key, value in request.headers if key == name)


def _header_tokens(request: h11.Request, name: bytes) -> list[bytes]:
    """The comma-separated tokens of header ``name``, lower-cased."""
    return [token.strip().lower() for token in _header(request, name).split(b",")]


async def _read(reader: asyncio.StreamReader) -> bytes:
    """The client's next bytes, ``b""`` once it has closed; TimeoutError if it stalls."""
    return await asyncio.wait_for(reader.read(_CHUNK), _IDLE_TIMEOUT)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Drop the connection with a TCP RST (zero linger), not an orderly FIN."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
