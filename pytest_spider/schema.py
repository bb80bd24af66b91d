"""The one record schema, shared by the live run and the offline tools (``campaign/``).

A record is one PATHspider-compatible result per target x experiment: the target's input
fields as read, PATHspider's ``conditions``, ``flow_results`` and ``time``, plus pytest-spider's
``experiment``, ``nodeid``, ``outcome``, ``reason``, ``vantage``, for targets that were
never contacted ``unmeasured`` (why) and, measured with ``--spider-trials`` above 1,
``trials``. Everything that reads or writes records takes the
field names, the connection states, the record key and condition-glob matching from here, so
the plugin and ``report``/``diff`` cannot disagree about what a record says. PATHspider's own
output lacks our fields; the readers below fill the gaps.
"""

from __future__ import annotations

import enum
import ipaddress
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any, Final, NamedTuple

Record = Mapping[str, Any]


class ConnState(enum.IntEnum):
    """PATHspider's ``spdr_state``: what became of one connection."""

    OK = 0
    FAILED = 1
    TIMEOUT = 2
    SKIPPED = 3
    #: The whole job is to be dropped (e.g. a name that did not resolve): no record is kept.
    DISCARD = 4

    @property
    def word(self) -> str:
        """The state as people read it (JUnit properties, reports)."""
        return self.name.lower()


def state_word(state: object) -> str:
    """``spdr_state`` as a word; anything that is not a known state, as its text."""
    if isinstance(state, int) and not isinstance(state, bool) and state in _STATES:
        return ConnState(state).word
    return str(state)


_STATES: Final = frozenset(int(state) for state in ConnState)

# Field names of a record.
CONDITIONS: Final = "conditions"
FLOW_RESULTS: Final = "flow_results"
TIME: Final = "time"
EXPERIMENT: Final = "experiment"
NODEID: Final = "nodeid"
OUTCOME: Final = "outcome"
REASON: Final = "reason"
VANTAGE: Final = "vantage"
#: Set only on records of targets that were never contacted: why (see the kinds below).
UNMEASURED: Final = "unmeasured"
#: On a record an experiment emitted besides its own (dnsresolv's addresses): the ``[dip, dp,
#: domain]`` of the target whose measurement emitted it.
EMITTED_BY: Final = "emitted_by"
#: PATHspider's source fields: the address the connections left from, the public address
#: it maps to (PATHspider asks a web service; pytest-spider contacts nothing but the targets
#: and leaves it null), the path ``[sip, (sip_public), (AS of the target), dip]``, and how
#: many of the experiment's connections gave no result (PATHspider: flows its observer missed).
#: With ``--spider-trials`` above 1: one entry per trial, in order, each with its own
#: ``conditions``, ``time`` and ``flow_results`` (the record's own ``conditions`` are then the
#: super-conditions: those every trial had, and one of the trials conditions below).
TRIALS: Final = "trials"
SIP: Final = "sip"
SIP_PUBLIC: Final = "sip_public"
PATH: Final = "path"
MISSED_FLOWS: Final = "missed_flows"
#: With ``--spider-locate``, on the record of a target whose conditions matched a fail glob:
#: where the experimental packet breaks (:mod:`pytest_spider.locate`), an object with these
#: fields: ``hop`` (the hop after which it is lost, altered or refused; 0 is the vantage
#: itself; null when that is not known for sure), ``address`` (that hop's, as it answered),
#: ``method`` (how the routers' answers were read: ``recverr``), ``pair`` and ``probes``
#: (the probe pair, and its baseline and experimental packet), ``effect`` (``lost``,
#: ``altered``, ``refused``), ``reason`` (why ``hop`` is null), ``trace`` (per TTL what
#: each probe got: a router's address, ``target``, ``*``), ``sent`` (probes sent) and
#: ``seconds`` (time spent locating).
LOCATE: Final = "locate"
LOCATE_HOP: Final = "hop"
LOCATE_ADDRESS: Final = "address"
LOCATE_METHOD: Final = "method"
LOCATE_PAIR: Final = "pair"
LOCATE_PROBES: Final = "probes"
LOCATE_EFFECT: Final = "effect"
LOCATE_REASON: Final = "reason"
LOCATE_TRACE: Final = "trace"
LOCATE_SENT: Final = "sent"
LOCATE_SECONDS: Final = "seconds"
#: What a measurement writes into a record. A target list made from an earlier campaign's
#: output carries these from that campaign: they are dropped from the input fields, so a new
#: record never repeats an old measurement's source, path, conditions or verdict.
MEASURED_FIELDS: Final = frozenset(
    {
        CONDITIONS,
        FLOW_RESULTS,
        TIME,
        TRIALS,
        SIP,
        SIP_PUBLIC,
        "sip_asn",
        PATH,
        MISSED_FLOWS,
        EXPERIMENT,
        NODEID,
        OUTCOME,
        REASON,
        VANTAGE,
        UNMEASURED,
        EMITTED_BY,
        LOCATE,
    }
)
#: The key of a legacy campaign metadata line (``{"spider_campaign": {...}}``), which record
#: files written before the metadata moved to its own file end with.
CAMPAIGN: Final = "spider_campaign"
#: The campaign metadata file beside a record file: ``<records>.meta.json`` unless named.
METADATA_SUFFIX: Final = ".meta.json"


