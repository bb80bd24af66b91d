"""Target lists: every input format, every kind of bad line, dedup, stdin and the labels."""

from __future__ import annotations

import dataclasses
import io
import re
from pathlib import Path

import pytest

from pytest_spider.schema import canonical_address, make_key
from pytest_spider.targets import (
    BAD_LINES_KEPT,
    BadLine,
    Target,
    TargetFileError,
    TargetList,
    is_name,
    iter_targets,
    load_targets,
)

DATA = Path(__file__).resolve().parent / "data" / "targets"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "targets"


def load(text: str) -> TargetList:
    """Load ``text`` as stdin, the way ``--targets -`` would."""
    return load_targets(["-"], stdin=io.StringIO(text))


def summary(targets: list[Target]) -> list[tuple[str | None, int | None, str | None]]:
    return [target.key for target in targets]


def test_ndjson_keeps_every_field_and_canonicalises_dip_dp_domain() -> None:
    loaded = load_targets([str(DATA / "web.ndjson")])
    assert loaded.formats == {str(DATA / "web.ndjson"): "ndjson"}
    assert loaded.bad == []
    assert summary(loaded.targets) == [
        ("198.19.0.3", 80, "smartcarsinc.com"),
        ("198.19.0.5", 80, "jesionowa-40.pl"),
        ("2001:db8::2", 80, "smglnc.blogspot.com"),
        (None, None, "example.org"),
        ("2001:db8::5", 8080, None),
    ]
    first = loaded.targets[0]
    assert first.fields["info"] == {
        "ASN": 7018,
        "Cached": "2017-02-24T10:25:14.82660325Z",
        "CountryCode": "US-VA",
        "Prefix": "198.19.0.2/9",
    }
    assert first.fields["rank"] == "888508"
    assert first.fields["lookupAttempts"] == 1
    assert first.origin == f"{DATA / 'web.ndjson'}:1"
    # fields stay as read; the canonical values are on the target and in job()
    last = loaded.targets[-1]
    assert last.fields == {"dip": "2001:DB8:0::0:5", "dp": "8080", "lookupType": "aaaa"}
    assert last.job() == {"dip": "2001:db8::5", "dp": 8080, "lookupType": "aaaa"}
    assert loaded.targets[3].origin.endswith("web.ndjson:6")


def test_csv_dip_skips_header_and_comments_and_reads_quoted_fields() -> None:
    loaded = load_targets([str(DATA / "dip.csv")])
    assert loaded.formats == {str(DATA / "dip.csv"): "csv-dip"}
    assert loaded.bad == []
    assert summary(loaded.targets) == [
        ("198.18.0.10", 443, "www.example.com"),
        ("198.18.0.11", 80, "example.net"),
        ("2001:db8::20", 443, None),
        ("198.18.0.12", None, "example.org"),
    ]
    assert loaded.targets[0].fields == {
        "dip": "198.18.0.10",
        "dp": "443",
        "domain": "www.example.com",
        "rank": "1",
    }
    assert loaded.targets[3].fields == {"dip": "198.18.0.12", "dp": "", "domain": "example.org"}
    assert loaded.targets[3].job() == {"dip": "198.18.0.12", "domain": "example.org"}


def test_csv_rank_gives_name_only_targets() -> None:
    loaded = load_targets([str(DATA / "rank.csv")])
    assert loaded.formats == {str(DATA / "rank.csv"): "csv-rank"}
    assert [(t.dip, t.dp, t.domain) for t in loaded.targets[:2]] == [
        (None, None, "google.com"),
        (None, None, "youtube.com"),
    ]
    assert loaded.targets[0].fields == {"rank": "1", "domain": "google.com"}
    assert loaded.targets[0].job() == {"rank": "1", "domain": "google.com"}
    assert [t.label() for t in loaded.targets] == [
        "google.com",
        "youtube.com",
        "facebook.com",
        "baidu.com",
        "wikipedia.org",
    ]


def test_csv_rank_header_is_skipped() -> None:
    loaded = load("rank,domain\n7,example.com\n")
    assert loaded.formats == {"<stdin>": "csv-rank"}
    assert summary(loaded.targets) == [(None, None, "example.com")]


