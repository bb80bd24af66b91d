"""The exclusion list: networks that must never be measured, in zmap's blocklist format.

Lookups are one hash probe per prefix length present (most specific first), so checking every
target against thousands of networks costs about as much as against a handful.
"""

from __future__ import annotations

import ipaddress


class ExclusionFileError(Exception):
    """An exclusion file that cannot be trusted: unreadable, or a line that is not a network."""


class _Table:
    """The networks of one address family, indexed by prefix length."""

    def __init__(self, bits: int) -> None:
        self.bits = bits
        self.by_length: dict[int, dict[int, str]] = {}
        self.lengths: list[int] = []

    def add(self, network: ipaddress.IPv4Network | ipaddress.IPv6Network, entry: str) -> bool:
        """Index ``network``; False if it was there already (the first entry is kept)."""
        length = network.prefixlen
        if length not in self.by_length:
            self.by_length[length] = {}
            self.lengths = sorted(self.by_length, reverse=True)
        prefixes = self.by_length[length]
        prefix = int(network.network_address) >> (self.bits - length)
        if prefix in prefixes:
            return False
        prefixes[prefix] = entry
        return True

    def find(self, value: int) -> str | None:
        for length in self.lengths:
            entry = self.by_length[length].get(value >> (self.bits - length))
            if entry is not None:
                return entry
        return None


class ExclusionList:
    """Networks to skip; :meth:`match` names the entry responsible, for the skip reason."""

    def __init__(self) -> None:
        self._tables = {4: _Table(32), 6: _Table(128)}
        self._count = 0

    @classmethod
    def load(cls, path: str) -> ExclusionList:
        """Read a blocklist: a CIDR or address per line, ``#`` comments, blank lines.

        Any bad line fails the whole file: a partly read exclusion list would let traffic go
        where it must not. Host bits are accepted and cleared, as zmap does.
        """
        exclusions = cls()
        try:
            with open(path, encoding="utf-8") as stream:
                for lineno, line in enumerate(stream, 1):
                    text = line.partition("#")[0].strip().lstrip("\ufeff")
                    if not text:
                        continue
                    try:
                        network = ipaddress.ip_network(text, strict=False)
                    except ValueError as exc:
                        raise ExclusionFileError(
                            f"{path}:{lineno}: not a network or address {text!r} ({exc})"
                        ) from None
                    if exclusions._tables[network.version].add(
                        network, f"{path}:{lineno} ({network})"
                    ):
                        exclusions._count += 1
        except (OSError, UnicodeDecodeError) as exc:
            raise ExclusionFileError(f"{path}: cannot read ({exc})") from exc
        return exclusions

    def match(self, dip: str | None) -> str | None:
        """The most specific entry covering ``dip`` as ``"path:lineno (CIDR)"``, or None.

        An IPv4-mapped IPv6 address is also checked against the IPv4 entries, since connecting
        to it sends IPv4 packets. Raises ValueError if ``dip`` is not an IP address.
        """
        if dip is None:
            return None
        address = ipaddress.ip_address(dip)
        entry = self._tables[address.version].find(int(address))
        mapped = getattr(address, "ipv4_mapped", None)
        if entry is None and mapped is not None:
            entry = self._tables[4].find(int(mapped))
        return entry

    def __len__(self) -> int:
        """How many distinct networks are excluded."""
        return self._count
