"""Target lists: PATHspider's input files turned into validated, de-duplicated targets.

Every file is read line by line so that one bad line costs one :class:`BadLine`, not the run,
and a million-line list streams in seconds. Names are only ever carried as labels (Host, SNI):
nothing here resolves them, so a list cannot make the plugin send a DNS query.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import dataclasses
import gc
import ipaddress
import json
import re
import socket
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final, TextIO

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
_SHOWN_CHARS: Final = 80

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


@dataclasses.dataclass(frozen=True)
class BadLine:
    """An input line that was skipped, with the reason in words a user can act on."""

    path: str
    lineno: int
    text: str
    reason: str

    def __str__(self) -> str:
        text = self.text
        if len(text) > _SHOWN_CHARS:
            text = text[: _SHOWN_CHARS - 3] + "..."
        return f"{self.path}:{self.lineno}: {self.reason}: {text}"


@dataclasses.dataclass
class TargetList:
    """Everything loaded from the target files, bad lines included, for reporting."""

    targets: list[Target] = dataclasses.field(default_factory=list)
    bad: list[BadLine] = dataclasses.field(default_factory=list)
    duplicates: int = 0
    formats: dict[str, str] = dataclasses.field(default_factory=dict)


class _Bad(Exception):
    """Why a line is not a target; becomes a :class:`BadLine`."""


_Parsed = tuple[str | None, int | None, str | None, dict[str, Any]]


def _address(text: str) -> str:
    """The canonical text of an IP address (ipaddress's compressed form)."""
    try:
        # Fast path for the common case: dotted-quad text that already is canonical.
        if socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, text)) == text:
            return text
    except (OSError, ValueError):
        pass
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        if _HOSTNAME.fullmatch(text) and any(char.isalpha() for char in text):
            raise _Bad(f"names are not resolved; give an address: {text!r}") from None
        raise _Bad(f"not an IP address {text!r}") from None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        raise _Bad(f"not an IP address {text!r} (zone ids are not supported)")
    canonical = address.compressed
    return text if canonical == text else canonical  # one string per target, not two


def _port(value: object) -> int:
    """A port number from an int or numeric text."""
    text = value.strip() if isinstance(value, str) else None
    if text is not None and text.isdigit() and text.isascii():
        digits = text.lstrip("0")
        number = int(digits) if 0 < len(digits) <= 5 else 0
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise _Bad(f"bad port {str(value)!r} (not a number)")
    if not 1 <= number <= 65535:
        raise _Bad(f"bad port {str(value)!r} (must be 1-65535)")
    return number