def test_plain_lines_addresses_ports_and_urls() -> None:
    loaded = load_targets([str(DATA / "plain.txt")])
    assert loaded.formats == {str(DATA / "plain.txt"): "plain"}
    assert loaded.bad == []
    assert summary(loaded.targets) == [
        ("198.18.0.1", None, None),
        ("198.18.0.2", 8080, None),
        ("2001:db8::2", 443, None),
        ("2001:db8::3", None, None),
        ("198.18.0.4", 80, None),
        ("198.18.0.5", 443, None),
        ("2001:db8::6", 8443, None),
    ]
    assert loaded.targets[0].fields == {"dip": "198.18.0.1"}
    assert loaded.targets[1].fields == {"dip": "198.18.0.2", "dp": 8080}


def test_crlf_and_byte_order_mark_are_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "windows.txt"
    path.write_bytes(b"\xef\xbb\xbf198.18.0.1:443\r\n\r\n# note\r\n198.18.0.2:443\r\n")
    loaded = load_targets([str(path)])
    assert loaded.bad == []
    assert summary(loaded.targets) == [("198.18.0.1", 443, None), ("198.18.0.2", 443, None)]

    ndjson = tmp_path / "windows.ndjson"
    ndjson.write_bytes(b'\xef\xbb\xbf{"dip": "198.18.0.3", "dp": 80}\r\n')
    assert summary(load_targets([str(ndjson)]).targets) == [("198.18.0.3", 80, None)]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("198.18.0.256", "not an IP address '198.18.0.256'"),
        ("198.018.0.1", "not an IP address '198.018.0.1'"),
        ("198.18.0.1:99999", "bad port '99999' (must be 1-65535)"),
        ("198.18.0.1:0", "bad port '0' (must be 1-65535)"),
        ("198.18.0.1:http", "bad port 'http' (not a number)"),
        ("[2001:db8::1]x", "not an IP address '[2001:db8::1]x'"),
        ("fe80::1%eth0", "not an IP address 'fe80::1%eth0' (zone ids are not supported)"),
        ("example.com", "names are not resolved; give an address: 'example.com'"),
        ("http://example.com/", "names are not resolved; give an address: 'example.com'"),
        ("https://example.com:8443/x", "names are not resolved; give an address: 'example.com'"),
        ("http://2001:db8::1/", "an IPv6 address in a URL needs brackets: '2001:db8::1'"),
        ("198.18.0.1,80,example.com", "this is a csv-dip line but the file is plain"),
        ('{"dip": "198.18.0.1"}', "this is a ndjson line but the file is plain"),
    ],
)
def test_bad_plain_lines(text: str, reason: str) -> None:
    items = list(iter_targets("list.txt", io.StringIO(f"198.18.0.9\n{text}\n198.18.0.8\n")))
    assert [type(item) for item in items] == [Target, BadLine, Target]
    assert items[1] == BadLine("list.txt", 2, text, reason)
    assert str(items[1]) == f"list.txt:2: {reason}: {text}"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"dip": "198.18.0.1", "dp": 1', "JSON does not parse (Expecting ',' delimiter"),
        ("[1, 2]", "JSON is not an object (got list)"),
        ('{"rank": "4"}', "no 'dip' and no 'domain'"),
        ('{"domain": "example.com", "dp": 80}', "'dp' without 'dip' (a port needs an address)"),
        ('{"dip": 3232235777}', "not an IP address 3232235777"),
        ('{"dip": "198.18.0.1", "dp": true}', "bad port 'True' (not a number)"),
        ('{"dip": "198.18.0.1", "dp": "80x"}', "bad port '80x' (not a number)"),
        ('{"dip": "198.18.0.1", "dp": 65536}', "bad port '65536' (must be 1-65535)"),
        ('{"dip": "198.18.0.1", "domain": "a..b"}', "bad domain 'a..b' (not a valid hostname)"),
        ('{"dip": "198.18.0.1", "domain": "b\\u00fccher.de"}', "bad domain 'bücher.de'"),
        ('{"dip": "198.18.0.1", "domain": 5}', "bad domain 5 (not a valid hostname)"),
        (f'{{"domain": "{"a" * 64}.com"}}', "(not a valid hostname)"),
        (f'{{"domain": "{"a." * 126}ab"}}', "(not a valid hostname)"),
        ("198.18.0.1:80", "this is a plain line but the file is ndjson"),
    ],
)
def test_bad_ndjson_lines(text: str, reason: str) -> None:
    stream = io.StringIO(f'{{"dip": "198.18.0.9"}}\n{text}\n{{"dip": "198.18.0.8"}}\n')
    items = list(iter_targets("web.ndjson", stream))
    assert [type(item) for item in items] == [Target, BadLine, Target]
    bad = items[1]
    assert isinstance(bad, BadLine)
    assert (bad.path, bad.lineno, bad.text) == ("web.ndjson", 2, text)
    assert reason in bad.reason


