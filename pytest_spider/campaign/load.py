"""Reading record files (ndjson) lazily, so a campaign of 10^6 records never sits in memory.

A line holding ``spider_campaign`` is the campaign's metadata, not a record: it is kept aside.
Anything that is not a record stops the reading with the file and line to blame, because a
report or diff built on half a file would mislead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from typing import Any

from pytest_spider.schema import CAMPAIGN, CONDITIONS, FLOW_RESULTS, OUTCOME

#: The fields of which a record must have at least one (a target list has none of them).
_RECORD_FIELDS = (CONDITIONS, FLOW_RESULTS, OUTCOME)


class RecordFileError(Exception):
    """A record file that cannot be read, or a line in it that is not a record."""


class RecordStream:
    """The records of some files, in order, read each time the stream is iterated.

    After an iteration, ``campaigns`` holds the metadata objects met on the way.
    """

    def __init__(self, paths: Iterable[str | os.PathLike[str]]) -> None:
        self.paths = [os.fspath(path) for path in paths]
        self.campaigns: list[dict[str, Any]] = []

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self.campaigns = []
        for path in self.paths:
            yield from self._read(path)

    def _read(self, path: str) -> Iterator[dict[str, Any]]:
        try:
            with open(path, encoding="utf-8-sig") as stream:
                for lineno, line in enumerate(stream, 1):
                    if not line.strip():
                        continue
                    obj = _parse(line, f"{path}:{lineno}")
                    if CAMPAIGN in obj:
                        self.campaigns.append(_campaign(obj, f"{path}:{lineno}"))
                    else:
                        yield obj
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
