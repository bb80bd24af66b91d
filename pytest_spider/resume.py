"""Resuming a campaign from its own output: what is recorded is not measured again.

Records are written one whole line at a time, so a run killed at any moment leaves complete
records and at most one torn last line. Resuming repairs only that: a torn last line is cut
off (or, if the kill fell between a record and its newline, the newline is added). Any other
line that is not a record stops the resume with its file and line, and nothing is cut: a
damaged line in the middle is not a crash's trace, and whatever follows it is data. Then
every target x experiment whose record key (:func:`schema.key_of`: experiment name, target
and vantage) is already there is skipped, so each ends up in the file exactly once, whichever
way the experiment was named (a path or ``--spider-experiment``).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from pytest_spider import schema

#: What a record has at least one of (a target list has none).
_RECORD_FIELDS = (schema.CONDITIONS, schema.FLOW_RESULTS, schema.OUTCOME)


class ResumeError(Exception):
    """The output cannot be resumed; the message names the file and line."""


@dataclasses.dataclass
class Recorded:
    """What an output holds: the record keys, and the metadata lines of files written before
    the metadata moved beside them (one per session)."""

    keys: set[schema.Key] = dataclasses.field(default_factory=set)
    legacy_sessions: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    #: Where the whole lines end, if the last line is torn (None: it is not).
    torn_at: int | None = None
    #: The torn last line is a whole record that lacks only its newline.
    lacks_newline: bool = False


def read_recorded(path: str | Path) -> Recorded:
    """What ``path`` holds (nothing if it does not exist); changes nothing.

    Raises :class:`ResumeError` on a line that is not a record anywhere but at the torn end.
    """
    path = Path(path)
    found = Recorded()
    if not path.exists():
        return found
    good_end = lineno = 0
    with path.open("rb") as stream:
        for lineno, raw in enumerate(stream, 1):
            if not raw.endswith(b"\n"):
                # Only the last line can lack its newline: torn by a kill in mid-write.
                found.torn_at = good_end
                if _whole(raw):
                    _take(found, raw, f"{path}:{lineno}")
                    found.lacks_newline = True
                break
            _take(found, raw, f"{path}:{lineno}")
            good_end += len(raw)
    return found


def repair(path: str | Path, found: Recorded) -> None:
    """Mend the torn last line :func:`read_recorded` found: add the newline a whole record
    lacks, or cut off the part of one."""
    if found.torn_at is None:
        return
    with Path(path).open("r+b") as stream:
        if found.lacks_newline:
            stream.seek(0, 2)
            stream.write(b"\n")
        else:
            stream.truncate(found.torn_at)


def _whole(raw: bytes) -> bool:
    """A last line without its newline that is nonetheless a whole JSON object."""
    try:
        return isinstance(json.loads(raw), dict)
    except ValueError:
        return False


def _take(found: Recorded, raw: bytes, where: str) -> None:
    if not raw.strip():
        return
    try:
        record = json.loads(raw)
    except ValueError as exc:
        raise ResumeError(f"{where}: not JSON ({_reason(exc)})") from None
    if not isinstance(record, dict):
        raise ResumeError(f"{where}: not a JSON object")
    if schema.CAMPAIGN in record:
        meta = record[schema.CAMPAIGN]
        if isinstance(meta, dict):
            found.legacy_sessions.append(meta)
        return
    if not any(field in record for field in _RECORD_FIELDS):
        raise ResumeError(f"{where}: not a record (is it a target list?)")
    if schema.CONDITIONS not in record:
        return
    key = schema.key_of(record)
    found.keys.add(key)
    source = record.get(schema.EMITTED_BY)
    if isinstance(source, list) and len(source) == 3:
        dip, dp, domain = source
        found.keys.add(schema.make_key(key.experiment, dip, dp, domain, key.vantage))


def _reason(exc: ValueError) -> str:
    return exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc).splitlines()[0][:80]
