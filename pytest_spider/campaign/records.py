"""What one record says, read the same way whether the plugin or plain PATHspider wrote it.

PATHspider output lacks ``experiment``, ``outcome`` and ``vantage``; the accessors here fill the
gaps (the experiment is the prefix of the first condition) so every other module can ignore
where a record came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple

from pytest_spider import record as record_format

#: The vantage of records written before vantages existed.
DEFAULT_VANTAGE: Final = "local"
#: The outcome of PATHspider records, which have no pytest verdict.
UNKNOWN_OUTCOME: Final = "unknown"
#: The experiment of a record that names none and has no conditions to guess it from.
UNKNOWN_EXPERIMENT: Final = "unknown"

#: Why a target was not measured, from the reason text of its skipped record.
EXCLUDED: Final = "excluded"
NO_ADDRESS: Final = "no_address"
DEAD: Final = "dead"

Record = Mapping[str, Any]


class Key(NamedTuple):
    """The identity of a target x experiment across campaigns."""

    experiment: str
    dip: str | None
    dp: int | None
    domain: str | None
    vantage: str

    def target_label(self) -> str:
        """``dip:dp domain`` as people read it (brackets around IPv6 with a port)."""
        host = self.dip or ""
        if self.dp is not None:
            host = f"[{host}]:{self.dp}" if ":" in host else f"{host}:{self.dp}"
        return " ".join(part for part in (host, self.domain) if part)


def conditions_of(record: Record) -> list[str]:
    """The record's conditions; PATHspider omits the field when a combiner returned None."""
    conditions = record.get("conditions")
    return conditions if isinstance(conditions, list) else []


def experiment_of(record: Record) -> str:
    """The experiment's name, guessed from the first condition for PATHspider output."""
    experiment = record.get("experiment")
    if isinstance(experiment, str) and experiment:
        return experiment
    conditions = conditions_of(record)
    if conditions:
        return str(conditions[0]).split(".", 1)[0]
    return UNKNOWN_EXPERIMENT


def vantage_of(record: Record) -> str:
    """Where the campaign ran from; older files have no vantage."""
    vantage = record.get("vantage")
    return vantage if isinstance(vantage, str) and vantage else DEFAULT_VANTAGE


def outcome_of(record: Record) -> str:
    """The pytest verdict, or ``unknown`` for PATHspider output."""
    outcome = record.get("outcome")
    return outcome if isinstance(outcome, str) and outcome else UNKNOWN_OUTCOME


def _port(value: Any) -> int | None:
    """PATHspider inputs carry ports as numbers or numeric strings."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def key_of(record: Record) -> Key:
    """The record's identity: (experiment, dip, dp, domain, vantage)."""
    return Key(
        experiment_of(record),
        record.get("dip") or None,
        _port(record.get("dp")),
        record.get("domain") or None,
        vantage_of(record),
    )


def is_measured(record: Record) -> bool:
    """False for excluded and dead targets: skipped records that ran no connection."""
    return not (outcome_of(record) == "skipped" and not record.get("flow_results"))


def unmeasured_kind(record: Record) -> str:
    """Why an unmeasured record was not measured, from how the plugin's reason begins."""
    reason = str(record.get("reason") or "")
    if reason.startswith(record_format.EXCLUDED):
        return EXCLUDED
    if reason.startswith(record_format.UNADDRESSED):
        return NO_ADDRESS
    return DEAD


def parse_time(value: Any) -> datetime | None:
    """A PATHspider timestamp (``str(datetime.utcnow())``), or None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return None
    # Naive UTC like PATHspider's, so stamps with and without an offset compare.
    return stamp.astimezone(UTC).replace(tzinfo=None) if stamp.tzinfo else stamp
