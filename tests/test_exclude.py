"""The exclusion list: zmap blocklist files, IPv4/IPv6 matching, and refusing bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_spider.exclude import ExclusionFileError, ExclusionList


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "blocklist.conf"
    path.write_text(text)
    return str(path)


def test_matches_name_the_entry(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "# zmap-style blocklist\n"
        "\n"
        "198.18.0.0/24   # a lab subnet\n"
        "198.18.0.128/25\n"
        "198.19.1.7\n"
        "2001:db8:1::/48 # documentation\n"
        "2001:db8:2::1\n",
    )
    exclusions = ExclusionList.load(path)
    assert len(exclusions) == 5
    assert exclusions.match("198.18.0.5") == f"{path}:3 (198.18.0.0/24)"
    # the most specific entry wins
    assert exclusions.match("198.18.0.200") == f"{path}:4 (198.18.0.128/25)"
    assert exclusions.match("198.19.1.7") == f"{path}:5 (198.19.1.7/32)"
    assert exclusions.match("2001:db8:1:ffff::9") == f"{path}:6 (2001:db8:1::/48)"
    assert exclusions.match("2001:db8:2::1") == f"{path}:7 (2001:db8:2::1/128)"
    for outside in ("198.18.1.0", "198.19.1.8", "2001:db8:2::2", "2001:db8:3::1"):
        assert exclusions.match(outside) is None
    assert exclusions.match(None) is None


def test_host_bits_are_cleared_and_repeats_counted_once(tmp_path: Path) -> None:
    path = write(tmp_path, "198.18.7.9/16\n198.18.0.0/16\n2001:db8::1/32\n")
    exclusions = ExclusionList.load(path)
    assert len(exclusions) == 2
    assert exclusions.match("198.18.200.1") == f"{path}:1 (198.18.0.0/16)"
    assert exclusions.match("2001:db8:ffff::1") == f"{path}:3 (2001:db8::/32)"


def test_ipv4_mapped_ipv6_matches_ipv4_entries(tmp_path: Path) -> None:
    path = write(tmp_path, "198.18.0.0/15\n")
    exclusions = ExclusionList.load(path)
    assert exclusions.match("::ffff:198.19.3.4") == f"{path}:1 (198.18.0.0/15)"
    assert exclusions.match("::ffff:198.20.0.1") is None


def test_whole_space_entries(tmp_path: Path) -> None:
    exclusions = ExclusionList.load(write(tmp_path, "0.0.0.0/0\n"))
    assert exclusions.match("198.18.0.1") is not None
    assert exclusions.match("2001:db8::1") is None


def test_thousands_of_networks(tmp_path: Path) -> None:
    lines = [f"198.18.{i >> 8}.{i & 0xFF}/32" for i in range(0, 4096, 2)]
    lines += [f"2001:db8:{i:x}::/48" for i in range(2048)]
    exclusions = ExclusionList.load(write(tmp_path, "\n".join(lines) + "\n"))
    assert len(exclusions) == 4096
    hits = [exclusions.match(f"198.18.{i >> 8}.{i & 0xFF}") for i in range(4096)]
    assert [hit is not None for hit in hits] == [i % 2 == 0 for i in range(4096)]
    assert all(exclusions.match(f"2001:db8:{i:x}::5") for i in range(2048))
    assert exclusions.match("2001:db8:800::5") is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("198.18.0.0/33", "not a network or address '198.18.0.0/33'"),
        ("example.com", "not a network or address 'example.com'"),
        ("198.18.0.0 198.19.0.0", "not a network or address '198.18.0.0 198.19.0.0'"),
        ("2001:db8::/129", "not a network or address '2001:db8::/129'"),
    ],
)
def test_bad_line_fails_the_file(tmp_path: Path, text: str, reason: str) -> None:
    path = write(tmp_path, f"# ok\n198.18.0.0/24\n{text}\n")
    with pytest.raises(ExclusionFileError) as excinfo:
        ExclusionList.load(path)
    assert str(excinfo.value).startswith(f"{path}:3: {reason}")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ExclusionFileError, match=r"nope\.conf: cannot read"):
        ExclusionList.load(str(tmp_path / "nope.conf"))


def test_empty_list_matches_nothing() -> None:
    exclusions = ExclusionList()
    assert len(exclusions) == 0
    assert exclusions.match("198.18.0.1") is None
