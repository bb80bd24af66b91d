"""Target lists: PATHspider's input files turned into validated, de-duplicated targets.

Every file is read line by line so that one bad line costs one :class:`BadLine`, not the run,
and a million-line list streams in seconds. Names are only ever carried as labels (Host, SNI):
nothing here resolves them, so a list cannot make the plugin send a DNS query.

What a bad line costs is bounded: a line that is not UTF-8 is one bad line (named by its line
number), the first :data:`BAD_LINES_KEPT` bad lines are kept with their reason and the rest
only counted, and a message quotes at most a short excerpt of a line, with control characters
escaped. Nothing is read two ways: a domain that ends in a number (``3323068738``,
``0xc6120143``, ``198.18.1.66``), which URL parsers read as an IPv4 address, is no name; and a
bracketless IPv6 address whose last group could be a port (``2001:db8::1:80``) is refused as
ambiguous (``[2001:db8::1]:80`` or ``[2001:db8::1:80]`` say which). IPv4-mapped IPv6
addresses (``::ffff:198.18.0.1``) are their IPv4 address.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import ipaddress
import json
import re
import socket
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final, TextIO

from pytest_spider import heap
from pytest_spider.schema import CAMPAIGN

NDJSON: Final = "ndjson"
CSV_DIP: Final = "csv-dip"
CSV_RANK: Final = "csv-rank"
PLAIN: Final = "plain"

#: Header lines recognised (and skipped) at the top of a CSV file.
_CSV_HEADERS: Final[dict[tuple[str, ...], str]] = {
    ("dip", "dp", "domain"): CSV_DIP,
    ("dip", "dp", "domain", "rank"): CSV_DIP,
    ("rank", "domain"): CSV_RANK,
}
_DIP_COLUMNS: Final = ("dip", "dp", "domain", "rank")
_URL_SCHEMES: Final = (("http://", 80), ("https://", 443))
_HOSTNAME: Final = re.compile(r"(?:[A-Za-z0-9_-]{1,63}\.)*[A-Za-z0-9_-]{1,63}\.?")
_TRAILING_COMMENT: Final = re.compile(r"\s+#.*")
_URL_HOST_END: Final = re.compile(r"[/?#]")
_LETTER: Final = re.compile(r"[A-Za-z]")
#: A last label that makes URL parsers (WHATWG, curl) read a host as an IPv4 address.
_NUMBER_LABEL: Final = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)\.?", re.IGNORECASE)
#: Characters of a bad line its message shows, of a value a reason quotes, of a line kept.
_SHOWN_CHARS: Final = 80
_QUOTED_CHARS: Final = 60
_KEPT_CHARS: Final = 512
#: Bad lines kept with their reason (``TargetList.bad``); later ones are only counted.
BAD_LINES_KEPT: Final = 100

Key = tuple[str | None, int | None, str | None]


class TargetFileError(Exception):
    """A target file that yields nothing usable: missing, unreadable, not text, or no targets."""


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    """One target as measured: canonical address, port and label, plus the input's own fields.

    ``fields`` is what the input line held (ndjson: the whole object), kept so records can
    carry it back out; treat it as read-only and use :meth:`job` for something to modify.
    """

    dip: str | None
    dp: int | None
    domain: str | None
    fields: Mapping[str, Any] = dataclasses.field(compare=False)
    #: The file the target came from, and its line there (see :attr:`origin`).
    path: str = dataclasses.field(compare=False)
    lineno: int = dataclasses.field(compare=False)

    @property
    def origin(self) -> str:
        """``file:line`` of the target's input line."""
        return f"{self.path}:{self.lineno}"

    @property
    def key(self) -> Key:
        """What makes two lines the same target."""
        return (self.dip, self.dp, self.domain)

    def job(self) -> dict[str, Any]:
        """A fresh PATHspider job dict (deep copy), since connect helpers and plugins modify jobs.

        ``dip``, ``dp`` and ``domain`` hold the canonical values and are left out when None,
        as PATHspider tests ``'dip' in job``.
        """
        job = {name: copy.deepcopy(value) for name, value in self.fields.items()}
        for name, value in (("dip", self.dip), ("dp", self.dp), ("domain", self.domain)):
            if value is None:
                job.pop(name, None)
            else:
                job[name] = value
        return job

    def label(self) -> str:
        """Readable, stable text for node ids; IPv6 is spelled out since pytest splits on '::'."""
        if self.dip is None:
            return self.domain or ""
        host = self.dip
        if ":" in host:
            value = int(ipaddress.IPv6Address(host))
            host = ":".join(f"{(value >> shift) & 0xFFFF:x}" for shift in range(112, -1, -16))
            if self.dp is not None:
                host = f"[{host}]"
        if self.dp is not None:
            host = f"{host}:{self.dp}"
        return f"{host} {self.domain}" if self.domain else host


