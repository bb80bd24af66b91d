"""Records into JUnit XML (``--junitxml``), valid for the chosen junit_family.

Every testcase gets a ``<system-out>`` with its conditions and each connection's state and
error (and, measured in several trials, whether they agreed and each trial's conditions), in
both families: the xunit2 schema (pytest's default family) allows ``system-out`` in
a testcase, and CI viewers show it for passing testcases too. It is written whatever
``junit_logging`` says: that setting chooses which *captured output* goes to the XML, and a
record is the test's result, not captured output. With ``junit_family=xunit1`` or ``legacy``
each testcase also carries the same pairs as ``<properties>`` (xunit2 has no properties in a
testcase; the suite-level properties earlier versions wrote there said the same thing again,
once per row, and are gone).

Under ``--dist each`` every target's items run once per vantage point, with the same node id,
so pytest writes two testcases of one name. Each testcase measured from a vantage other than
the default ``local`` therefore says it in its name, ``H2[198.18.0.5:443 example.com] @ east``
(as the terminal summary heads ``h2 @ east``), and in its ``<system-out>``. Only the JUnit name
changes: node ids, ``--lf`` and ``-k`` know the item as before.

Reaching a testcase's element needs pytest's private ``xml_key``, ``LogXML.node_reporter`` and
the reporter's ``record_testreport``, ``attrs`` and ``add_attribute``; they are used here only,
and ``tests/plugin/test_junit.py`` pins them.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from _pytest.junitxml import bin_xml_escape, xml_key

from pytest_spider import schema
from pytest_spider.schema import Record

#: The element a testcase's spider text goes to.
SYSTEM_OUT = "system-out"


def properties(record: Record) -> list[tuple[str, str]]:
    """Flat name/value pairs: the conditions, the trials, then each connection's state and
    error."""
    props = [("spider.conditions", " ".join(schema.conditions_of(record)))]
    vantage = schema.vantage_of(record)
    if vantage != schema.DEFAULT_VANTAGE:
        props.insert(0, ("spider.vantage", vantage))
    trials = schema.trials_of(record)
    if trials:
        props.append(("spider.trials", _consistency(record, len(trials))))
        props += [
            (f"spider.trial.{number}.conditions", " ".join(schema.conditions_of(trial)))
            for number, trial in enumerate(trials, 1)
        ]
    for flow in record.get(schema.FLOW_RESULTS) or ():
        prefix = f"spider.{flow.get('conn', flow.get('config'))}"
        props.append((f"{prefix}.state", schema.state_word(flow.get("spdr_state"))))
        if flow.get("error_class"):
            props.append((f"{prefix}.error", f"{flow['error_class']}: {flow.get('error')}"))
    return props


def text(record: Record) -> str:
    """The record as a few lines people read in a CI viewer."""
    lines = [f"conditions: {' '.join(schema.conditions_of(record)) or '(none)'}"]
    vantage = schema.vantage_of(record)
    if vantage != schema.DEFAULT_VANTAGE:
        lines.insert(0, f"vantage: {vantage}")
    trials = schema.trials_of(record)
    if trials:
        lines.append(f"trials: {_consistency(record, len(trials))}")
        lines += [
            f"trial {number}: {' '.join(schema.conditions_of(trial)) or '(none)'}"
            for number, trial in enumerate(trials, 1)
        ]
        lines.append("connections of trial 1:")
    for flow in record.get(schema.FLOW_RESULTS) or ():
        line = f"{flow.get('conn', flow.get('config'))}: "
        line += schema.state_word(flow.get("spdr_state"))
        if flow.get("error_class"):
            line += f" ({flow['error_class']}: {flow.get('error')})"
        lines.append(line)
    unmeasured = record.get(schema.UNMEASURED)
    if unmeasured:
        lines.append(f"unmeasured: {unmeasured} ({record.get(schema.REASON)})")
    lines.append(f"outcome: {schema.outcome_of(record)}")
    return "\n".join(lines) + "\n"


def _consistency(record: Record, trials: int) -> str:
    """``3, inconsistent``: how many trials, and whether they agreed."""
    return f"{trials}, {'inconsistent' if schema.is_inconsistent(record) else 'consistent'}"


def add_record(config: pytest.Config, report: pytest.TestReport, record: Record) -> None:
    """Attach a record to its testcase (before junitxml handles the teardown report)."""
    xml = config.stash.get(xml_key, None)
    if xml is None:
        return
    out = ET.Element(SYSTEM_OUT)
    out.text = bin_xml_escape(text(record))
    xml.node_reporter(report).append(out)
    if config.getini("junit_family") != "xunit2":
        report.user_properties.extend(properties(record))


def name_vantage(config: pytest.Config, report: pytest.TestReport, vantage: str) -> None:
    """Name the report's testcase after its vantage too: ``<name> @ <vantage>``.

    Called for the teardown report before junitxml handles it. junitxml restores attributes
    set on a testcase each time it (re)reads the testcase's reports, so the name holds.
    """
    xml = config.stash.get(xml_key, None)
    if xml is None:
        return
    reporter = xml.node_reporter(report)
    reporter.record_testreport(report)  # the name pytest gives it, as junitxml would
    name = reporter.attrs.get("name", "")
    suffix = f" @ {vantage}"
    if not name.endswith(suffix):
        reporter.add_attribute("name", name + suffix)
