"""A fixed-size histogram of durations, so timing 10^6 connections costs a few hundred ints.

Bins are log-spaced (connection times span microseconds on loopback to seconds on slow paths);
quantiles interpolate within a bin, which is exact to a bin's width (about 12%).
"""

from __future__ import annotations

import math
from typing import Final

#: Lower edge of the first bin, in seconds; shorter durations are counted as underflow.
LOW: Final = 1e-5
#: Bins per factor of ten, and factors of ten covered (10 us .. 1000 s).
PER_DECADE: Final = 20
DECADES: Final = 8


class LogHistogram:
    """Counts per bin: index 0 is underflow, the last index overflow."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts = [0] * (PER_DECADE * DECADES + 2)

    @staticmethod
    def edges() -> list[float]:
        """The bins' edges in seconds, from LOW to LOW * 10**DECADES."""
        return [LOW * 10 ** (i / PER_DECADE) for i in range(PER_DECADE * DECADES + 1)]

    def add(self, seconds: float) -> None:
        """Count one duration; negative ones (a clock step) are dropped."""
        if seconds < 0:
            return
        index = 0 if seconds < LOW else 1 + int(math.log10(seconds / LOW) * PER_DECADE)
        self.counts[min(index, len(self.counts) - 1)] += 1

    @property
    def total(self) -> int:
        return sum(self.counts)

    def quantile(self, q: float) -> float | None:
        """The q-quantile (0..1) in seconds, or None when empty."""
        total = self.total
        if not total:
            return None
        rank = q * total
        edges = self.edges()
        seen = 0
        for index, count in enumerate(self.counts):
            if count and seen + count >= rank:
                if index == 0:
                    return LOW
                if index == len(self.counts) - 1:
                    return edges[-1]
                low, high = edges[index - 1], edges[index]
                return float(low * (high / low) ** ((rank - seen) / count))
            seen += count
        return edges[-1]
