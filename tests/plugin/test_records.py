"""Records: the ndjson output and its metadata file, the pytest_spider_record hook, xdist
parity (JUnit XML: test_junit.py)."""

from __future__ import annotations

import json

import pytest

from tests.plugin.conftest import read_records, scripted_targets, write_targets

SCRIPTS = ("ok,ok", "ok,fail", "fail,ok", "timeout,timeout", "ok,raise")


def _targets(pytester: pytest.Pytester) -> str:
    targets = scripted_targets(*SCRIPTS)
    targets[0]["info"] = {"ASN": 64500, "CountryCode": "CH"}
    return str(write_targets(pytester.path / "t.ndjson", targets))


def test_records_keep_input_fields_and_add_pathspider_and_our_fields(
    scripted: pytest.Pytester,
) -> None:
    out = scripted.path / "out.ndjson"
    scripted.runpytest(
        f"--spider-targets={_targets(scripted)}", f"--spider-output={out}", "experiments/"
    )
    records = read_records(out)
    assert len(records) == len(SCRIPTS)
    first = records[0]
    assert first["info"] == {"ASN": 64500, "CountryCode": "CH"}
    assert (first["dip"], first["dp"], first["domain"], first["script"]) == (
        "198.18.0.1",
        80,
        "t0.example",
        "ok,ok",
    )
    assert first["conditions"] == ["scripted.connectivity.works"]
    assert first["experiment"] == "scripted"
    assert first["nodeid"] == "experiments/scripted.py::Scripted[198.18.0.1:80 t0.example]"
    assert first["outcome"] == "passed" and first["reason"] is None
    flows = first["flow_results"]
    assert [(f["config"], f["conn"], f["spdr_state"], f["sp"]) for f in flows] == [
        (0, "conn_base", 0, 1000),
        (1, "conn_exp", 0, 1001),
    ]
    # bytes from a conn_ function become text; times are PATHspider's format.
    assert flows[0]["blob"] == "\\xffbytes"
    assert first["time"]["from"] == flows[0]["spdr_start"] <= flows[1]["spdr_stop"]
    assert first["time"]["to"] == flows[1]["spdr_stop"]
    assert len(first["time"]["from"]) == len("2026-11-25 13:58:38.123456")
    timeout = records[3]["flow_results"][0]
    assert (timeout["spdr_state"], timeout["error_class"]) == (2, "timeout")


def test_the_record_hook_sees_every_record(scripted: pytest.Pytester) -> None:
    scripted.makeconftest(
        """
import json
def pytest_spider_record(record, config):
    with open("hooked.ndjson", "a") as f:
        f.write(json.dumps([record["domain"], record["outcome"]]) + "\\n")
"""
    )
    scripted.runpytest(f"--spider-targets={_targets(scripted)}", "experiments/")
    lines = [json.loads(x) for x in (scripted.path / "hooked.ndjson").read_text().splitlines()]
    assert lines == [
        ["t0.example", "passed"],
        ["t1.example", "failed"],
        ["t2.example", "passed"],
        ["t3.example", "skipped"],
        ["t4.example", "error"],
    ]


def test_xdist_gives_the_same_records_as_one_process(scripted: pytest.Pytester) -> None:
    targets = write_targets(scripted.path / "many.ndjson", scripted_targets(*(list(SCRIPTS) * 8)))
    single, double = scripted.path / "one.ndjson", scripted.path / "two.ndjson"
    scripted.runpytest_subprocess(
        f"--spider-targets={targets}", f"--spider-output={single}", "experiments/"
    )
    result = scripted.runpytest_subprocess(
        f"--spider-targets={targets}",
        f"--spider-output={double}",
        "-n",
        "2",
        "--junitxml=x.xml",
        "experiments/",
    )
    result.stdout.fnmatch_lines(["*spider summary*", "records: 40 written to *two.ndjson"])

    def keyed(path: object) -> dict[str, tuple[str, list[str]]]:
        return {r["nodeid"]: (r["outcome"], r["conditions"]) for r in read_records(path)}  # type: ignore[arg-type]

    assert len(read_records(double)) == len(read_records(single))
    assert keyed(double) == keyed(single)