def test_longest_valid_hostname_is_accepted() -> None:
    name = "a." * 126 + "a"  # 253 characters
    (target,) = load(f'{{"domain": "{name}"}}\n').targets
    assert target.domain == name


@pytest.mark.parametrize(
    ("first", "text", "reason"),
    [
        ("198.18.0.9,80,example.com", "198.18.0.1,80", "wrong column count: 2 (dip,dp,domain"),
        (
            "198.18.0.9,80,example.com",
            "example.com,80,x",
            "names are not resolved; give an address",
        ),
        ("198.18.0.9,80,example.com", "198.18.0.1,80,-bad!", "bad domain '-bad!'"),
        ("198.18.0.9,80,example.com", "198.18.0.1,65536,x", "bad port '65536' (must be 1-65535)"),
        ("198.18.0.9,80,example.com", '"198.18.0.1,80,x', "CSV does not parse"),
        ("198.18.0.9,80,example.com", "1,example.org", "this is a csv-rank line but the file"),
        ("1,example.com", "2,example.org,extra", "wrong column count: 3 (rank,domain has 2)"),
        ("1,example.com", "top,example.org", "bad rank 'top' (not a number)"),
        ("1,example.com", "2,", "no domain"),
        ("1,example.com", "198.18.0.1", "this is a plain line but the file is csv-rank"),
    ],
)
def test_bad_csv_lines(first: str, text: str, reason: str) -> None:
    items = list(iter_targets("list.csv", io.StringIO(f"{first}\n{text}\n")))
    assert isinstance(items[0], Target)
    bad = items[1]
    assert isinstance(bad, BadLine)
    assert (bad.lineno, bad.text) == (2, text)
    assert reason in bad.reason


def test_undecidable_first_line_is_bad_and_the_next_line_decides() -> None:
    items = list(iter_targets("x.csv", io.StringIO("host,port\n1,example.com\n")))
    assert items[0] == BadLine(
        "x.csv",
        1,
        "host,port",
        "cannot tell the format: first column 'host' is neither an address nor a rank",
    )
    assert isinstance(items[1], Target)
    assert items[1].domain == "example.com"


def test_bad_line_text_is_cut_to_80_characters() -> None:
    text = "x" * 200
    shown = str(BadLine("list.txt", 17, text, "not an IP address"))
    assert shown == f"list.txt:17: not an IP address: {'x' * 77}..."


def test_duplicates_are_counted_and_the_first_one_is_kept(tmp_path: Path) -> None:
    second = tmp_path / "second.csv"
    second.write_text("198.18.0.1,443,EXAMPLE.com\n198.18.0.1,443,other.example\n")
    loaded = load_targets(
        ["-", str(second)],
        stdin=io.StringIO(
            '{"dip": "198.18.0.1", "dp": 443, "domain": "example.com"}\n'
            '{"dip": "198.18.0.1", "dp": "0443", "domain": "example.com", "rank": 2}\n'
            '{"dip": "198.18.0.1", "dp": 80, "domain": "example.com"}\n'
        ),
    )
    assert loaded.duplicates == 2
    assert summary(loaded.targets) == [
        ("198.18.0.1", 443, "example.com"),
        ("198.18.0.1", 80, "example.com"),
        ("198.18.0.1", 443, "other.example"),
    ]
    assert loaded.targets[0].origin == "<stdin>:1"
    assert loaded.targets[2].origin == f"{second}:2"
    assert loaded.formats == {"<stdin>": "ndjson", str(second): "csv-dip"}


def test_equal_addresses_in_other_spellings_are_duplicates() -> None:
    loaded = load("2001:db8::1\n2001:DB8:0:0:0:0:0:1\n[2001:db8::1]:80\nhttp://[2001:db8::1]/\n")
    assert loaded.duplicates == 2
    assert summary(loaded.targets) == [("2001:db8::1", None, None), ("2001:db8::1", 80, None)]


def test_stdin_origin_and_stdin_given_twice() -> None:
    loaded = load("# header comment\n198.18.0.1\nnonsense\n")
    assert loaded.targets[0].origin == "<stdin>:2"
    assert [str(bad) for bad in loaded.bad] == [
        "<stdin>:3: names are not resolved; give an address: 'nonsense': nonsense"
    ]
    with pytest.raises(TargetFileError, match="stdin"):
        load_targets(["-", "-"], stdin=io.StringIO("198.18.0.1\n"))


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(TargetFileError, match=f"^{re.escape(str(missing))}: cannot read"):
        load_targets([str(DATA / "plain.txt"), str(missing)])


