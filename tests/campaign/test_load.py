"""Reading record files: metadata set aside, PATHspider output accepted, bad input named."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pytest_spider.campaign.load import RecordFileError, RecordStream, read_metadata
from pytest_spider.schema import (
    DEAD,
    EXCLUDED,
    NO_ADDRESS,
    Key,
    experiment_of,
    is_measured,
    key_of,
    outcome_of,
    parse_time,
    unmeasured_kind,
    utc_text,
)

DATA = Path(__file__).parent / "data"


def test_records_stream_in_order_and_metadata_is_kept_aside() -> None:
    stream = RecordStream([DATA / "small.ndjson"])
    records = list(stream)
    assert len(records) == 8
    assert [r["experiment"] for r in records[:3]] == ["h2", "h2", "h2"]
    assert len(stream.campaigns) == 1
    assert stream.campaigns[0]["counts"] == {"targets": 6, "bad_input": 2}
    # A second pass reads the files again and does not double the metadata.
    assert sum(1 for _ in stream) == 8
    assert len(stream.campaigns) == 1


def test_several_files_are_read_one_after_the_other() -> None:
    stream = RecordStream([DATA / "old.ndjson", DATA / "new.ndjson"])
    assert sum(1 for _ in stream) == 16


def test_plain_pathspider_output_loads_with_defaults() -> None:
    records = list(RecordStream([DATA / "pathspider.ndjson"]))
    assert [experiment_of(r) for r in records] == ["ecn", "ecn", "unknown"]
    assert {outcome_of(r) for r in records} == {"unknown"}
    # dp "80" (a string, as some PATHspider inputs have it) is the same port as 80.
    assert key_of(records[1]) == Key("ecn", "198.18.1.2", 80, "y.example", "local")
    assert all(is_measured(r) for r in records)


def test_unmeasured_records_are_classified_by_their_unmeasured_field() -> None:
    records = list(RecordStream([DATA / "small.ndjson"]))
    unmeasured = [r for r in records if not is_measured(r)]
    assert [unmeasured_kind(r) for r in unmeasured] == [EXCLUDED, NO_ADDRESS, DEAD]


def test_key_labels_targets_as_people_write_them() -> None:
    assert Key("h2", "198.18.0.1", 443, "a.example", "local").target_label() == (
        "198.18.0.1:443 a.example"
    )
    assert Key("h2", "2001:db8::1", 443, None, "local").target_label() == "[2001:db8::1]:443"
    assert Key("dnsresolv", None, None, "name.example", "local").target_label() == "name.example"


def test_timestamps_with_and_without_microseconds_or_offset() -> None:
    assert parse_time("2026-11-25 13:58:38") is not None
    assert parse_time("2026-11-25 13:58:38.123456") == parse_time(
        "2026-11-25T14:58:38.123456+01:00"
    )
    assert parse_time("yesterday") is None
    assert parse_time(None) is None


@pytest.mark.parametrize(
    "seconds",
    [0.0, 1.9999995, 0.0000005, 1e9 + 0.9999995, 1764670000.0000005, 1764670000.9999996, -0.5]
    + [random.Random(seed).uniform(0, 4e9) for seed in range(200)],
)
def test_timestamps_are_written_as_datetime_writes_them(seconds: float) -> None:
    """utc_text formats each second once and adds the microseconds: the text must be
    datetime's, rounding (half to even, across a second's edge) included."""
    expected = datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)
    assert utc_text(seconds) == expected.isoformat(sep=" ", timespec="microseconds")
    assert parse_time(utc_text(seconds)) == expected


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "x.ndjson:2: not JSON"),
        ("[1, 2]", "x.ndjson:2: not a JSON object"),
        ('{"dip": "198.18.0.1", "dp": 80}', "x.ndjson:2: not a record"),
        ('{"conditions": "h2.connectivity.works"}', "x.ndjson:2: conditions is not a list"),
        ('{"conditions": [], "flow_results": [1]}', "x.ndjson:2: flow_results is not a list"),
        ('{"spider_campaign": 3}', "x.ndjson:2: spider_campaign is not a JSON object"),
    ],
)
def test_a_line_that_is_not_a_record_names_file_and_line(
    tmp_path: Path, line: str, message: str
) -> None:
    path = tmp_path / "x.ndjson"
    path.write_text('{"conditions": ["h2.connectivity.works"]}\n' + line + "\n")
    with pytest.raises(RecordFileError) as info:
        list(RecordStream([path]))
    assert message in str(info.value)


def test_missing_and_binary_files_are_errors(tmp_path: Path) -> None:
    with pytest.raises(RecordFileError, match=r"absent\.ndjson: cannot read"):
        list(RecordStream([tmp_path / "absent.ndjson"]))
    binary = tmp_path / "binary.ndjson"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(RecordFileError, match=r"binary\.ndjson: cannot read"):
        list(RecordStream([binary]))


def test_bom_crlf_and_blank_lines_are_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "win.ndjson"
    path.write_bytes(b'\xef\xbb\xbf{"conditions": ["h2.connectivity.works"]}\r\n\r\n')
    assert [r["conditions"] for r in RecordStream([path])] == [["h2.connectivity.works"]]


def test_the_metadata_file_beside_the_records_is_read(tmp_path: Path) -> None:
    records = tmp_path / "out.ndjson"
    records.write_text('{"conditions": ["h2.connectivity.works"]}\n')
    sessions = [{"counts": {"targets": 1}}, {"counts": {"targets": 2}}]
    meta = {"records": str(records), "sessions": sessions}
    (tmp_path / "out.ndjson.meta.json").write_text(json.dumps(meta))
    stream = RecordStream([records])
    assert len(list(stream)) == 1
    assert stream.campaigns == sessions
    assert read_metadata(tmp_path / "absent.meta.json") == []
    elsewhere = tmp_path / "m.json"
    elsewhere.write_text(json.dumps({"sessions": sessions[:1]}))
    stream = RecordStream([records], [elsewhere])
    list(stream)
    assert stream.campaigns == sessions[:1]


@pytest.mark.parametrize(
    ("text", "message"),
    [("{", "campaign metadata is not JSON"), ('{"sessions": 3}', "not campaign metadata")],
)
def test_bad_metadata_is_an_error_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    records = tmp_path / "out.ndjson"
    records.write_text('{"conditions": []}\n')
    (tmp_path / "out.ndjson.meta.json").write_text(text)
    with pytest.raises(RecordFileError, match=f"out.ndjson.meta.json: {message}"):
        list(RecordStream([records]))