def escaped(text: str) -> str:
    """``text`` safe for a terminal: control and other unprintable characters as escapes
    (``\\x00``, ``\\x1b``, ``\\t``), a byte that was not UTF-8 as ``\\xff``."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def _escape(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, as surrogateescape keeps it
        return f"\\x{code - 0xDC00:02x}"
    return repr(char)[1:-1]


def quoted(value: object) -> str:
    """A value for a message, quoted as ``repr`` would: escaped, and cut after
    :data:`_QUOTED_CHARS` characters (a 10 MB line is not echoed)."""
    if not isinstance(value, str):
        text = escaped(repr(value))
        return text if len(text) <= _QUOTED_CHARS else text[:_QUOTED_CHARS] + "..."
    cut = value[:_QUOTED_CHARS]
    text = "'" + escaped(cut.replace("\\", "\\\\").replace("'", "\\'")) + "'"
    return text + "..." if len(value) > _QUOTED_CHARS else text


@dataclasses.dataclass(frozen=True)
class BadLine:
    """An input line that was skipped, with the reason in words a user can act on.

    ``text`` holds at most the line's first :data:`_KEPT_CHARS` characters; printed, it shows
    fewer, escaped.
    """

    path: str
    lineno: int
    text: str
    reason: str

    def __str__(self) -> str:
        text = self.text
        if len(text) > _SHOWN_CHARS:
            text = text[: _SHOWN_CHARS - 3] + "..."
        return f"{self.path}:{self.lineno}: {self.reason}: {escaped(text)}"


@dataclasses.dataclass
class TargetList:
    """Everything loaded from the target files, for reporting: the targets, the first
    ``keep_bad`` bad lines and how many there were (memory stays bounded however many)."""

    targets: list[Target] = dataclasses.field(default_factory=list)
    bad: list[BadLine] = dataclasses.field(default_factory=list)
    duplicates: int = 0
    formats: dict[str, str] = dataclasses.field(default_factory=dict)
    #: All bad lines, kept or not.
    bad_count: int = 0


class _Bad(Exception):
    """Why a line is not a target; becomes a :class:`BadLine`."""


_Parsed = tuple[str | None, int | None, str | None, dict[str, Any]]


def canonical_ip(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """An address's one spelling: ipaddress's compressed form, and an IPv4-mapped IPv6
    address (``::ffff:198.18.0.1``) as its IPv4 address, since connecting to it sends IPv4."""
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).compressed


def _address(text: str) -> str:
    """The canonical text of an IP address (:func:`canonical_ip`)."""
    try:
        # Fast path for the common case: dotted-quad text that already is canonical.
        if socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, text)) == text:
            return text
    except (OSError, ValueError):
        # Without a colon it is no IPv6 address, and inet_pton is as strict as ipaddress
        # about IPv4 (four decimal parts, no leading zeros): no need to ask ipaddress, whose
        # failures are most of what a million bad lines cost.
        if ":" not in text:
            raise _not_address(text) from None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise _not_address(text) from None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        raise _Bad(f"not an IP address {quoted(text)} (zone ids are not supported)")
    canonical = canonical_ip(address)
    return text if canonical == text else canonical  # one string per target, not two


def _not_address(text: str) -> _Bad:
    if _HOSTNAME.fullmatch(text) and _LETTER.search(text):
        return _Bad(f"names are not resolved; give an address: {quoted(text)}")
    return _Bad(f"not an IP address {quoted(text)}")


def _port(value: object) -> int:
    """A port number from an int or numeric text."""
    text = value.strip() if isinstance(value, str) else None
    if text is not None and text.isdigit() and text.isascii():
        digits = text.lstrip("0")
        number = int(digits) if 0 < len(digits) <= 5 else 0
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise _Bad(f"bad port {quoted(str(value))} (not a number)")
    if not 1 <= number <= 65535:
        raise _Bad(f"bad port {quoted(str(value))} (must be 1-65535)")
    return number


def is_name(value: object) -> bool:
    """``value`` is a hostname that can only be read as a name: valid (letters, digits, ``-``,
    ``_``; labels of 1-63 characters, 253 in all) and not ending in a number, which URL
    parsers (WHATWG's, curl's) read as an IPv4 address (``3323068738``, ``0xc6120143``,
    ``030604400503``, ``198.18.1.66``). Only such a domain may be a Host header or TLS SNI."""
    if not isinstance(value, str) or len(value.rstrip(".")) > 253:
        return False
    if not _HOSTNAME.fullmatch(value):
        return False
    return not _NUMBER_LABEL.fullmatch(value.rstrip(".").rpartition(".")[2] + ".")


def _domain(value: object, dip: str | None = None) -> str | None:
    """A hostname label, lower-cased so that case variants are one target; never resolved.

    A domain that is a number (:func:`is_name`) is refused, unless it is the target's own
    address as written in ``dip``: it would not be a name, but an address to connect to.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value.rstrip(".")) > 253 or not _HOSTNAME.fullmatch(value):
        raise _Bad(f"bad domain {quoted(value)} (not a valid hostname)")
    domain = value if value.islower() else value.lower()  # no second copy when already lower
    if not is_name(domain) and domain.rstrip(".") != dip:
        raise _Bad(
            f"bad domain {quoted(value)} (ends in a number, so it reads as an IPv4 address, "
            "not a name; the address to measure goes in dip)"
        )
    return domain