def test_file_without_targets_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing here\n\n")
    with pytest.raises(TargetFileError, match=f"^{re.escape(str(empty))}: no targets$"):
        load_targets([str(empty)])
    bad = tmp_path / "bad.txt"
    bad.write_text("example.com\n198.18.0.300\n")
    with pytest.raises(TargetFileError, match=r"no targets \(2 bad lines, the first: .*:1: names"):
        load_targets([str(bad)])


def test_binary_file_is_an_error(tmp_path: Path) -> None:
    binary = tmp_path / "capture.pcap"
    binary.write_bytes(b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00\xff\xfe\n")
    with pytest.raises(TargetFileError) as raised:
        load_targets([str(binary)])
    # One bad line, named and quoted escaped: no raw NUL or 0xff reaches the terminal.
    assert str(raised.value) == (
        f"{binary}: no targets (1 bad lines, the first: {binary}:1: not UTF-8 text "
        "(byte 0xd4 at character 1): \\xd4ò\\xa1\\x02\\x00\\x04\\x00\\xff\\xfe)"
    )


def test_labels_are_readable_and_free_of_double_colons() -> None:
    loaded = load(
        "198.19.0.5,443,example.com\n"
        "198.19.0.5,443,\n"
        "198.19.0.5,,\n"
        "2001:db8::1,443,example.com\n"
        "2001:db8::1,,\n"
        "::ffff:198.18.0.1,80,\n"
        "::,80,\n"
    )
    labels = [target.label() for target in loaded.targets]
    assert labels == [
        "198.19.0.5:443 example.com",
        "198.19.0.5:443",
        "198.19.0.5",
        "[2001:db8:0:0:0:0:0:1]:443 example.com",
        "2001:db8:0:0:0:0:0:1",
        "198.18.0.1:80",  # IPv4-mapped: the IPv4 address it is
        "[0:0:0:0:0:0:0:0]:80",
    ]
    assert not any("::" in label for label in labels)
    assert load("1,example.com\n").targets[0].label() == "example.com"


def test_job_is_a_fresh_deep_copy() -> None:
    target = load_targets([str(DATA / "web.ndjson")]).targets[0]
    job = target.job()
    job["dp"] = 8080
    job["info"]["ASN"] = 1
    job.setdefault("sip", "198.18.0.100")
    again = target.job()
    assert again["dp"] == 80
    assert again["info"]["ASN"] == 7018
    assert "sip" not in again
    assert target.fields["info"]["ASN"] == 7018
    assert again is not target.job()


def test_job_leaves_out_what_the_target_does_not_have() -> None:
    (target,) = load("198.18.0.1\n").targets
    assert target.job() == {"dip": "198.18.0.1"}
    (name_only,) = load('{"domain": "example.com", "dip": null, "rank": 3}\n').targets
    assert name_only.job() == {"domain": "example.com", "rank": 3}


def test_target_is_frozen_and_slotted() -> None:
    (target,) = load("198.18.0.1:80\n").targets
    with pytest.raises(dataclasses.FrozenInstanceError):
        target.dp = 81  # type: ignore[misc]
    assert not hasattr(target, "__dict__")
    assert hash(target) == hash(load("198.18.0.1:80\n").targets[0])


def test_iter_targets_streams_without_dedup() -> None:
    items = iter_targets("gen", io.StringIO("198.18.0.1\n198.18.0.1\nbad\n"))
    first = next(items)
    assert isinstance(first, Target)
    assert first.origin == "gen:1"
    assert [type(item) for item in items] == [Target, BadLine]


def test_large_plain_list_loads_every_line(tmp_path: Path) -> None:
    path = tmp_path / "many.txt"
    with path.open("w") as stream:
        for index in range(50_000):
            stream.write(f"198.18.{index >> 8 & 0xFF}.{index & 0xFF}:{443 + (index >> 16)}\n")
    loaded = load_targets([str(path)])
    assert len(loaded.targets) == 50_000
    assert loaded.duplicates == 0
    assert loaded.targets[-1].label() == "198.18.195.79:443"


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared target lists not found at {SHARED}")
def test_shared_lists_load() -> None:
    web = load_targets([str(SHARED / "webtest.ndjson")])
    assert len(web.targets) == 10
    assert (web.bad, web.duplicates) == ([], 0)
    assert all(target.dip and target.dp == 80 and target.domain for target in web.targets)

    names = load_targets([str(SHARED / "dnsresolvtest.csv")])
    assert len(names.targets) == 1000
    assert (names.bad, names.duplicates) == ([], 0)
    assert names.formats == {str(SHARED / "dnsresolvtest.csv"): "csv-rank"}
    assert all(target.dip is None and target.dp is None for target in names.targets)
    assert names.targets[0].fields == {"rank": "1", "domain": "google.com"}


# -- issue 14: nothing read two ways, bad lines bounded ----------------------------------------


def test_a_byte_that_is_not_utf8_is_one_bad_line_with_its_number(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_bytes(b"198.18.0.1\n198.18.0.2 # caf\xe9\n198.18.0.3\n\xff\xfe\n")
    loaded = load_targets([str(path)])
    assert summary(loaded.targets) == [("198.18.0.1", None, None), ("198.18.0.3", None, None)]
    assert [(bad.lineno, bad.reason) for bad in loaded.bad] == [
        (2, "not UTF-8 text (byte 0xe9 at character 17)"),
        (4, "not UTF-8 text (byte 0xff at character 1)"),
    ]
    assert loaded.bad_count == 2
    assert str(loaded.bad[0]).endswith(": 198.18.0.2 # caf\\xe9")


def test_stdin_text_with_undecodable_bytes_is_read_line_by_line() -> None:
    # What the plugin reads from stdin: bytes decoded with surrogateescape.
    text = b"198.18.0.1\n\x80bad\n198.18.0.2\n".decode("utf-8", "surrogateescape")
    loaded = load(text)
    assert len(loaded.targets) == 2
    assert [str(bad) for bad in loaded.bad] == [
        "<stdin>:2: not UTF-8 text (byte 0x80 at character 1): \\x80bad"
    ]


@pytest.mark.parametrize(
    "line",
    [
        "198.18.0.1\x00\x1b[2J" + "x" * 10_000_000,  # NUL, an ESC sequence, a 10 MB line
        '{"dip": "198.18.0.1\x1b]0;owned\x07", "dp": 80}',
        '{"dip": "198.18.0.1", "domain": "' + "\x1b" * 5_000 + '"}',
    ],
)
def test_a_message_quotes_a_short_escaped_excerpt(line: str) -> None:
    first = '{"dip": "198.18.0.9"}' if line.startswith("{") else "198.18.0.9"
    items = list(iter_targets("list", io.StringIO(f"{first}\n{line}\n")))
    bad = items[1]
    assert isinstance(bad, BadLine)
    shown = str(bad)
    assert len(shown) < 400, shown[:500]
    assert shown.isprintable(), shown[:500]  # no NUL, ESC, BEL: escaped
    assert "\\x1b" in shown
    assert len(bad.text) <= 512  # a bad line's text is kept cut, not 10 MB of it


def test_a_million_bad_lines_keep_memory_bounded(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    with path.open("w") as stream:
        stream.write("198.18.0.1\n")
        stream.writelines(f"bad-line-{i}\n" for i in range(50_000))
    loaded = load_targets([str(path)])
    assert loaded.bad_count == 50_000
    assert len(loaded.bad) == BAD_LINES_KEPT  # the first ones, each with its reason
    assert loaded.bad[0].lineno == 2 and "names are not resolved" in loaded.bad[0].reason
    assert load_targets([str(path)], keep_bad=3).bad == loaded.bad[:3]


def test_a_file_of_bad_lines_beyond_those_kept_still_names_its_first(tmp_path: Path) -> None:
    first, second = tmp_path / "one.txt", tmp_path / "two.txt"
    first.write_text("198.18.0.1\nbad\nworse\n")
    second.write_text("nothing-good\n")
    with pytest.raises(TargetFileError, match=r"two.txt: no targets \(1 bad lines, the first: "):
        load_targets([str(first), str(second)], keep_bad=1)


@pytest.mark.parametrize(
    "domain", ["3323068738", "0xc6120143", "030604400503", "198.18.1.66", "127.2", "a.0x7f."]
)
@pytest.mark.parametrize(
    ("good", "line"),
    [
        ("198.18.0.9,80,ok.example", "198.18.0.1,8081,{domain}"),
        ('{{"dip": "198.18.0.9"}}', '{{"dip": "198.18.0.1", "dp": 8081, "domain": "{domain}"}}'),
        ('{{"dip": "198.18.0.9"}}', '{{"dip": "2001:db8::1", "domain": "{domain}"}}'),
        ('{{"dip": "198.18.0.9"}}', '{{"domain": "{domain}"}}'),
        ("1,ok.example", "2,{domain}"),
    ],
)
def test_a_domain_that_is_a_number_is_refused(good: str, line: str, domain: str) -> None:
    (bad,) = load(f"{good}\n{line}\n".format(domain=domain)).bad
    assert bad.reason == (
        f"bad domain '{domain}' (ends in a number, so it reads as an IPv4 address, not a name; "
        "the address to measure goes in dip)"
    )


def test_a_numeric_domain_that_is_the_dip_itself_is_a_label() -> None:
    ndjson = load('{"dip": "198.18.0.1", "domain": "198.18.0.1"}\n')
    csv = load("198.18.0.2,80,198.18.0.2\n")
    assert ndjson.bad == csv.bad == []
    assert summary(ndjson.targets + csv.targets) == [
        ("198.18.0.1", None, "198.18.0.1"),
        ("198.18.0.2", 80, "198.18.0.2"),
    ]


@pytest.mark.parametrize(
    ("domain", "name"),
    [
        ("example.com", True),
        ("198-18-1-66.example", True),
        ("1.example", True),
        ("www.example.com.", True),
        ("3323068738", False),
        ("0XC6120143", False),
        ("example.123", False),
        ("example.0x", False),
        ("198.18.1.66.", False),
        ("", False),
        ("evil.example/@127.0.0.2", False),
        ("a\r\nHost: x", False),
    ],
)
def test_is_name(domain: str, name: bool) -> None:
    assert is_name(domain) is name


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "2001:db8::1:80",
            "ambiguous: '2001:db8::1:80' is an IPv6 address, or 2001:db8::1 with port 80; "
            "write [2001:db8::1]:80 for the port, [2001:db8::1:80] for the address",
        ),
        ("::1:443", "ambiguous: '::1:443' is an IPv6 address, or ::1 with port 443"),
        (
            "::ffff:198.18.0.1:80",
            "not an IP address '::ffff:198.18.0.1:80'; an IPv6 address with a port is written "
            "[::ffff:198.18.0.1]:80",
        ),
    ],
)
def test_a_bracketless_ipv6_address_that_could_have_a_port_is_refused(
    text: str, reason: str
) -> None:
    (bad,) = load(f"198.18.0.9\n{text}\n").bad
    assert bad.reason.startswith(reason)