def metadata_path(records: str, named: str | None = None) -> str:
    """Where the metadata of the record file ``records`` is: ``named``, else beside it."""
    return named if named else records + METADATA_SUFFIX


# Why a target was never contacted (the ``unmeasured`` field).
EXCLUDED: Final = "excluded"
NO_ADDRESS: Final = "no_address"
#: Read side only: a skipped record without connections that gives no reason of ours
#: (PATHspider output, or a target whose measurement never ran).
DEAD: Final = "dead"

# Outcomes (pytest's words) and the fill-ins for records that have none.
PASSED: Final = "passed"
FAILED: Final = "failed"
SKIPPED: Final = "skipped"
ERROR: Final = "error"
#: The outcome of PATHspider records, which have no pytest verdict.
UNKNOWN_OUTCOME: Final = "unknown"
#: The experiment of a record that names none and has no conditions to guess it from.
UNKNOWN_EXPERIMENT: Final = "unknown"
#: Where a campaign ran from when nothing else says (one process, no ``--spider-vantage``).
DEFAULT_VANTAGE: Final = "local"


#: What a record measured in several trials says of them: ``<experiment>.trials.consistent``
#: (every trial had the same conditions) or ``<experiment>.trials.inconsistent``.
TRIALS_CONSISTENT: Final = "trials.consistent"
TRIALS_INCONSISTENT: Final = "trials.inconsistent"


def trials_condition(experiment: str, consistent: bool) -> str:
    """The condition saying whether ``experiment``'s trials of a target agreed."""
    return f"{experiment}.{TRIALS_CONSISTENT if consistent else TRIALS_INCONSISTENT}"


def trials_of(record: Record) -> list[Mapping[str, Any]]:
    """The record's trials (empty for a record measured once, or PATHspider output)."""
    trials = record.get(TRIALS)
    if not isinstance(trials, list):
        return []
    return [trial for trial in trials if isinstance(trial, Mapping)]


def is_inconsistent(record: Record) -> bool:
    """The record's trials disagreed (its conditions say ``*.trials.inconsistent``)."""
    return any(str(c).endswith("." + TRIALS_INCONSISTENT) for c in conditions_of(record))


#: The verdict globs when none are given: a broken path fails, an unreachable target skips.
DEFAULT_FAIL_ON: Final = ("*.connectivity.broken",)
DEFAULT_SKIP_ON: Final = ("*.connectivity.offline",)


