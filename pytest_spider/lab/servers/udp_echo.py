"""UDP echo server that also tells the TOS byte / IPv6 traffic class each datagram arrived with.

Every answer is that byte followed by the datagram (see ``pytest_spider.helpers.udp``), so a
client learns whether the path kept, cleared or changed its ECN (or DSCP) marking.

    python -m pytest_spider.lab.servers.udp_echo --host 127.0.0.1 --port 0
"""

from __future__ import annotations

import asyncio
import socket

from pytest_spider.helpers.udp import echo_reply
from pytest_spider.lab.servers import common


async def serve(hosts: list[str], port: int) -> None:
    """Echo on every host until stopped."""
    sockets = common.bind(hosts, port, [socket.SOCK_DGRAM])
    try:
        for sock in sockets:
            common.serve_datagrams(sock, echo_reply)
        common.ready(server="udp_echo", hosts=hosts, port=sockets[0].getsockname()[1])
        await common.stopped()
    finally:
        common.close(sockets)


def main() -> None:
    """Command-line entry point."""
    args = common.parser(__doc__ or "").parse_args()
    asyncio.run(serve(common.hosts(args), args.port))


if __name__ == "__main__":
    main()
