"""Reading record files (ndjson) lazily, so a campaign of 10^6 records never sits in memory.

A campaign's metadata is in its own file beside the records, ``<records>.meta.json``
(:func:`read_metadata`): one JSON object whose ``sessions`` list has one entry per pytest
session that wrote to the records. Record files written before the metadata moved there end
with a ``{"spider_campaign": ...}`` line instead: such a line is kept aside as well. Anything
that is not a record stops the reading with the file and line to blame, because a report or
diff built on half a file would mislead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from typing import Any

from pytest_spider.schema import CAMPAIGN, CONDITIONS, FLOW_RESULTS, OUTCOME, metadata_path

#: The fields of which a record must have at least one (a target list has none of them).
_RECORD_FIELDS = (CONDITIONS, FLOW_RESULTS, OUTCOME)


class RecordFileError(Exception):
    """A record file that cannot be read, or a line in it that is not a record."""


#: The keys of a metadata file's object.
SESSIONS = "sessions"
RECORDS = "records"


def read_metadata(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The sessions a campaign metadata file describes ([] if there is no such file)."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordFileError(f"{path}: cannot read: {exc}") from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordFileError(f"{path}: campaign metadata is not JSON: {exc.msg}") from exc
    sessions = document.get(SESSIONS) if isinstance(document, dict) else None
    if not isinstance(sessions, list) or not all(isinstance(s, dict) for s in sessions):
        raise RecordFileError(f"{path}: not campaign metadata (no list of sessions)")
    return sessions


class RecordStream:
    """The records of some files, in order, read each time the stream is iterated.

    After an iteration, ``campaigns`` holds the sessions of the campaigns read: from each
    record file's metadata file (``<records>.meta.json``, or the files ``metadata`` names
    instead), and from metadata lines met on the way in older record files.
    """

    def __init__(
        self,
        paths: Iterable[str | os.PathLike[str]],
        metadata: Iterable[str | os.PathLike[str]] | None = None,
    ) -> None:
        self.paths = [os.fspath(path) for path in paths]
        self.metadata = None if metadata is None else [os.fspath(path) for path in metadata]
        self.campaigns: list[dict[str, Any]] = []

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self.campaigns = []
        for path in self.metadata or ():
            if not os.path.exists(path):
                raise RecordFileError(f"{path}: cannot read: no such file")
            self.campaigns.extend(read_metadata(path))
        for path in self.paths:
            beside = metadata_path(path)
            legacy = self.metadata is None and not os.path.exists(beside)
            if self.metadata is None:
                self.campaigns.extend(read_metadata(beside))
            yield from self._read(path, legacy)

    def _read(self, path: str, legacy: bool) -> Iterator[dict[str, Any]]:
        """The records of one file; its metadata lines count if it has no metadata file (one
        resumed since holds them too)."""
        try:
            with open(path, encoding="utf-8-sig") as stream:
                for lineno, line in enumerate(stream, 1):
                    if not line.strip():
                        continue
                    obj = _parse(line, f"{path}:{lineno}")
                    if CAMPAIGN not in obj:
                        yield obj
                    elif legacy:
                        self.campaigns.append(_campaign(obj, f"{path}:{lineno}"))
        except (OSError, UnicodeDecodeError) as exc:
            raise RecordFileError(f"{path}: cannot read: {exc}") from exc


def _parse(line: str, where: str) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise RecordFileError(f"{where}: not JSON: {exc.msg}") from exc
    if not isinstance(obj, dict):
        raise RecordFileError(f"{where}: not a JSON object")
    if CAMPAIGN in obj:
        return obj
    if not any(field in obj for field in _RECORD_FIELDS):
        raise RecordFileError(
            f"{where}: not a record (none of {', '.join(_RECORD_FIELDS)}); is it a target list?"
        )
    for field, item_type in ((CONDITIONS, str), (FLOW_RESULTS, dict)):
        value = obj.get(field)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(item, item_type) for item in value):
            raise RecordFileError(f"{where}: {field} is not a list of {item_type.__name__}")
    return obj


def _campaign(obj: dict[str, Any], where: str) -> dict[str, Any]:
    meta = obj[CAMPAIGN]
    if not isinstance(meta, dict):
        raise RecordFileError(f"{where}: spider_campaign is not a JSON object")
    return meta
