"""Comparing vantage points offline: per target, do they agree? (``VantageAgreement``, and
``python -m pytest_spider diff --across-vantages``), from record files."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_spider.campaign.cli import main
from pytest_spider.vantages import (
    CONDITIONS_KIND,
    INCOMPLETE,
    ONE_VANTAGE,
    PATH_DEPENDENT,
    SAME,
    TARGETS,
    VERDICT_DIFFERS,
    VERDICT_KIND,
    VantageAgreement,
)
from tests.support.synth import synthetic_records, write_records

WORKS = ["h2.connectivity.works", "h2.upgrade.success"]
NO_H2 = ["h2.connectivity.works", "h2.upgrade.failed"]
BROKEN = ["h2.connectivity.broken"]
OFFLINE = ["h2.connectivity.offline"]


def record(
    dip: str, vantage: str, conditions: Sequence[str], experiment: str = "h2", **extra: Any
) -> dict[str, Any]:
    """A measured record as the plugin writes it (one connection is enough here)."""
    return {
        "dip": dip, "dp": 443, "domain": "x.example", "experiment": experiment,
        "vantage": vantage, "conditions": list(conditions),
        "flow_results": [{"config": 0, "spdr_state": 0}], "outcome": "passed",
    } | extra  # fmt: skip


#: dip -> conditions from east, from west (None: not measured from there).
CAMPAIGN: dict[str, tuple[list[str] | None, list[str] | None]] = {
    "198.18.0.1": (WORKS, WORKS),  # same
    "198.18.0.2": (OFFLINE, OFFLINE),  # same, offline everywhere
    "198.18.0.3": (WORKS, BROKEN),  # verdict differs
    "198.18.0.4": (WORKS, NO_H2),  # conditions differ: upgrade only
    "198.18.0.5": (WORKS, OFFLINE),  # conditions differ: connectivity and upgrade
    "198.18.0.6": (WORKS, None),  # one vantage only
}


def campaign_records(vantages: Sequence[str] = ("east", "west")) -> list[dict[str, Any]]:
    return [
        record(dip, vantage, conditions)
        for dip, sides in CAMPAIGN.items()
        for vantage, conditions in zip(vantages, sides, strict=True)
        if conditions is not None
    ]


def agree(
    records: Iterable[dict[str, Any]], globs: Sequence[str] = ("*.connectivity.broken",), **kw: Any
) -> Any:
    agreement = VantageAgreement(**kw)
    for each in records:
        agreement.add(each)
    return agreement.result(globs)


def test_targets_are_the_same_everywhere_path_dependent_or_from_one_vantage() -> None:
    result = agree(campaign_records())
    assert result.vantages == ("east", "west")
    assert dict(result.counts["h2"]) == {
        TARGETS: 6, SAME: 2, PATH_DEPENDENT: 3, VERDICT_DIFFERS: 1, ONE_VANTAGE: 1,
        INCOMPLETE: 1,
    }  # fmt: skip
    rows = [(r.kind, r.key.dip, r.conditions, r.failing) for r in result.targets["h2"]]
    # The verdict differs first, then by address; both sides' conditions.
    assert rows == [
        (VERDICT_KIND, "198.18.0.3", (frozenset(WORKS), frozenset(BROKEN)), ("west",)),
        (CONDITIONS_KIND, "198.18.0.4", (frozenset(WORKS), frozenset(NO_H2)), ()),
        (CONDITIONS_KIND, "198.18.0.5", (frozenset(WORKS), frozenset(OFFLINE)), ()),
    ]
    # Kept apart: the same everywhere counted by their conditions, never listed.
    assert result.agreeing["h2"] == {frozenset(WORKS): 1, frozenset(OFFLINE): 1}
    # What differs: connectivity for .3 and .5, the upgrade for all three.
    assert result.families["h2"] == {"connectivity": 2, "upgrade": 3}
    assert result.gate_failures() == [
        "1 target(s) whose verdict differs between vantages",
        "1 target(s) not measured from every vantage (--vanished=ignore allows that)",
    ]


def test_the_fail_globs_decide_whose_verdict_differs() -> None:
    result = agree(campaign_records(), globs=["*.connectivity.offline", "h2.upgrade.failed"])
    assert [(r.key.dip, r.kind, r.failing) for r in result.targets["h2"]] == [
        ("198.18.0.4", VERDICT_KIND, ("west",)),
        ("198.18.0.5", VERDICT_KIND, ("west",)),
        ("198.18.0.3", CONDITIONS_KIND, ()),
    ]
    # Offline from both: the same everywhere, even though it fails everywhere.
    assert result.counts["h2"][SAME] == 2


def test_patterns_count_every_way_the_vantages_disagree() -> None:
    records = [
        *campaign_records(),
        *(
            record(f"198.18.1.{i}", vantage, conditions)
            for i in range(5)
            for vantage, conditions in (("east", WORKS), ("west", OFFLINE))
        ),
    ]
    result = agree(records)
    patterns = [(p.kind, p.targets, p.conditions[1]) for p in result.patterns["h2"]]
    assert patterns == [
        (VERDICT_KIND, 1, frozenset(BROKEN)),
        (CONDITIONS_KIND, 6, frozenset(OFFLINE)),
        (CONDITIONS_KIND, 1, frozenset(NO_H2)),
    ]
    assert all(p.key is None for p in result.patterns["h2"])


def test_unmeasured_emitted_and_other_experiments_are_kept_apart() -> None:
    unmeasured = {"conditions": [], "flow_results": [], "outcome": "skipped"}
    records = [
        *campaign_records(),
        record("198.18.0.9", "east", WORKS),
        record("198.18.0.9", "west", []) | unmeasured | {"unmeasured": "excluded"},
        record("198.18.0.3", "west", BROKEN, emitted_by=["198.18.0.3", 443, "x.example"]),
        record("198.18.0.3", "east", ["tfo.connectivity.works"], experiment="tfo"),
        record("198.18.0.3", "west", ["tfo.connectivity.works"], experiment="tfo"),
    ]
    result = agree(records)
    assert result.counts["h2"][ONE_VANTAGE] == 2  # .6, and .9 whose west record is excluded
    assert result.duplicates == 0  # the emitted record is no second record of .3 from west
    assert dict(result.counts["tfo"]) == {
        TARGETS: 1, SAME: 1, PATH_DEPENDENT: 0, VERDICT_DIFFERS: 0, ONE_VANTAGE: 0,
        INCOMPLETE: 0,
    }  # fmt: skip


def test_named_vantages_are_compared_in_their_order_and_others_left_out() -> None:
    records = [*campaign_records(), record("198.18.0.3", "north", BROKEN)]
    result = agree(records, vantages=["west", "east"])
    assert result.vantages == ("west", "east")
    assert result.targets["h2"][0].conditions == (frozenset(BROKEN), frozenset(WORKS))
    everywhere = agree(records)
    assert everywhere.vantages == ("east", "north", "west")
    # Three vantages: every target but .3 lacks north's record.
    assert everywhere.counts["h2"][INCOMPLETE] == 5
    assert everywhere.targets["h2"][0].conditions == (
        frozenset(WORKS), frozenset(BROKEN), frozenset(BROKEN),
    )  # fmt: skip


def test_a_repeated_record_counts_once_the_last_one_wins() -> None:
    records = [*campaign_records(), record("198.18.0.3", "west", WORKS)]
    result = agree(records)
    assert result.duplicates == 1
    assert result.counts["h2"][SAME] == 3 and result.counts["h2"][VERDICT_DIFFERS] == 0
    # .3 was kept to be shown while it differed; it is not shown now that it agrees.
    assert "198.18.0.3" not in [r.key.dip for r in result.targets["h2"]]


def test_targets_shown_are_bounded_and_the_verdict_changing_ones_come_first() -> None:
    """Names are kept per kind of disagreement: a flood of conditions-only differences does
    not push out the few targets whose verdict differs, whatever the globs turn out to be."""
    records = [
        record(f"198.18.{i // 250}.{i % 250}", vantage, conditions)
        for i in range(1000)
        for vantage, conditions in (("east", WORKS), ("west", OFFLINE if i < 990 else BROKEN))
    ]
    agreement = VantageAgreement(rows=5)
    for each in records:
        agreement.add(each)
    assert sum(len(kept) for kept in agreement._shown.values()) <= 2 * 2 * 5
    result = agreement.result(["*.connectivity.broken"])
    shown = result.targets["h2"]
    assert [r.key.dip for r in shown if r.key] == [
        "198.18.3.240", "198.18.3.241", "198.18.3.242", "198.18.3.243", "198.18.3.244",
    ]  # fmt: skip
    assert result.counts["h2"][PATH_DEPENDENT] == 1000
    assert [r.key.dip for r in agreement.result(["nothing"]).targets["h2"] if r.key] == [
        "198.18.0.0", "198.18.0.1", "198.18.0.2", "198.18.0.3", "198.18.0.4",
    ]  # fmt: skip


def test_memory_per_target_is_a_dict_slot_not_a_record() -> None:
    """20,000 targets from two vantages: what is kept per target is its slot, whatever the
    records hold (a record as read is about 2 KiB)."""
    targets = 20_000
    records = synthetic_records(targets, experiments=("h2",), vantages=("east", "west"))
    agreement = VantageAgreement()
    tracemalloc.start()
    try:
        for each in records:
            agreement.add(each)
        kept, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    per_target = kept / targets
    assert per_target < 200, f"{per_target:.0f} bytes per target"


# -- the diff command ---------------------------------------------------------------------


def _write(path: Path, records: Iterable[dict[str, Any]]) -> Path:
    write_records(path, records)
    return path


def _split(tmp_path: Path) -> tuple[Path, Path]:
    records = campaign_records()
    east = _write(tmp_path / "east.ndjson", (r for r in records if r["vantage"] == "east"))
    west = _write(tmp_path / "west.ndjson", (r for r in records if r["vantage"] == "west"))
    return east, west


def test_diff_across_vantages_of_one_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    both = _write(tmp_path / "both.ndjson", campaign_records())
    assert main(["diff", "--across-vantages", str(both)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        "vantages east, west compared per target with fail globs *.connectivity.broken "
        "(the defaults): 2 same everywhere, 3 path-dependent (1 verdict differs), "
        "1 from one vantage only"
    )
    assert lines[2].split() == ["h2", "6", "2", "3", "1", "1"]
    assert lines[3] == "path-dependent targets (conditions differ between vantages):"
    assert lines[4].split() == ["KIND", "EXPERIMENT", "TARGET", "EAST", "WEST"]
    assert lines[5].split() == [
        "verdict", "differs", "h2", "198.18.0.3:443", "x.example",
        "h2.connectivity.works,h2.upgrade.success", "h2.connectivity.broken",
    ]  # fmt: skip
    assert [line.split()[3] for line in lines[6:8]] == ["198.18.0.4:443", "198.18.0.5:443"]
    assert lines[8] == (
        "gate fails: 1 target(s) whose verdict differs between vantages; 1 target(s) not "
        "measured from every vantage (--vanished=ignore allows that)"
    )


def test_diff_two_files_one_per_vantage_and_the_gate_policies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    east, west = _split(tmp_path)
    args = ["diff", "--vantage", "west", "--vantage", "east", str(east), str(west)]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "vantages west, east compared" in out
    assert "KIND  " in out and "WEST" in out and out.index("WEST") < out.index("EAST")
    # Only the verdict difference is left to fail the gate; with no fail glob matching, none.
    assert main([*args, "--vanished=ignore"]) == 1
    assert main([*args, "--vanished=ignore", "--fail-on", "*.nothing"]) == 0
    out = capsys.readouterr().out
    assert "gate fails" in out.split("vantages west")[1]
    assert out.rstrip().splitlines()[-1].startswith("conditions differ")


def test_diff_across_vantages_takes_the_campaigns_own_globs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    both = _write(tmp_path / "both.ndjson", campaign_records())
    sessions = [{"options": {"fail_on": ["h2.upgrade.failed"]}}]
    Path(f"{both}.meta.json").write_text(json.dumps({"sessions": sessions}))
    assert main(["diff", "--across-vantages", "--vanished=ignore", str(both)]) == 1
    first = capsys.readouterr().out.splitlines()[0]
    assert f"fail globs h2.upgrade.failed ({both}'s own, from its metadata)" in first
    assert "(1 verdict differs)" in first  # .4 fails from west only, .3 fails nowhere now


def test_repeated_records_fail_the_gate_unless_the_last_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = [*campaign_records(), record("198.18.0.1", "west", WORKS)]
    both = _write(tmp_path / "both.ndjson", records)
    args = ["diff", "--across-vantages", "--vanished=ignore", "--fail-on=none", str(both)]
    assert main(args) == 1
    assert "1 record(s) repeat a target x experiment x vantage" in capsys.readouterr().out
    assert main([*args, "--duplicates=last"]) == 0


def test_diff_across_vantages_refuses_what_it_cannot_compare(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    east, west = _split(tmp_path)
    assert main(["diff", "--across-vantages", str(east)]) == 2
    assert "fewer than two vantage points to compare (records from: east)" in (
        capsys.readouterr().err
    )
    assert main(["diff", "--vantage", "east", "--vantage", "north", str(east), str(west)]) == 2
    assert "no measured records from vantage north (records from: east, west)" in (
        capsys.readouterr().err
    )
    assert main(["diff", "--across-vantages", "--old-metadata", "m", str(east), str(west)]) == 2
    assert main(["diff", str(east)]) == 2
    assert "give OLD and NEW" in capsys.readouterr().err


def test_diffing_two_vantages_as_campaigns_points_at_across_vantages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The old way: every record new or vanished, because the key includes the vantage."""
    east, west = _split(tmp_path)
    assert main(["diff", str(east), str(west)]) == 1
    out = capsys.readouterr().out
    assert "5 new, 6 vanished" in out
    assert (
        "OLD and NEW were measured from different vantage points (east; west): "
        "--across-vantages compares them target by target"
    ) in out


def test_the_limit_cuts_the_list_and_says_how_to_see_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    both = _write(tmp_path / "both.ndjson", campaign_records())
    main(["diff", "--across-vantages", "--limit", "1", str(both)])
    out = capsys.readouterr().out
    assert "198.18.0.3:443" in out and "198.18.0.4:443" not in out
    assert "... 2 more path-dependent target(s) not shown (--limit 3 shows all)" in out