def _uncomment(line: str) -> str:
    return _TRAILING_COMMENT.sub("", line) if "#" in line else line


def _csv_row(line: str) -> list[str]:
    text = _uncomment(line)
    try:
        row = next(csv.reader([text], strict=True)) if '"' in text else text.split(",")
    except csv.Error as exc:
        raise _Bad(f"CSV does not parse ({exc})") from None
    return [field.strip() for field in row]


def _interned_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return {sys.intern(key): value for key, value in pairs}


#: Decodes ndjson lines with one copy of each key name for all lines, not one per line:
#: the keys were a third of the memory that 10^5 loaded targets take.
_JSON = json.JSONDecoder(object_pairs_hook=_interned_keys)


def _parse_ndjson(line: str) -> _Parsed:
    try:
        obj = _JSON.decode(line)
    except ValueError as exc:
        raise _Bad(f"JSON does not parse ({exc})") from None
    if not isinstance(obj, dict):
        raise _Bad(f"JSON is not an object (got {type(obj).__name__})")
    dip = obj.get("dip")
    dp = obj.get("dp")
    if dip is None:
        domain = _domain(obj.get("domain"))
        if domain is None:
            raise _Bad("no 'dip' and no 'domain'")
        if dp is not None:
            raise _Bad("'dp' without 'dip' (a port needs an address)")
        return None, None, domain, obj
    if not isinstance(dip, str):
        raise _Bad(f"not an IP address {quoted(dip)}")
    address = _address(dip)
    domain = _domain(obj.get("domain"), address)
    return address, None if dp is None else _port(dp), domain, obj


def _parse_csv_dip(line: str) -> _Parsed:
    row = _csv_row(line)
    if len(row) not in (3, 4):
        raise _Bad(f"wrong column count: {len(row)} (dip,dp,domain[,rank] has 3 or 4)")
    dip = _address(row[0])
    dp = _port(row[1]) if row[1] else None
    return dip, dp, _domain(row[2], dip), dict(zip(_DIP_COLUMNS, row, strict=False))


def _parse_csv_rank(line: str) -> _Parsed:
    row = _csv_row(line)
    if len(row) != 2:
        raise _Bad(f"wrong column count: {len(row)} (rank,domain has 2)")
    rank, name = row
    if not (rank.isascii() and rank.isdigit()):
        raise _Bad(f"bad rank {quoted(rank)} (not a number)")
    domain = _domain(name)
    if domain is None:
        raise _Bad("no domain")
    return None, None, domain, {"rank": rank, "domain": name}


