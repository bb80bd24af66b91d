"""The ndjson writer: one record per line, written as each item finishes; and the campaign
metadata file beside it.

The output is opened and checked before anything is measured (:class:`NdjsonWriter` raises
:class:`OutputError` with one line to show), and each record goes to the file in one write of
its whole line, so a campaign killed half-way leaves every finished record on disk. A write
that fails (disk full) leaves no part of a line behind: the file is cut back to its last
whole record.

The metadata file holds one JSON object, ``{"records": <the output>, "sessions": [...]}``,
one session per pytest run that wrote to the output. It is replaced in one step (written
aside, then renamed over), so a reader sees the old or the new version, never half of one.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO


class OutputError(Exception):
    """The output (or its metadata file) cannot be written; the message is one line."""


def dumps(record: dict[str, Any]) -> str:
    """One record as one compact JSON line (no newline)."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def check_writable(path: Path, what: str) -> None:
    """Raise :class:`OutputError` unless ``path`` can be a regular file we write."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OutputError(f"{what} {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        raise OutputError(f"{what} {path}: is a directory")
    if not stat.S_ISREG(mode):
        raise OutputError(f"{what} {path}: not a regular file")


class NdjsonWriter:
    """Appends records to ``path`` (created, or truncated unless ``append``).

    Opening checks the file: a directory, a device (``/dev/full``), a read-only place or a
    missing permission raise :class:`OutputError`.
    """

    def __init__(self, path: str | Path, append: bool = False, what: str = "output") -> None:
        self.path = Path(path)
        self.written = 0
        #: Why writing stopped (the file keeps every whole record written before).
        self.failed: str | None = None
        check_writable(self.path, what)
        try:
            if self.path.parent != Path():
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file: BinaryIO | None = self.path.open("ab" if append else "wb", buffering=0)
            #: Where the last whole record ends.
            self._end = os.fstat(self._file.fileno()).st_size
        except OSError as exc:
            raise OutputError(f"{what} {self.path}: {exc.strerror or exc}") from None

    def write(self, record: dict[str, Any]) -> None:
        """Write one record's whole line; on failure cut the file back to the last whole
        record and raise :class:`OutputError` (further records are not written)."""
        if self._file is None:
            return
        line = (dumps(record) + "\n").encode("utf-8", "backslashreplace")
        try:
            view = memoryview(line)
            while view:
                view = view[self._file.write(view) or 0 :]
        except OSError as exc:
            self._give_up(exc)
        self._end += len(line)
        self.written += 1

    def _give_up(self, exc: OSError) -> None:
        assert self._file is not None
        cut = ""
        try:
            os.ftruncate(self._file.fileno(), self._end)
        except OSError as again:
            cut = f" (and cutting the partial line failed: {again.strerror})"
        self.close()
        reason = "disk full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else exc.strerror
        self.failed = f"writing {self.path} failed ({reason or exc}){cut}"
        raise OutputError(self.failed) from None

    def close(self) -> None:
        """Close the file; further writes are ignored."""
        if self._file is not None:
            try:
                self._file.close()
            finally:
                self._file = None


def write_metadata(path: str | Path, records: str, sessions: Sequence[dict[str, Any]]) -> None:
    """Replace the metadata file ``path`` in one step; :class:`OutputError` if it cannot be
    written (the previous version then stays as it was)."""
    path = Path(path)
    aside = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    document = {"records": records, "sessions": list(sessions)}
    try:
        if path.parent != Path():
            path.parent.mkdir(parents=True, exist_ok=True)
        with aside.open("w", encoding="utf-8") as stream:
            json.dump(document, stream, indent=1, ensure_ascii=False)
            stream.write("\n")
        os.replace(aside, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            aside.unlink(missing_ok=True)
        raise OutputError(f"metadata {path}: {exc.strerror or exc}") from None
