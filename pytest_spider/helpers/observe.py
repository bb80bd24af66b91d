"""A packet observer for one TCP connection: what the kernel's socket view cannot tell.

``TCP_INFO`` says whether ECN is in use, not which ECN codepoints arrived nor what flags the
SYN-ACK carried; it gives the segment size in use, not the MSS option on the wire. A
:class:`Capture` is the smallest observer that can: a packet socket (``AF_PACKET``,
``SOCK_DGRAM``, so it sees network headers on) whose classic BPF filter, attached before the
socket starts receiving, lets through only the TCP segments of one 5-tuple, in both directions.
The kernel copies nothing else to it. One is opened per connection by the experiments that need
it (ecn over TCP, dscp over TCP, mss), after the connection's socket is bound (so its port is
known) and before it connects, and closed once the connection is done.

A packet socket needs ``CAP_NET_RAW`` in the network namespace (root has it);
:func:`observer_unavailable` says why there is none. Segments are truncated to
:data:`SNAPLEN` bytes: headers are all the observer reads.

:func:`flow_fields` turns what was seen into flow-result fields named as PATHspider's observer
chains name them (``tcp_synflags_fwd``, ``ecn_ect0_data_rev``, ``dscp_mark_syn_rev``,
``mss_value_rev`` ...), so analysis written for PATHspider records reads these too.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import errno
import functools
import os
import socket
import struct
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Final

#: Every protocol (linux/if_ether.h), in network byte order for ``socket()``/``bind()``.
ETH_P_ALL: Final = 0x0003
#: ``SO_ATTACH_FILTER`` and ``SO_RCVBUFFORCE`` (asm-generic/socket.h).
SO_ATTACH_FILTER: Final = 26
SO_RCVBUFFORCE: Final = 33
#: ``sll_pkttype`` of a packet this host sent.
PACKET_OUTGOING: Final = 4
#: Bytes kept of each segment: an IPv4 header with options and a TCP header with options fit.
SNAPLEN: Final = 128
#: Receive buffer of the capture socket (the kernel counts whole packets against it).
_RCVBUF: Final = 1 << 20

#: TCP flags, the AE bit (the former NS bit, AccECN) as 0x100.
FIN, SYN, RST, PSH, ACK, URG, ECE, CWR, AE = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x100
#: The ECN field's codepoints (the low two bits of the TOS byte / traffic class).
NOT_ECT, ECT_1, ECT_0, CE = 0, 1, 2, 3
_ECN_NAMES: Final = {ECT_0: "ect0", ECT_1: "ect1", CE: "ce"}
#: TCP option kinds read.
_OPT_EOL, _OPT_NOP, _OPT_MSS, _OPT_TIMESTAMP = 0, 1, 2, 8

# Classic BPF opcodes (linux/filter.h).
_LD_B_ABS, _LD_H_ABS, _LD_W_ABS, _LD_H_IND = 0x30, 0x28, 0x20, 0x48
_LDX_B_MSH, _AND_K, _JEQ_K, _JSET_K, _RET_K = 0xB1, 0x54, 0x15, 0x45, 0x06
#: One instruction, jumps still symbolic (a label name) or relative (an int).
_Insn = tuple[int, int | str, int | str, int]


@dataclasses.dataclass(frozen=True)
class Packet:
    """What the observer read of one TCP segment."""

    #: Sent by this end of the connection (else: received).
    outgoing: bool
    #: IPv4 TOS byte / IPv6 traffic class: DSCP in the high six bits, ECN in the low two.
    tos: int
    #: TCP flags, :data:`AE` included.
    flags: int
    #: The MSS option's value and the timestamps option's values, when present.
    mss: int | None
    tsval: int | None
    tsecr: int | None
    #: TCP payload bytes (from the IP length, so truncation does not matter).
    payload: int

    @property
    def ecn(self) -> int:
        """The ECN codepoint."""
        return self.tos & 0x03

    @property
    def dscp(self) -> int:
        """The DSCP codepoint."""
        return self.tos >> 2


@functools.cache
def observer_unavailable() -> str | None:
    """None when this process can open packet sockets, else why not (for a record)."""
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, 0).close()
    except PermissionError:
        return "the packet observer needs CAP_NET_RAW (root): left out"
    except OSError as exc:
        return f"no packet socket here ({exc}): observer left out"
    return None


def _addr_words(address: str) -> list[int]:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    packed = socket.inet_pton(family, address)
    return list(struct.unpack(f"!{len(packed) // 4}I", packed))


def _match(src: str, dst: str, sport: int, dport: int, v6: bool, miss: str) -> list[_Insn | str]:
    """Instructions jumping to ``accept`` for a segment from ``src:sport`` to ``dst:dport``
    and to ``miss`` otherwise; the X register holds the TCP offset (IPv4)."""
    prog: list[_Insn | str] = []
    for base, address in ((8 if v6 else 12, src), (24 if v6 else 16, dst)):
        for i, word in enumerate(_addr_words(address)):
            prog += [(_LD_W_ABS, 0, 0, base + 4 * i), (_JEQ_K, 0, miss, word)]

    def port_load(offset: int) -> _Insn:
        # IPv6: the TCP header follows the fixed header; IPv4: it is at X (the IHL).
        return (_LD_H_ABS, 0, 0, 40 + offset) if v6 else (_LD_H_IND, 0, 0, offset)

    prog += [port_load(0), (_JEQ_K, 0, miss, sport), port_load(2), (_JEQ_K, "accept", miss, dport)]
    return prog


def filter_program(
    local: tuple[str, int], remote: tuple[str, int]
) -> list[tuple[int, int, int, int]]:
    """Classic BPF accepting the TCP segments between ``local`` and ``remote`` (either way),
    :data:`SNAPLEN` bytes of each, as seen from the network header on."""
    v6 = ":" in local[0]
    prog: list[_Insn | str] = [(_LD_B_ABS, 0, 0, 0), (_AND_K, 0, 0, 0xF0)]
    if v6:
        prog += [(_JEQ_K, 0, "reject", 0x60), (_LD_B_ABS, 0, 0, 6), (_JEQ_K, 0, "reject", 6)]
    else:
        prog += [
            (_JEQ_K, 0, "reject", 0x40),
            (_LD_B_ABS, 0, 0, 9),
            (_JEQ_K, 0, "reject", socket.IPPROTO_TCP),
            (_LD_H_ABS, 0, 0, 6),
            (_JSET_K, "reject", 0, 0x1FFF),  # a later fragment has no TCP header
            (_LDX_B_MSH, 0, 0, 0),
        ]
    prog += _match(local[0], remote[0], local[1], remote[1], v6, "reverse")
    prog += ["reverse", *_match(remote[0], local[0], remote[1], local[1], v6, "reject")]
    prog += ["accept", (_RET_K, 0, 0, SNAPLEN), "reject", (_RET_K, 0, 0, 0)]
    return _assemble(prog)


def _assemble(prog: Sequence[_Insn | str]) -> list[tuple[int, int, int, int]]:
    """Resolve label jumps to the relative offsets classic BPF takes (forward only)."""
    labels: dict[str, int] = {}
    insns: list[_Insn] = []
    for item in prog:
        if isinstance(item, str):
            labels[item] = len(insns)
        else:
            insns.append(item)

    def offset(index: int, target: int | str) -> int:
        if isinstance(target, int):
            return target
        jump = labels[target] - index - 1
        if not 0 <= jump <= 255:
            raise ValueError(f"BPF jump to {target!r} out of range")
        return jump

    return [(c, offset(i, jt), offset(i, jf), k) for i, (c, jt, jf, k) in enumerate(insns)]


def _attach(sock: socket.socket, program: Sequence[tuple[int, int, int, int]]) -> None:
    code = b"".join(struct.pack("HBBI", *insn) for insn in program)
    buffer = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("HL", len(program), ctypes.addressof(buffer))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def _bind_all(sock: socket.socket) -> None:
    """Bind a packet socket to every interface and protocol (ifindex 0), which Python's own
    ``bind()`` cannot express: from here on the kernel queues what the filter lets through."""
    address = struct.pack("=HHiHBB8s", socket.AF_PACKET, socket.htons(ETH_P_ALL), 0, 0, 0, 0, b"")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.bind(sock.fileno(), address, len(address)) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"bind: {os.strerror(code)}")


class Capture:
    """The TCP segments between ``local`` and ``remote`` (address, port) from now until
    :meth:`close`; a context manager. Raises ``OSError`` where no packet socket can be had
    (see :func:`observer_unavailable`)."""

    def __init__(self, local: tuple[str, int], remote: tuple[str, int]) -> None:
        self.local, self.remote = local, remote
        self._family = socket.AF_INET6 if ":" in local[0] else socket.AF_INET
        self._seen: list[Packet] = []
        # Protocol 0: the socket receives nothing until it is bound, after the filter is on.
        self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, 0)
        try:
            try:
                self._sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, _RCVBUF)
            except PermissionError:
                self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
            _attach(self._sock, filter_program(local, remote))
            _bind_all(self._sock)
            self._sock.setblocking(False)
        except BaseException:
            self._sock.close()
            raise

    def packets(self) -> list[Packet]:
        """Every segment seen so far, in order (reading what has arrived since last time)."""
        if self._sock.fileno() >= 0:
            while True:
                try:
                    data, address = self._sock.recvfrom(SNAPLEN)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:
                    if exc.errno == errno.ENETDOWN:  # an interface went away meanwhile
                        continue
                    raise
                packet = self._parse(data, address[2] == PACKET_OUTGOING)
                if packet is not None:
                    self._seen.append(packet)
        return list(self._seen)

    def _parse(self, data: bytes, sent: bool) -> Packet | None:
        """One segment; None for a copy to drop (loopback shows each packet twice: once as
        sent, once as received, and each direction keeps one of them)."""
        parsed = parse(data, self._family)
        if parsed is None:
            return None
        ends, packet = parsed
        if ends == (self.local, self.remote):
            outgoing = True
        elif ends == (self.remote, self.local):
            outgoing = False
        else:
            return None
        if outgoing != sent:
            return None
        return dataclasses.replace(packet, outgoing=outgoing)

    def close(self) -> None:
        """Stop observing (what was seen stays readable through :meth:`packets`)."""
        with contextlib.suppress(OSError):
            self.packets()
        self._sock.close()

    def __enter__(self) -> Capture:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


Ends = tuple[tuple[str, int], tuple[str, int]]


def parse(data: bytes, family: int) -> tuple[Ends, Packet] | None:
    """The (source, destination) addresses and ports and the :class:`Packet` (``outgoing``
    unset) of an IP packet holding a TCP segment; None for anything else."""
    try:
        if family == socket.AF_INET:
            if data[0] >> 4 != 4:
                return None
            header = (data[0] & 0x0F) * 4
            tos, total = data[1], struct.unpack_from("!H", data, 2)[0]
            src = socket.inet_ntop(socket.AF_INET, data[12:16])
            dst = socket.inet_ntop(socket.AF_INET, data[16:20])
            ip_payload = total - header
        else:
            if data[0] >> 4 != 6:
                return None
            header = 40
            tos = ((data[0] & 0x0F) << 4) | (data[1] >> 4)
            ip_payload = struct.unpack_from("!H", data, 4)[0]
            src = socket.inet_ntop(socket.AF_INET6, data[8:24])
            dst = socket.inet_ntop(socket.AF_INET6, data[24:40])
        tcp = data[header:]
        sport, dport = struct.unpack_from("!HH", tcp, 0)
        offset = (tcp[12] >> 4) * 4
        flags = ((tcp[12] & 0x01) << 8) | tcp[13]
    except (IndexError, struct.error, ValueError):
        return None
    mss, tsval, tsecr = _options(tcp[20:offset])
    packet = Packet(False, tos, flags, mss, tsval, tsecr, max(ip_payload - offset, 0))
    return ((src, sport), (dst, dport)), packet


def _options(raw: bytes) -> tuple[int | None, int | None, int | None]:
    """The MSS and the timestamp values among TCP options (missing or cut off: None)."""
    mss = tsval = tsecr = None
    i = 0
    while i < len(raw):
        kind = raw[i]
        if kind == _OPT_EOL:
            break
        if kind == _OPT_NOP:
            i += 1
            continue
        if i + 1 >= len(raw) or raw[i + 1] < 2:
            break
        length = raw[i + 1]
        value = raw[i + 2 : i + length]
        if kind == _OPT_MSS and len(value) == 2:
            mss = struct.unpack("!H", value)[0]
        elif kind == _OPT_TIMESTAMP and len(value) == 8:
            tsval, tsecr = struct.unpack("!II", value)
        i += length
    return mss, tsval, tsecr


def is_syn(packet: Packet) -> bool:
    """A SYN that is not a SYN-ACK."""
    return packet.flags & (SYN | ACK) == SYN


def is_synack(packet: Packet) -> bool:
    """A SYN-ACK."""
    return packet.flags & (SYN | ACK) == SYN | ACK


def flow_fields(packets: Sequence[Packet]) -> dict[str, Any]:
    """What ``packets`` (one connection, in order) show, as flow-result fields.

    PATHspider's observer fields, with its meanings: ``tcp_synflags_fwd|rev`` (the low eight
    flag bits of the first SYN sent and of the first SYN-ACK received), ``tcp_connected`` (a
    SYN went out, a SYN-ACK came back, an ACK followed), ``ecn_{ect0,ect1,ce}_{syn,data}_{fwd,
    rev}`` (that codepoint was seen on a SYN / on any other segment, each way),
    ``dscp_mark_{syn,data}_{fwd,rev}`` (the DSCP of the first SYN / of the first segment
    with payload, each way), ``mss_len|value_fwd|rev`` (the MSS option of the first SYN /
    SYN-ACK). Besides: ``tcp_syns_fwd`` (every SYN sent: its flags and timestamp value, so a
    SYN sent again shows), ``tcp_synack_tsecr`` (the timestamp the first SYN-ACK echoed:
    which SYN it answered) and ``tcp_synack_dscp``.
    """
    fwd = [p for p in packets if p.outgoing]
    rev = [p for p in packets if not p.outgoing]
    syns = [p for p in fwd if is_syn(p)]
    synacks = [p for p in rev if is_synack(p)]
    fields: dict[str, Any] = {
        "observed": True,
        "tcp_synflags_fwd": syns[0].flags & 0xFF if syns else None,
        "tcp_synflags_rev": synacks[0].flags & 0xFF if synacks else None,
        "tcp_connected": _connected(packets),
        "tcp_syns_fwd": [{"flags": p.flags, "tsval": p.tsval} for p in syns],
        "tcp_synack_tsecr": synacks[0].tsecr if synacks else None,
        "tcp_synack_dscp": synacks[0].dscp if synacks else None,
    }
    for direction, seen in (("fwd", fwd), ("rev", rev)):
        first_syn = next((p for p in seen if p.flags & SYN), None)
        first_data = next((p for p in seen if p.payload and not p.flags & SYN), None)
        firsts = syns if direction == "fwd" else synacks
        mss_from = firsts[0] if firsts else None
        for codepoint, name in _ECN_NAMES.items():
            fields[f"ecn_{name}_syn_{direction}"] = any(
                p.ecn == codepoint for p in seen if p.flags & SYN
            )
            fields[f"ecn_{name}_data_{direction}"] = any(
                p.ecn == codepoint for p in seen if not p.flags & SYN
            )
        fields[f"dscp_mark_syn_{direction}"] = first_syn.dscp if first_syn else None
        fields[f"dscp_mark_data_{direction}"] = first_data.dscp if first_data else None
        has_mss = mss_from is not None and mss_from.mss is not None
        fields[f"mss_len_{direction}"] = 4 if has_mss else None
        fields[f"mss_value_{direction}"] = mss_from.mss if mss_from is not None else None
    return fields


def _connected(packets: Sequence[Packet]) -> bool:
    stage = 0
    for p in packets:
        if stage == 0 and p.outgoing and is_syn(p):
            stage = 1
        elif stage == 1 and not p.outgoing and is_synack(p):
            stage = 2
        elif stage == 2 and p.outgoing and p.flags & (SYN | ACK | RST) == ACK:
            return True
    return False