def port_reading(text: str) -> tuple[str, str] | None:
    """The ``(address, port)`` a bracketless IPv6 text also reads as, if it does.

    ``2001:db8::1:80`` is the address ``2001:db8::1:80``, or ``2001:db8::1`` with port 80.
    A text reads both ways when its last group is a port number (decimal, 1-65535) and what
    precedes it is an IPv6 address on its own: never with all eight groups written out, nor
    when the last group has a hex letter (``2001:db8::1``, ``2001:db8::cafe``, ``::1``).
    """
    head, colon, last = text.rpartition(":")
    if not colon or not (0 < len(last) <= 5 and last.isascii() and last.isdigit()):
        return None
    if not 1 <= int(last) <= 65535:
        return None
    try:
        ipaddress.IPv6Address(head)
    except ValueError:
        return None
    return head, last


def _host_port(text: str, in_url: bool) -> tuple[str, int | None]:
    """``ADDR``, ``ADDR:PORT``, ``[V6]``, ``[V6]:PORT`` or (outside URLs) a bare ``V6`` that
    cannot be read as ``V6:PORT`` (:func:`port_reading`)."""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise _Bad(f"not an IP address {quoted(text)}")
        return _address(host), _port(rest[1:]) if rest else None
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return _address(host), _port(port)
    if in_url and ":" in text:
        raise _Bad(f"an IPv6 address in a URL needs brackets: {quoted(text)}")
    reading = port_reading(text) if ":" in text else None
    if reading is None:
        return _address(text), None
    head, port = reading
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        raise _Bad(
            f"not an IP address {quoted(text)}; an IPv6 address with a port is written "
            f"[{head}]:{port}"
        ) from None
    raise _Bad(
        f"ambiguous: {quoted(text)} is an IPv6 address, or {head} with port {port}; "
        f"write [{head}]:{port} for the port, [{text}] for the address"
    )


def _parse_plain(line: str) -> _Parsed:
    text = _uncomment(line)
    for scheme, default_port in _URL_SCHEMES if "://" in text else ():
        if text[: len(scheme)].lower() == scheme:
            authority = _URL_HOST_END.split(text[len(scheme) :], maxsplit=1)[0]
            dip, dp = _host_port(authority, in_url=True)
            dp = default_port if dp is None else dp
            break
    else:
        dip, dp = _host_port(text, in_url=False)
    return dip, dp, None, {"dip": dip} if dp is None else {"dip": dip, "dp": dp}


_PARSERS: Final[dict[str, Callable[[str], _Parsed]]] = {
    NDJSON: _parse_ndjson,
    CSV_DIP: _parse_csv_dip,
    CSV_RANK: _parse_csv_rank,
    PLAIN: _parse_plain,
}


def _detect(line: str) -> tuple[str, bool]:
    """The format a file's first content line announces, and whether that line is a header."""
    if line.startswith("{"):
        return NDJSON, False
    if "," not in _uncomment(line):
        return PLAIN, False
    row = _csv_row(line)
    header = _CSV_HEADERS.get(tuple(field.lower() for field in row))
    if header:
        return header, True
    try:
        _address(row[0])
    except _Bad:
        if row[0].isascii() and row[0].isdigit():
            return CSV_RANK, False
        raise _Bad(
            f"cannot tell the format: first column {quoted(row[0])} is neither an address "
            "nor a rank"
        ) from None
    return CSV_DIP, False


def _reason(line: str, fmt: str, error: _Bad) -> str:
    """The error, unless the line is valid in another format: then say that, it is the fix."""
    for other, parse in _PARSERS.items():
        if other != fmt:
            try:
                parse(line)
            except _Bad:
                continue
            return f"this is a {other} line but the file is {fmt}"
    return str(error)


#: How the campaign metadata line of pytest-spider's own output begins.
CAMPAIGN_LINE = '{"' + CAMPAIGN + '"'