def test_bracketless_ipv6_addresses_that_read_only_one_way_are_accepted() -> None:
    loaded = load(
        "2001:db8::1\n"  # the last group is no port on its own: 2001:db8: is no address
        "2001:db8::cafe\n"  # a hex letter: no port
        "2001:db8:0:0:0:0:1:80\n"  # all eight groups: 2001:db8:0:0:0:0:1 is no address
        "[2001:db8::1:80]\n"  # brackets say it is the address
        "[2001:db8::1]:80\n"  # ... or the address and port
    )
    assert loaded.bad == []
    assert summary(loaded.targets) == [
        ("2001:db8::1", None, None),
        ("2001:db8::cafe", None, None),
        ("2001:db8::1:80", None, None),
        ("2001:db8::1", 80, None),
    ]
    assert loaded.duplicates == 1  # 2001:db8:0:0:0:0:1:80 = [2001:db8::1:80]


def test_an_ipv4_mapped_address_is_its_ipv4_address() -> None:
    loaded = load("127.0.0.1:80\n::ffff:127.0.0.1\n[::ffff:127.0.0.1]:80\n[::FFFF:7f00:1]:80\n")
    assert summary(loaded.targets) == [("127.0.0.1", 80, None), ("127.0.0.1", None, None)]
    assert loaded.duplicates == 2
    ndjson = load('{"dip": "::ffff:198.18.0.1", "dp": 80}\n{"dip": "198.18.0.1", "dp": 80}\n')
    assert summary(ndjson.targets) == [("198.18.0.1", 80, None)]
    assert ndjson.duplicates == 1
    # Record keys (resume, baselines, diff) spell addresses the same way.
    assert canonical_address("::ffff:127.0.0.1") == "127.0.0.1"
    assert canonical_address("2001:DB8::01") == "2001:db8::1"
    key = make_key("h2", "::ffff:198.18.0.1", 80, None, "local")
    assert key == make_key("h2", ndjson.targets[0].dip, 80, None, "local")