def matching(
    conditions: Iterable[str], globs: Sequence[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The conditions that match some glob, and the globs that matched (fnmatch, case-sensitive,
    each once, in order)."""
    hits = [(c, g) for c in conditions for g in globs if fnmatchcase(c, g)]
    return tuple(dict.fromkeys(c for c, _ in hits)), tuple(dict.fromkeys(g for _, g in hits))


def matches_any(conditions: Iterable[str], globs: Sequence[str]) -> bool:
    """True if some condition matches some glob."""
    return any(fnmatchcase(c, g) for c in conditions for g in globs)


def canonical_address(text: str) -> str:
    """An address as :mod:`ipaddress` spells it (``2001:DB8::01`` -> ``2001:db8::1``), an
    IPv4-mapped IPv6 address as its IPv4 address (``::ffff:127.0.0.1`` -> ``127.0.0.1``, as
    target lists read it), so that records and targets written differently still name the
    same target; other text as is."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return text
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).compressed


class Key(NamedTuple):
    """The identity of a target x experiment across runs: one record per key and vantage.

    Built the same way from a live target and from a record read back, so a campaign is
    recognised whether it was started with ``experiments/h2.py`` or ``--spider-experiment=h2``.
    """

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


def make_key(
    experiment: str, dip: str | None, dp: int | None, domain: str | None, vantage: str
) -> Key:
    """A :class:`Key` with the address in canonical form and the domain lower-cased."""
    return Key(
        experiment,
        canonical_address(dip) if dip else None,
        dp,
        domain.lower() if domain else None,
        vantage,
    )


def conditions_of(record: Record) -> list[str]:
    """The record's conditions; PATHspider omits the field when a combiner returned None."""
    conditions = record.get(CONDITIONS)
    return conditions if isinstance(conditions, list) else []


def experiment_of(record: Record) -> str:
    """The experiment's name; for PATHspider output, the prefix of the first condition."""
    experiment = record.get(EXPERIMENT)
    if isinstance(experiment, str) and experiment:
        return experiment
    conditions = conditions_of(record)
    if conditions:
        return str(conditions[0]).split(".", 1)[0]
    return UNKNOWN_EXPERIMENT


def vantage_of(record: Record) -> str:
    """Where the record was measured from; records without one come from ``local``."""
    vantage = record.get(VANTAGE)
    return vantage if isinstance(vantage, str) and vantage else DEFAULT_VANTAGE


def outcome_of(record: Record) -> str:
    """The pytest verdict, or ``unknown`` for PATHspider output."""
    outcome = record.get(OUTCOME)
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
    dip, domain = record.get("dip"), record.get("domain")
    return make_key(
        experiment_of(record),
        dip if isinstance(dip, str) and dip else None,
        _port(record.get("dp")),
        domain if isinstance(domain, str) and domain else None,
        vantage_of(record),
    )


def unmeasured_kind(record: Record) -> str | None:
    """Why a record's target was never contacted (``excluded``, ``no_address``, ``dead``), or
    None for a measured one."""
    kind = record.get(UNMEASURED)
    if isinstance(kind, str) and kind:
        return kind
    if outcome_of(record) == SKIPPED and not record.get(FLOW_RESULTS):
        return DEAD
    return None


def is_measured(record: Record) -> bool:
    """False for records of targets that ran no connection: they say nothing about a path."""
    return unmeasured_kind(record) is None


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


#: The last whole second :func:`utc_text` wrote, and its text: a campaign stamps each
#: connection twice, thousands of times a second, and only the microseconds change.
_last_second: tuple[int, str] = (0, "1970-01-01 00:00:00")


def utc_text(seconds: float) -> str:
    """PATHspider's time format: UTC, ``YYYY-MM-DD HH:MM:SS.ffffff``.

    The same text as ``datetime.fromtimestamp(seconds, UTC).isoformat(" ", "microseconds")``
    (microseconds rounded half to even, as datetime rounds them) at a third of the cost: the
    date and time of day are formatted once per second.
    """
    global _last_second
    fraction, whole = math.modf(seconds)
    micro = round(fraction * 1_000_000)
    second = int(whole)
    if micro >= 1_000_000:
        micro, second = micro - 1_000_000, second + 1
    elif micro < 0:
        micro, second = micro + 1_000_000, second - 1
    cached = _last_second  # one read: another thread may replace it meanwhile
    if cached[0] != second:
        cached = _last_second = (second, time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second)))
    return f"{cached[1]}.{micro:06d}"
