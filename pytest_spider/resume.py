"""Resuming a campaign from its own output: what is recorded is not measured again.

Records are flushed one whole line at a time, so a run killed at any moment leaves complete
records and at most one torn last line. Resuming cuts that torn line off, then skips every
item whose node id already has a record from the same vantage point, so each target ends up
in the file exactly once.
"""

from __future__ import annotations

import json
from pathlib import Path

#: (node id, vantage) of one recorded item.
Done = tuple[str, str]


def recorded(path: str | Path, repair: bool) -> set[Done]:
    """The items ``path`` holds records of; with ``repair``, cut off a torn last line."""
    path = Path(path)
    done: set[Done] = set()
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
            if isinstance(record, dict) and "nodeid" in record:
                done.add((str(record["nodeid"]), str(record.get("vantage") or "local")))
    if repair and good_end < path.stat().st_size:
        with path.open("r+b") as stream:
            stream.truncate(good_end)
    return done
