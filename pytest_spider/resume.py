"""Resuming a campaign from its own output: what is recorded is not measured again.

Records are flushed one whole line at a time, so a run killed at any moment leaves complete
records and at most one torn last line. Resuming cuts that torn line off, then skips every
target x experiment whose record key (:func:`schema.key_of`: experiment name, target and
vantage) is already there, so each ends up in the file exactly once, whichever way the
experiment was named (a path or ``--spider-experiment``).
"""

from __future__ import annotations

import json
from pathlib import Path

from pytest_spider import schema


def recorded(path: str | Path, repair: bool) -> set[schema.Key]:
    """The keys ``path`` holds records of; with ``repair``, cut off a torn last line."""
    path = Path(path)
    done: set[schema.Key] = set()
    if not path.exists():
        return done
    good_end = 0
    with path.open("rb") as stream:
        for raw in stream:
            if not raw.endswith(b"\n"):
                break  # torn by a kill in mid-write
            try:
                record = json.loads(raw)
            except ValueError:
                break
            good_end += len(raw)
            if isinstance(record, dict) and schema.CONDITIONS in record:
                key = schema.key_of(record)
                done.add(key)
                source = record.get(schema.EMITTED_BY)
                if isinstance(source, list) and len(source) == 3:
                    dip, dp, domain = source
                    done.add(schema.make_key(key.experiment, dip, dp, domain, key.vantage))
    if repair and good_end < path.stat().st_size:
        with path.open("r+b") as stream:
            stream.truncate(good_end)
    return done
