"""The ndjson writer: one record per line, flushed as each item finishes.

Flushing per record means a campaign killed half-way leaves every finished record on disk.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO


def dumps(record: dict[str, Any]) -> str:
    """One record as one compact JSON line (no newline)."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


class NdjsonWriter:
    """Appends records to ``path`` (created, or truncated unless ``append``)."""

    def __init__(self, path: str | Path, append: bool = False) -> None:
        self.path = Path(path)
        if self.path.parent != Path():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO = self.path.open("a" if append else "w", encoding="utf-8")
        self.written = 0

    def write(self, record: dict[str, Any]) -> None:
        """Write and flush one record."""
        self._file.write(dumps(record) + "\n")
        self._file.flush()
        self.written += 1

    def close(self) -> None:
        """Close the file; further writes are errors."""
        self._file.close()
