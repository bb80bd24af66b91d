"""Plausible campaign records made up from a seed, for the report's tests and benchmark.

Test support, not shipped in the wheel: ``tests/campaign/test_browser.py`` and
``benchmarks/report_100k.py`` (which puts the checkout's root on ``sys.path``) import it.

Targets are numbered: target i has the same address, domain, AS and country whatever the seed,
so two campaigns made with different seeds compare target by target like two real runs.
Addresses are lab addresses (198.18.0.0/15, then 2001:db8::/32); nothing here touches a network.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from pytest_spider import schema

_V4_BASE: Final = ipaddress.IPv4Address("198.18.0.0")
_V4_SIZE: Final = 2**17
_V6_BASE: Final = ipaddress.IPv6Address("2001:db8::")
_COUNTRIES: Final = ("US-VA", "US-CA", "DE", "FR", "JP", "BR", "IN", "GB", "NL", "SE", "AU", "CH")
_ERRORS: Final = (("timeout", 2), ("refused", 1), ("reset", 1), ("tls", 1))
#: Per experiment: how often the experimental connection breaks, and its extra condition.
_EXPERIMENTS: Final = {"h2": (0.04, "upgrade"), "tfo": (0.08, None), "ecn": (0.02, None)}


def _address(index: int) -> str:
    if index < _V4_SIZE:
        return str(_V4_BASE + index)
    return str(_V6_BASE + index)


def _target(index: int) -> dict[str, Any]:
    """The input fields of target ``index``; AS and country follow a long-tailed spread."""
    rng = random.Random(index)
    asn = 64496 + int(rng.paretovariate(1.2)) % 400
    country = _COUNTRIES[min(int(rng.expovariate(0.35)), len(_COUNTRIES) - 1)]
    return {
        "dip": _address(index),
        "dp": 443,
        "domain": f"site{index}.example",
        "rank": str(index + 1),
        "info": {"ASN": asn, "CountryCode": country, "Prefix": f"{_address(index)}/32"},
    }


def _flow(
    rng: random.Random, conn: str, config: int, ok: bool, start: datetime, scale: float
) -> dict[str, Any]:
    took = rng.lognormvariate(-3.5, 0.6) * scale if ok else 2.0
    flow: dict[str, Any] = {
        "conn": conn,
        "config": config,
        "spdr_start": str(start),
        "spdr_stop": str(start + timedelta(seconds=took)),
        "sp": rng.randrange(32768, 61000),
    }
    if ok:
        return flow | {"spdr_state": 0, "error_class": None, "error": None}
    error = rng.choices([name for name, _ in _ERRORS], [w for _, w in _ERRORS])[0]
    state = 2 if error == "timeout" else 1
    return flow | {"spdr_state": state, "error_class": error, "error": f"simulated {error}"}


def _connectivity(experiment: str, baseline: bool, experimental: bool) -> str:
    if baseline:
        state = "works" if experimental else "broken"
    else:
        state = "transient" if experimental else "offline"
    return f"{experiment}.connectivity.{state}"


def synthetic_records(
    targets: int,
    *,
    seed: int = 0,
    experiments: Sequence[str] = ("h2", "tfo"),
    vantages: Sequence[str] = ("local",),
    start: datetime = datetime(2026, 11, 25, 13, 0, 0),
) -> Iterator[dict[str, Any]]:
    """``targets`` x experiments x vantages records, as the plugin writes them."""
    rng = random.Random(seed)
    for index in range(targets):
        fields = _target(index)
        at = start + timedelta(seconds=index * 0.01)
        for vantage in vantages:
            for experiment in experiments:
                record = fields | {"experiment": experiment, "vantage": vantage}
                record["nodeid"] = f"experiments/{experiment}.py::{experiment}[{index}]"
                yield record | _outcome(rng, experiment, index, at)


def _outcome(rng: random.Random, experiment: str, index: int, at: datetime) -> dict[str, Any]:
    """Conditions, flows, outcome and reason of one target x experiment."""
    if index % 97 == 5:
        reason = "excluded by block.txt:3 (198.18.0.0/24)"
        return {
            "conditions": [],
            "flow_results": [],
            "outcome": "skipped",
            "reason": reason,
            schema.UNMEASURED: schema.EXCLUDED,
        }
    if index % 89 == 7:
        reason = "discarded by the experiment (CONN_DISCARD)"
        return {"conditions": [], "flow_results": [], "outcome": "skipped", "reason": reason}
    break_rate, extra = _EXPERIMENTS.get(experiment, (0.05, None))
    baseline = rng.random() > 0.03
    experimental = rng.random() > (break_rate if baseline else 0.7)
    first = _flow(rng, f"conn_no_{experiment}", 0, baseline, at, 1.0)
    second = _flow(rng, f"conn_{experiment}", 1, experimental, at + timedelta(seconds=0.2), 1.2)
    conditions = [_connectivity(experiment, baseline, experimental)]
    if extra and experimental:
        conditions.append(f"{experiment}.{extra}.{'success' if rng.random() < 0.9 else 'failed'}")
    broken = conditions[0].endswith(".broken")
    return {
        "conditions": conditions,
        "flow_results": [first, second],
        "time": {"from": first["spdr_start"], "to": second["spdr_stop"]},
        "outcome": "failed" if broken else "passed",
        "reason": conditions[0] if broken else None,
    }


def write_records(
    path: str | os.PathLike[str],
    records: Iterable[Mapping[str, Any]],
    campaign: Mapping[str, Any] | None = None,
) -> int:
    """Write records as ndjson (after a ``spider_campaign`` line if given); returns the count."""
    count = 0
    with open(path, "w", encoding="utf-8") as out:
        if campaign is not None:
            out.write(json.dumps({"spider_campaign": campaign}) + "\n")
        for record in records:
            out.write(json.dumps(record) + "\n")
            count += 1
    return count