def _domain(value: object) -> str | None:
    """A hostname label, lower-cased so that case variants are one target; never resolved."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value.rstrip(".")) > 253 or not _HOSTNAME.fullmatch(value):
        raise _Bad(f"bad domain {value!r} (not a valid hostname)")
    return value if value.islower() else value.lower()  # no second copy when already lower


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
    domain = _domain(obj.get("domain"))
    dip = obj.get("dip")
    dp = obj.get("dp")
    if dip is None:
        if domain is None:
            raise _Bad("no 'dip' and no 'domain'")
        if dp is not None:
            raise _Bad("'dp' without 'dip' (a port needs an address)")
        return None, None, domain, obj
    if not isinstance(dip, str):
        raise _Bad(f"not an IP address {dip!r}")
    return _address(dip), None if dp is None else _port(dp), domain, obj


def _parse_csv_dip(line: str) -> _Parsed:
    row = _csv_row(line)
    if len(row) not in (3, 4):
        raise _Bad(f"wrong column count: {len(row)} (dip,dp,domain[,rank] has 3 or 4)")
    dp = _port(row[1]) if row[1] else None
    return _address(row[0]), dp, _domain(row[2]), dict(zip(_DIP_COLUMNS, row, strict=False))


def _parse_csv_rank(line: str) -> _Parsed:
    row = _csv_row(line)
    if len(row) != 2:
        raise _Bad(f"wrong column count: {len(row)} (rank,domain has 2)")
    rank, name = row
    if not (rank.isascii() and rank.isdigit()):
        raise _Bad(f"bad rank {rank!r} (not a number)")
    domain = _domain(name)
    if domain is None:
        raise _Bad("no domain")
    return None, None, domain, {"rank": rank, "domain": name}


def _host_port(text: str, in_url: bool) -> tuple[str, int | None]:
    """``ADDR``, ``ADDR:PORT``, ``[V6]``, ``[V6]:PORT`` or (outside URLs) a bare ``V6``."""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise _Bad(f"not an IP address {text!r}")
        return _address(host), _port(rest[1:]) if rest else None
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return _address(host), _port(port)
    if in_url and ":" in text:
        raise _Bad(f"an IPv6 address in a URL needs brackets: {text!r}")
    return _address(text), None


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
            f"cannot tell the format: first column {row[0]!r} is neither an address nor a rank"
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
    """One file's lines as targets and bad lines; keeps the format it detected."""

    def __init__(self, path: str, stream: TextIO) -> None:
        self.path = path
        self.stream = stream
        self.format: str | None = None

    def __iter__(self) -> Iterator[Target | BadLine]:
        parse: Callable[[str], _Parsed] | None = None
        for lineno, raw in enumerate(self.stream, 1):
            line = (raw.lstrip("\ufeff") if lineno == 1 else raw).strip()
            # A campaign's output is a target list too: its metadata line is no target.
            if not line or line.startswith(("#", CAMPAIGN_LINE)):
                continue
            try:
                if parse is None:
                    self.format, is_header = _detect(line)
                    parse = _PARSERS[self.format]
                    if is_header:
                        continue
                dip, dp, domain, fields = parse(line)
            except _Bad as error:
                reason = str(error) if self.format is None else _reason(line, self.format, error)
                yield BadLine(self.path, lineno, line, reason)
                continue
            yield Target(dip, dp, domain, fields, self.path, lineno)


def iter_targets(path: str, stream: TextIO) -> Iterator[Target | BadLine]:
    """Targets and bad lines of one file, in order; the format comes from the first content line.

    ``path`` only names the file in origins and messages; nothing is de-duplicated here.
    """
    return iter(_FileReader(path, stream))


def load_targets(paths: Sequence[str], stdin: TextIO | None = None) -> TargetList:
    """All targets of ``paths`` ("-" is stdin) in order, each key once, bad lines collected.

    Raises :class:`TargetFileError` for a file that cannot be read or holds no target, since
    a measurement over a list that silently came out empty would report nothing useful.
    """
    result = TargetList()
    seen: set[Key] = set()
    read_stdin = False
    with _gc_paused():
        for path in paths:
            if path != "-":
                try:
                    with open(path, encoding="utf-8") as stream:
                        _load_file(result, seen, path, stream)
                except OSError as exc:
                    raise TargetFileError(f"{path}: cannot read ({exc.strerror or exc})") from exc
            elif read_stdin:
                raise TargetFileError("'-' (stdin) given more than once")
            else:
                read_stdin = True
                _load_file(result, seen, "<stdin>", sys.stdin if stdin is None else stdin)
    return result


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No garbage collection while loading: a million new Targets only trigger useless passes."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _load_file(result: TargetList, seen: set[Key], name: str, stream: TextIO) -> None:
    reader = _FileReader(name, stream)
    bad_before = len(result.bad)
    found = 0
    try:
        for item in reader:
            if isinstance(item, BadLine):
                result.bad.append(item)
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
    if not found:
        bad = result.bad[bad_before:]
        detail = f" ({len(bad)} bad lines, the first: {bad[0]})" if bad else ""
        raise TargetFileError(f"{name}: no targets{detail}")
    if reader.format is not None:
        result.formats[name] = reader.format