def test_targets_from_stdin_reach_xdist_workers(scripted: pytest.Pytester) -> None:
    out = scripted.path / "out.ndjson"
    lines = "".join(json.dumps(t) + "\n" for t in scripted_targets("ok,ok", "ok,fail"))
    result = scripted.run(
        "python",
        "-m",
        "pytest",
        "--spider-targets=-",
        f"--spider-output={out}",
        "-n",
        "2",
        "experiments/",
        stdin=lines.encode(),
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert sorted(r["outcome"] for r in read_records(out)) == ["failed", "passed"]


def test_the_output_is_records_only_and_the_metadata_is_a_file_beside_it(
    scripted: pytest.Pytester,
) -> None:
    """PATHspider 2.0.1 reading our output died on a trailing metadata line: the output is a
    pure stream of records, every line one PATHspider can take as a job."""
    out = scripted.path / "out.ndjson"
    scripted.runpytest(
        f"--spider-targets={_targets(scripted)}",
        f"--spider-output={out}",
        "--spider-timeout=3",
        "experiments/",
    )
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == len(SCRIPTS)
    assert all("dip" in line and "spider_campaign" not in line for line in lines)
    document = json.loads((scripted.path / "out.ndjson.meta.json").read_text())
    assert document["records"] == str(out)
    [meta] = document["sessions"]
    assert meta["counts"]["targets"] == len(SCRIPTS)
    assert meta["counts"]["bad_input"] == 0
    assert meta["counts"]["outcomes"]["scripted"] == {
        "passed": 2,
        "failed": 1,
        "skipped": 1,
        "error": 1,
    }
    assert meta["options"]["timeout"] == 3.0
    assert meta["start"] <= meta["end"] and meta["duration"] >= 0
    assert meta["version"]
    assert meta["experiments"] == ["scripted"] and meta["vantages"] == ["local"]


def test_the_metadata_goes_where_spider_metadata_says(scripted: pytest.Pytester) -> None:
    scripted.runpytest(
        f"--spider-targets={_targets(scripted)}",
        "--spider-output=out.ndjson",
        "--spider-metadata=meta/campaign.json",
        "experiments/",
    )
    assert not (scripted.path / "out.ndjson.meta.json").exists()
    [meta] = json.loads((scripted.path / "meta" / "campaign.json").read_text())["sessions"]
    assert meta["options"]["metadata"] == "meta/campaign.json"


SOURCED = """
from pytest_spider import CONN_FAILED, CONN_OK, DesynchronizedSpider


class Sourced(DesynchronizedSpider):
    name = "sourced"

    def conn_a(self, job, config):
        return {"spdr_state": CONN_OK, "sp": 40000, "sip": "127.0.0.1"}

    def conn_b(self, job, config):
        return {"spdr_state": CONN_FAILED, "sip": "127.0.0.1", "error_class": "refused"}

    connections = [conn_a, conn_b]

    def combine_flows(self, flows):
        ok = [flow["spdr_state"] == CONN_OK for flow in flows]
        return [self.combine_connectivity(ok[0], ok[1])]
"""

#: A line of an earlier campaign's output, re-measured as a target list.
MEASURED_BEFORE = {
    "dip": "198.18.0.1",
    "dp": 80,
    "domain": "a.example",
    "rank": 7,
    "info": {"ASN": 64500, "CountryCode": "CH"},
    "sip": "192.0.2.9",
    "sip_public": "203.0.113.9",
    "sip_asn": 64496,
    "path": ["192.0.2.9", "203.0.113.9", "AS64496", "AS64500", "198.18.0.1"],
    "missed_flows": 2,
    "conditions": ["h2.connectivity.works", "h2.upgrade.success"],
    "flow_results": [{"config": 0, "spdr_state": 0, "sp": 1}],
    "time": {"from": "2017-01-01 00:00:00", "to": "2017-01-01 00:00:01"},
    "experiment": "h2",
    "nodeid": "old::H2",
    "outcome": "passed",
    "reason": "old",
    "vantage": "elsewhere",
    "unmeasured": "excluded",
}


def test_records_carry_pathspiders_source_fields_and_nothing_of_an_old_measurement(
    pytester: pytest.Pytester,
) -> None:
    pytester.mkdir("experiments")
    (pytester.path / "experiments" / "sourced.py").write_text(SOURCED)
    targets = write_targets(pytester.path / "t.ndjson", [MEASURED_BEFORE])
    out = pytester.path / "out.ndjson"
    pytester.runpytest(
        f"--spider-targets={targets}", f"--spider-output={out}", "experiments/"
    ).assert_outcomes(failed=1)
    [record] = read_records(out)
    # The input's own fields stay; what the old measurement wrote does not.
    assert (record["rank"], record["info"]["ASN"]) == (7, 64500)
    assert record["sip"] == "127.0.0.1"
    assert record["sip_public"] is None  # never asked of a third party
    assert "sip_asn" not in record
    assert record["path"] == ["127.0.0.1", "AS64500", "198.18.0.1"]
    assert record["missed_flows"] == 0
    assert record["conditions"] == ["sourced.connectivity.broken"]
    assert (record["experiment"], record["vantage"], record["outcome"]) == (
        "sourced",
        "local",
        "failed",
    )
    assert "unmeasured" not in record
    assert record["time"]["from"] > "2020"
    # A failed connection without a source port of its own has sp 0, as in PATHspider.
    assert [flow["sp"] for flow in record["flow_results"]] == [40000, 0]


def test_an_unmeasured_record_and_a_cut_sequence(scripted: pytest.Pytester) -> None:
    """No source where nothing was sent; missed_flows counts connections without a result."""
    (scripted.path / "block.txt").write_text("198.18.0.2/32\n")
    out = scripted.path / "out.ndjson"
    scripted.runpytest(
        f"--spider-targets={_targets(scripted)}",
        f"--spider-output={out}",
        "--spider-exclude=block.txt",
        "experiments/",
    )
    records = {r["domain"]: r for r in read_records(out)}
    excluded = records["t1.example"]
    assert excluded["unmeasured"] == "excluded"
    assert (excluded["sip"], excluded["path"], excluded["missed_flows"]) == (
        None,
        [None, "198.18.0.2"],
        0,
    )
    assert records["t0.example"]["path"] == [None, "AS64500", "198.18.0.1"]
    raised = records["t4.example"]  # conn_exp raised: one of two connections has no result
    assert raised["outcome"] == "error" and raised["missed_flows"] == 1


KEYED = """
from pytest_spider import CONN_OK, DesynchronizedSpider, PluggableSpider

class Keyed(DesynchronizedSpider, PluggableSpider):
    name = "keyed"

    def conn_a(self, job, config):
        return {"spdr_state": CONN_OK, "sp": 1000, "http_info": {2097198: 2, 2097154: 200}}

    connections = [conn_a]

    def combine_flows(self, flows):
        assert flows[0]["http_info"][2097198] == 2  # a flow keeps libcurl's numbers
        return ["keyed.connectivity.works"]
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_a_record_is_what_its_line_says_number_keys_as_text(
    pytester: pytest.Pytester, workers: list[str]
) -> None:
    """The hook sees each record as its output line reads, in one process and on the xdist
    controller alike: a flow's number keys (libcurl's http_info) as text."""
    pytester.mkdir("experiments")
    (pytester.path / "experiments" / "keyed.py").write_text(KEYED)
    pytester.makeconftest(
        """
import json
def pytest_spider_record(record, config):
    keys = {type(k).__name__ for k in record["flow_results"][0]["http_info"]}
    with open("hooked.ndjson", "a") as f:
        f.write(json.dumps([record["dip"], sorted(keys), record]) + "\\n")
"""
    )
    targets = write_targets(pytester.path / "t.ndjson", scripted_targets(*["ok"] * 6))
    out = pytester.path / "out.ndjson"
    result = pytester.runpytest_subprocess(
        f"--spider-targets={targets}", f"--spider-output={out}", "experiments/", *workers
    )
    result.assert_outcomes(passed=6)
    hooked = [json.loads(x) for x in (pytester.path / "hooked.ndjson").read_text().splitlines()]
    assert [keys for _, keys, _ in hooked] == [["str"]] * 6
    written = {record["dip"]: record for record in read_records(out)}
    assert {dip: record for dip, _, record in hooked} == written
    assert written["198.18.0.1"]["flow_results"][0]["http_info"] == {"2097198": 2, "2097154": 200}