class _FileReader:
    """One file's lines as targets and bad lines; keeps the format it detected.

    While ``explain`` is false, a bad line is yielded as None: counted, with no reason worked
    out (trying every other format on each of a million bad lines is most of their cost).
    """

    def __init__(self, path: str, stream: TextIO) -> None:
        self.path = path
        self.stream = stream
        self.format: str | None = None
        self.explain = True

    def __iter__(self) -> Iterator[Target | BadLine | None]:
        parse: Callable[[str], _Parsed] | None = None
        for lineno, raw in enumerate(self.stream, 1):
            line = (raw.lstrip("\ufeff") if lineno == 1 else raw).strip()
            # A campaign's output is a target list too: its metadata line is no target.
            if not line or line.startswith(("#", CAMPAIGN_LINE)):
                continue
            not_text = None if line.isascii() else _not_text(line)
            if not_text is not None:
                yield BadLine(self.path, lineno, line[:_KEPT_CHARS], not_text)
                continue
            try:
                if parse is None:
                    self.format, is_header = _detect(line)
                    parse = _PARSERS[self.format]
                    if is_header:
                        continue
                dip, dp, domain, fields = parse(line)
            except _Bad as error:
                if not self.explain:
                    yield None
                    continue
                reason = str(error) if self.format is None else _reason(line, self.format, error)
                yield BadLine(self.path, lineno, line[:_KEPT_CHARS], reason)
                continue
            yield Target(dip, dp, domain, fields, self.path, lineno)


def _not_text(line: str) -> str | None:
    """Why a line is not text, or None. Files are read with ``surrogateescape``: a byte that
    is not UTF-8 arrives as a lone surrogate, and makes its line (only) a bad line."""
    try:
        line.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(line[exc.start])
        what = f"byte 0x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"U+{code:04X}"
        return f"not UTF-8 text ({what} at character {exc.start + 1})"
    return None


def iter_targets(path: str, stream: TextIO) -> Iterator[Target | BadLine]:
    """Targets and bad lines of one file, in order; the format comes from the first content line.

    ``path`` only names the file in origins and messages; nothing is de-duplicated here.
    """
    return (item for item in _FileReader(path, stream) if item is not None)


def load_targets(
    paths: Sequence[str], stdin: TextIO | None = None, keep_bad: int = BAD_LINES_KEPT
) -> TargetList:
    """All targets of ``paths`` ("-" is stdin) in order, each key once; the first ``keep_bad``
    bad lines kept, all of them counted.

    Files are read as UTF-8 line by line: a line that is not is a bad line, not the file's end.
    Raises :class:`TargetFileError` for a file that cannot be read or holds no target, since
    a measurement over a list that silently came out empty would report nothing useful.
    """
    result = TargetList()
    seen: set[Key] = set()
    read_stdin = False
    with heap.paused():  # a million new Targets would only trigger useless passes
        for path in paths:
            if path != "-":
                try:
                    with open(path, encoding="utf-8", errors="surrogateescape") as file:
                        _load_file(result, seen, path, file, keep_bad)
                except OSError as exc:
                    raise TargetFileError(f"{path}: cannot read ({exc.strerror or exc})") from exc
            elif read_stdin:
                raise TargetFileError("'-' (stdin) given more than once")
            else:
                read_stdin = True
                stream = sys.stdin if stdin is None else stdin
                _load_file(result, seen, "<stdin>", stream, keep_bad)
    return result


def _load_file(
    result: TargetList, seen: set[Key], name: str, stream: TextIO, keep_bad: int
) -> None:
    reader = _FileReader(name, stream)
    first_bad: BadLine | None = None
    bad = found = 0
    try:
        for item in reader:
            if item is None or isinstance(item, BadLine):
                bad += 1
                if item is not None:
                    first_bad = first_bad or item
                    if len(result.bad) < keep_bad:
                        result.bad.append(item)
                    reader.explain = len(result.bad) < keep_bad
                continue
            found += 1
            key = item.key
            if key in seen:
                result.duplicates += 1
            else:
                seen.add(key)
                result.targets.append(item)
    except UnicodeDecodeError as exc:
        raise TargetFileError(f"{name}: not UTF-8 text ({exc.reason})") from exc
    finally:
        result.bad_count += bad
    if not found:
        detail = f" ({bad} bad lines, the first: {first_bad})" if first_bad else ""
        raise TargetFileError(f"{name}: no targets{detail}")
    if reader.format is not None:
        result.formats[name] = reader.format
