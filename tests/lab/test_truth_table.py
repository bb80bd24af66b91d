"""The lab truth table: every experiment, run by pytest-spider in the lab's client namespace,
must report exactly what ``truth_table.toml`` says each path profile gives, over IPv4 and IPv6.

A row may add conditions for one family only (``conditions_v4``, ``conditions_v6``: an MSS
differs between them) and may ask for a server that does not negotiate ECN (``server_ecn =
false``: its own block, ``<profile>_ecn_off``, in ``Lab(ecn_off_blocks=...)``). A run may
measure in several trials (``trials``, ``trial_gap``): its records must then hold that many.

A run may add pytest-spider ``options`` and run in another lab of :data:`LABS` (``lab =
"chain"``: three routers); its rows may say what ``--spider-locate`` finds (``locate =
{hop = 2, effect = "lost"}``: that router's address; ``{hop = "unknown"}``: none, with a
reason). A row without ``locate`` has a record without it.

All runs happen once, one lab after the other, in a module fixture (xdist workers share the
first one's records); each parametrized case then looks up the records of its target.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_spider.campaign.load import RecordStream
from pytest_spider.demo.lab import Campaign, LabServices, run_campaigns
from pytest_spider.lab import Lab, lab_available

#: Needs a path lab (root, network namespaces, nginx, nftables): deselect with -m 'not lab'.
pytestmark = pytest.mark.lab

TABLE = Path(__file__).with_name("truth_table.toml")
FAMILIES = (4, 6)
#: The labs a run may name (``lab``), as arguments of ``Lab`` besides the blocks: the one
#: router, three in a row with the profile at router 2, and the same, none of them sending
#: ICMP time-exceeded.
LABS: dict[str, dict[str, Any]] = {
    "single": {},
    "chain": {"chain": 3, "profile_hop": 2},
    "chain_silent": {"chain": 3, "profile_hop": 2, "silent_hops": (1, 2, 3)},
}
#: Output lines of a run shown when one of its cases fails.
_TAIL_LINES = 30


@dataclasses.dataclass(frozen=True)
class Case:
    """One row: a run's target through a profile at a service, in one address family."""

    run: str
    settings: dict[str, Any]
    profile: str
    service: str
    family: int
    conditions: tuple[str, ...]
    name: str | None = None
    addresses: tuple[str, ...] | None = None
    server_ecn: bool = True
    locate: dict[str, Any] | None = None

    @property
    def lab(self) -> str:
        """The lab (of :data:`LABS`) its run measures in."""
        return str(self.settings.get("lab", "single"))

    @property
    def block(self) -> str:
        """The lab block of its target: the profile's, or its ECN-off twin."""
        return self.profile if self.server_ecn else f"{self.profile}_ecn_off"

    @property
    def id(self) -> str:
        return f"{self.run}-{self.block}-{self.name or self.service}-v{self.family}"

    @property
    def by_name(self) -> bool:
        """The target is a name asked of the DNS service, not an address."""
        return self.settings.get("targets") == "names"

    @property
    def campaign(self) -> str:
        """The run measuring it: names runs go once per DNS server (block and family)."""
        return f"{self.run}-{self.profile}-v{self.family}" if self.by_name else self.run

    @property
    def trials(self) -> int:
        """Trials per target of its run (1: measured once, records without ``trials``)."""
        return int(self.settings.get("trials", 1))

    def expected(self, hops: dict[str, dict[str, dict[str, str]]]) -> dict[str, Any]:
        """What the records must say; ``hops``: each lab's routers' addresses per family."""
        conditions = sorted(self.conditions)
        if self.by_name:
            return {"conditions": conditions, "addresses": sorted(self.addresses or ())}
        located = None
        if self.locate is not None:
            hop = self.locate["hop"]
            known = hop != "unknown"
            located = {
                "hop": hop if known else None,
                "address": hops[self.lab][str(self.family)][str(hop)] if known else None,
                "effect": self.locate.get("effect"),
                "reason": not known,
            }
        return {
            "conditions": conditions,
            "records": 1,
            "trials": [self.trials],
            "locate": [located],
        }

    def seen(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        conditions = sorted(c for record in records for c in record["conditions"])
        if self.by_name:
            # A name that gave no address keeps its own record, which has none.
            addresses = sorted(r["dip"] for r in records if r["dip"] is not None)
            return {"conditions": conditions, "addresses": addresses}
        trials = [len(r["trials"]) if r["trials"] is not None else 1 for r in records]
        located = [
            None
            if r.get("locate") is None
            else {k: r["locate"][k] for k in ("hop", "address", "effect")}
            | {"reason": bool(r["locate"]["reason"])}
            for r in records
        ]
        return {
            "conditions": conditions,
            "records": len(records),
            "trials": trials,
            "locate": located,
        }


def load_cases() -> list[Case]:
    runs = tomllib.loads(TABLE.read_text(encoding="utf-8"))
    return [
        Case(
            run=run,
            settings={k: v for k, v in table.items() if k != "case"},
            profile=row["profile"],
            service=row["service"],
            family=family,
            conditions=(*row["conditions"], *row.get(f"conditions_v{family}", ())),
            name=row.get("name"),
            addresses=tuple(row["addresses"]) if "addresses" in row else None,
            server_ecn=row.get("server_ecn", True),
            locate=row.get("locate"),
        )
        for run, table in runs.items()
        for row in table["case"]
        for family in FAMILIES
    ]


CASES = load_cases()


def campaigns(services: LabServices, cases: list[Case] = CASES) -> list[Campaign]:
    """One campaign per run of ``cases`` (per DNS server for names runs), targets tagged."""
    grouped: dict[str, list[Case]] = {}
    for case in cases:
        grouped.setdefault(case.campaign, []).append(case)
    out = []
    for name, cases in grouped.items():
        first = cases[0]
        options: list[str] = []
        if first.by_name:
            server = services.dns_server(first.block, first.family, first.service)
            options.append(f"--spider-dns-server={server}")
            targets = [{"domain": c.name, "case": c.id} for c in cases]
        else:
            targets = [services.target(c.block, c.family, c.service, case=c.id) for c in cases]
        settings = first.settings
        if "trials" in settings:
            options.append(f"--spider-trials={settings['trials']}")
        if "trial_gap" in settings:
            options.append(f"--spider-trial-gap={settings['trial_gap']}")
        options += settings.get("options", [])
        out.append(
            Campaign(
                name=name,
                experiment=settings["experiment"],
                connect=settings.get("connect"),
                timeout=settings["timeout"],
                targets=targets,
                options=options,
            )
        )
    return out


def measure(folder: Path) -> dict[str, Any]:
    """Run the whole table in fresh labs: records (slimmed) per case id, facts per run, the
    routers' addresses per lab and family."""
    reason = lab_available()
    if reason is not None:
        pytest.skip(f"path lab unavailable: {reason}")
    records: dict[str, list[dict[str, Any]]] = {}
    runs: dict[str, dict[str, Any]] = {}
    hops: dict[str, dict[str, dict[str, str]]] = {}
    for name, arguments in LABS.items():
        cases = [case for case in CASES if case.lab == name]
        if cases:
            hops[name] = _measure_in(arguments, cases, folder, records, runs)
    return {"records": records, "runs": runs, "hops": hops}


def _measure_in(
    arguments: dict[str, Any],
    cases: list[Case],
    folder: Path,
    records: dict[str, list[dict[str, Any]]],
    runs: dict[str, dict[str, Any]],
) -> dict[str, dict[str, str]]:
    """Run ``cases`` in a lab made with ``arguments``; its routers' addresses per family."""
    blocks = {case.block: case.profile for case in cases}
    ecn_off = sorted({case.block for case in cases if not case.server_ecn})
    lab = Lab(blocks, servers=("nginx",), v4_prefix=24, ecn_off_blocks=ecn_off, **arguments)
    with lab, LabServices(lab) as services:
        hops = {
            str(family): {str(h): lab.hop_address(h, family) for h in range(1, lab.chain + 1)}
            for family in FAMILIES
        }
        for campaign, run in run_campaigns(lab, campaigns(services, cases), folder):
            written = campaign.output_path(folder)
            stream = RecordStream([written] if written.exists() else [])
            for record in stream:
                records.setdefault(record["case"], []).append(_slim(record))
            outcomes = [m["counts"]["outcomes"][campaign.experiment] for m in stream.campaigns]
            output = (run.stdout + run.stderr).splitlines()[-_TAIL_LINES:]
            runs[campaign.name] = {
                "exit": run.returncode,
                "targets": len(campaign.targets),
                "measured": sum(n for o in outcomes for n in o.values()),
                "output": "\n".join(output),
            }
    return hops


def _slim(record: dict[str, Any]) -> dict[str, Any]:
    """What a case compares and shows: conditions, address, outcome, each connection's end,
    and each trial's conditions where it was measured in several."""
    flows = [
        f"{f['conn']}: state {f['spdr_state']} {f.get('error_class')} {f.get('error')}"
        for f in record.get("flow_results", [])
    ]
    keep = ("conditions", "dip", "outcome", "reason", "locate")
    trials = record.get("trials")
    shown = [t["conditions"] for t in trials] if isinstance(trials, list) else None
    return {**{k: record.get(k) for k in keep}, "flows": flows, "trials": shown}


def once_per_test_run(
    request: pytest.FixtureRequest, factory: pytest.TempPathFactory, compute: Callable[[], Any]
) -> Any:
    """``compute()``'s JSON result, computed once: xdist workers wait for the first one's."""
    if not hasattr(request.config, "workerinput"):
        return compute()
    shared = factory.getbasetemp().parent
    done = shared / "truth-table.json"
    with (shared / "truth-table.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            done.write_text(json.dumps(compute()), encoding="utf-8")
        return json.loads(done.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def observed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """What the table's runs gave: ``records`` per case id, ``runs`` facts per campaign."""
    return once_per_test_run(
        request, tmp_path_factory, lambda: measure(tmp_path_factory.mktemp("truth-table"))
    )


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_truth_table(case: Case, observed: dict[str, Any]) -> None:
    records = observed["records"].get(case.id, [])
    run = observed["runs"][case.campaign]
    # The run ended normally with an outcome for every target (discarded names count too).
    ended = f"pytest exited {run['exit']}:\n{run['output']}"
    assert run["exit"] in (0, 1) and run["measured"] == run["targets"], ended
    shown = json.dumps(records, indent=1)
    assert case.seen(records) == case.expected(observed["hops"]), shown
    assert all(record["outcome"] != "error" for record in records), shown
