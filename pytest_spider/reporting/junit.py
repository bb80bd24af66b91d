"""Records into JUnit XML (``--junitxml``) as properties, valid for the chosen junit_family.

With ``junit_family=xunit1`` or ``legacy`` each testcase carries ``<properties>``: the
conditions and every connection's state and error. The xunit2 schema (pytest's default
family) has no properties inside a testcase, so there the same pairs go into the
testsuite's ``<properties>``, named ``<nodeid> <property>``.

Reaching the suite-level properties needs pytest's private ``xml_key``; it is used here
only, and ``tests/test_junit.py`` pins it.
"""

from __future__ import annotations

import pytest
from _pytest.junitxml import xml_key

from pytest_spider import schema
from pytest_spider.schema import Record


def properties(record: Record) -> list[tuple[str, str]]:
    """Flat name/value pairs: the conditions, then each connection's state and error."""
    props = [("spider.conditions", " ".join(schema.conditions_of(record)))]
    for flow in record.get(schema.FLOW_RESULTS) or ():
        prefix = f"spider.{flow.get('conn', flow.get('config'))}"
        props.append((f"{prefix}.state", schema.state_word(flow.get("spdr_state"))))
        if flow.get("error_class"):
            props.append((f"{prefix}.error", f"{flow['error_class']}: {flow.get('error')}"))
    return props


def add_record(config: pytest.Config, report: pytest.TestReport, record: Record) -> None:
    """Attach a record's properties to the testcase (or the suite for xunit2)."""
    xml = config.stash.get(xml_key, None)
    if xml is None:
        return
    pairs = properties(record)
    if config.getini("junit_family") == "xunit2":
        for name, value in pairs:
            xml.add_global_property(f"{report.nodeid} {name}", value)
    else:
        report.user_properties.extend(pairs)
