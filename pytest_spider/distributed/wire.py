"""Reports on their way from an xdist worker to the controller: one JSON text each.

xdist carries every report as the nested dict ``pytest_report_to_serializable`` makes, which
execnet encodes on the worker and decodes on the controller element by element, in Python.
A campaign sends three reports per target, and those two walks were a fifth of a worker's
time and of the controller's: 253 us per target here. A report whose dict survives a JSON
round trip unchanged goes as one string instead, which json's C encoder and decoder handle
in 80 us for the three, the check on the worker included. The controller turns it back into
the very dict pytest made and hands that to pytest's own ``pytest_report_from_serializable``.
Every consumer then sees the report it saw before. A dict that would not come back the same
(bytes, tuples other than the location, non-text keys, NaN) goes as xdist sends it.

Both are public pytest hooks. The plugin is registered on the controller, which tells each
worker it reads JSON text (``WIRE_KEY`` in its workerinput), and on a worker so told.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

import pytest

#: The key of a report sent as JSON text.
JSON_KEY = "$spider_json"


class ReportWire:
    """Sends reports as JSON text (worker) and reads them back (controller)."""

    @pytest.hookimpl(wrapper=True)
    def pytest_report_to_serializable(
        self, config: pytest.Config, report: Any
    ) -> Generator[None, dict[str, Any] | None, dict[str, Any] | None]:
        data = yield
        if data is None or not isinstance(report, pytest.TestReport):
            return data
        text = as_json(data)
        return data if text is None else {JSON_KEY: text}

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_from_serializable(
        self, config: pytest.Config, data: dict[str, Any]
    ) -> Any | None:
        text = data.get(JSON_KEY)
        if not isinstance(text, str):
            return None
        decoded = from_json(text)
        # What xdist added on the way (item index, worker id, run id) goes along.
        decoded.update((key, value) for key, value in data.items() if key != JSON_KEY)
        return config.hook.pytest_report_from_serializable(config=config, data=decoded)


def as_json(data: dict[str, Any]) -> str | None:
    """``data`` as JSON text, if reading it back gives ``data`` again; else None."""
    location = data.get("location")
    plain = dict(data, location=list(location)) if isinstance(location, tuple) else data
    try:
        text = json.dumps(plain, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return None
    # A tuple comes back a list and a number key a text key: neither compares equal, so an
    # unequal read-back means the dict was not plain JSON.
    return text if json.loads(text) == plain else None


def from_json(text: str) -> dict[str, Any]:
    """The dict :func:`as_json` was given."""
    data: dict[str, Any] = json.loads(text)
    if isinstance(data.get("location"), list):
        data["location"] = tuple(data["location"])
    return data
