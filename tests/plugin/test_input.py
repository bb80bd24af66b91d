"""Target input through the plugin: bad lines, exclusions, duplicates, ini settings."""

from __future__ import annotations

import sys

import pytest

from pytest_spider.options import SpiderSettings
from tests.plugin.conftest import read_records


def test_bad_lines_stop_the_run_before_anything_is_measured(scripted: pytest.Pytester) -> None:
    lines = ["198.18.0.1", "not-an-address", "198.18.0.2:99999"] + ["bad"] * 25
    targets = scripted.path / "list.txt"
    targets.write_text("\n".join(lines) + "\n")
    out = scripted.path / "out.ndjson"
    result = scripted.runpytest(
        f"--spider-targets={targets}", f"--spider-output={out}", "experiments/"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: 27 bad target line(s); nothing was measured*",
            "*list.txt:2: *not-an-address*",
            "*list.txt:3: *port*99999*",
            "*... and 7 more",
        ]
    )
    assert not out.exists()


def test_keep_bad_targets_measures_the_rest_and_reports_them(scripted: pytest.Pytester) -> None:
    targets = scripted.path / "list.txt"
    targets.write_text("198.18.0.1\nnope\n198.18.0.2\n")
    result = scripted.runpytest(
        f"--spider-targets={targets}", "--spider-keep-bad-targets", "experiments/"
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["input: 2 targets*1 bad line(s)*", "  bad: *list.txt:2:*nope*"])


def test_a_missing_target_file_is_a_usage_error(scripted: pytest.Pytester) -> None:
    result = scripted.runpytest("--spider-targets=nowhere.txt", "experiments/")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *nowhere.txt*"])


def test_excluded_targets_are_skipped_and_never_contacted(scripted: pytest.Pytester) -> None:
    targets = scripted.path / "t.ndjson"
    # Contacting the first target would raise inside its conn_ functions.
    targets.write_text(
        '{"dip": "198.18.7.7", "dp": 80, "script": "raise,raise"}\n'
        '{"dip": "198.18.0.1", "dp": 80}\n'
        '{"dip": "2001:db8::5", "dp": 80, "script": "raise,raise"}\n'
    )
    exclude = scripted.path / "blocklist.txt"
    exclude.write_text("# lab blocklist\n198.18.7.0/24\n2001:db8::/64  # v6 too\n")
    out = scripted.path / "out.ndjson"
    result = scripted.runpytest(
        f"--spider-targets={targets}",
        f"--spider-exclude={exclude}",
        f"--spider-output={out}",
        "experiments/",
        "-rs",
    )
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(["*2 excluded*", "*excluded by *blocklist.txt:2 (198.18.7.0/24)*"])
    records = read_records(out)
    assert [(r["outcome"], r["flow_results"]) for r in records if r["outcome"] == "skipped"] == [
        ("skipped", []),
        ("skipped", []),
    ]


def test_duplicates_are_measured_once_and_counted(scripted: pytest.Pytester) -> None:
    targets = scripted.path / "t.txt"
    targets.write_text("198.18.0.1\n198.18.0.1\n198.18.0.2:80\n198.18.0.2:80\n198.18.0.2:81\n")
    result = scripted.runpytest(f"--spider-targets={targets}", "experiments/")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["input: 3 targets (plain), 2 duplicate(s) measured once*"])


def test_name_only_targets_are_skipped_by_address_experiments(scripted: pytest.Pytester) -> None:
    targets = scripted.path / "names.csv"
    targets.write_text("1,example.com\n2,example.org\n")
    result = scripted.runpytest(f"--spider-targets={targets}", "experiments/", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*no address for example.com (names are never resolved here)*"])


def test_settings_come_from_the_ini_file(scripted: pytest.Pytester) -> None:
    (scripted.path / "targets.txt").write_text("198.18.0.1\n198.18.0.2\n")
    scripted.makeini(
        "[pytest]\nspider_targets = targets.txt\nspider_output = out.ndjson\n"
        "spider_timeout = 2\nspider_concurrency = 3\n"
    )
    result = scripted.runpytest("experiments/")
    result.assert_outcomes(passed=2)
    assert len(read_records(scripted.path / "out.ndjson")) == 2


def test_bad_option_values_are_usage_errors(scripted: pytest.Pytester) -> None:
    (scripted.path / "t.txt").write_text("198.18.0.1\n")
    for bad in ("--spider-timeout=soon", "--spider-concurrency=0"):
        result = scripted.runpytest("--spider-targets=t.txt", bad, "experiments/")
        assert result.ret == pytest.ExitCode.USAGE_ERROR, bad
    result = scripted.runpytest(
        "--spider-targets=t.txt", "--spider-connect=quic", "--spider-experiment=h2"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --spider-connect=quic: not a mode of h2 (h2: http, https)"]
    )


def test_options_are_documented_in_their_own_help_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "pytest-spider: A/B path transparency measurement:",
            "*--spider-targets=PATH*",
            "*spider_timeout (string):*",
        ]
    )


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--spider-timeout=nan", "--spider-timeout: must be a finite number, not 'nan'"),
        ("--spider-timeout=inf", "--spider-timeout: must be a finite number, not 'inf'"),
        ("--spider-timeout=-inf", "--spider-timeout: must be a finite number, not '-inf'"),
        ("--spider-timeout=1e300", "--spider-timeout: must be at most 3600"),
        ("--spider-timeout=0", "--spider-timeout: must be at least 0.001"),
        ("--spider-rate=nan", "--spider-rate: must be a finite number, not 'nan'"),
        ("--spider-rate=inf", "--spider-rate: must be a finite number, not 'inf'"),
        ("--spider-rate=1e12", "--spider-rate: must be at most 1000000"),
        ("--spider-concurrency=1000000000", "--spider-concurrency: must be at most 10000"),
        ("--spider-lookahead=1e3", "--spider-lookahead: not a number: '1e3'"),
        ("--spider-max-body=99999999999", "--spider-max-body: must be at most 1073741824"),
        ("--spider-trials=0", "--spider-trials: must be at least 1"),
        ("--spider-trials=101", "--spider-trials: must be at most 100"),
        ("--spider-trials=2.5", "--spider-trials: not a number: '2.5'"),
        ("--spider-trial-gap=-1", "--spider-trial-gap: must be at least 0"),
        ("--spider-trial-gap=nan", "--spider-trial-gap: must be a finite number, not 'nan'"),
        ("--spider-trial-gap=inf", "--spider-trial-gap: must be a finite number, not 'inf'"),
        ("--spider-trial-gap=1e9", "--spider-trial-gap: must be at most 86400"),
        ("--spider-trial-gap=soon", "--spider-trial-gap: not a number: 'soon'"),
        ("--spider-driver=greenlets", "--spider-driver: 'greenlets' is not one of auto, threads"),
        ("--spider-codepoint=64", "--spider-codepoint: must be at most 63"),
        ("--spider-codepoint=-1", "--spider-codepoint: must be at least 0"),
        ("--spider-codepoint=ef", "--spider-codepoint: not a number: 'ef'"),
        (
            "--spider-dns-server=ns.example.org",
            "--spider-dns-server: DNS server 'ns.example.org' is not an IP address "
            "(names are not resolved)",
        ),
        (
            "--spider-dns-server=198.18.0.1:99999",
            "--spider-dns-server: DNS server '198.18.0.1:99999': port must be 1-65535",
        ),
        (
            "--spider-dns-server=198.18.0.1:abc",
            "--spider-dns-server: DNS server '198.18.0.1:abc': port 'abc' is not a number",
        ),
        ("--spider-dns-server=:53", "--spider-dns-server: DNS server ':53' has no address"),
        ("--spider-dns-server=", "--spider-dns-server: empty (give ADDR, ADDR:PORT or [V6]:PORT)"),
        (
            "--spider-dns-server=2001:db8::1:53",
            "--spider-dns-server: DNS server '2001:db8::1:53' is ambiguous: write "
            "[2001:db8::1]:53 for port 53, [2001:db8::1:53] for the address",
        ),
    ],
)
def test_option_values_that_would_break_every_item_are_usage_errors(
    scripted: pytest.Pytester, option: str, message: str
) -> None:
    (scripted.path / "t.txt").write_text("198.18.0.1\n")
    # A usage error at configure time, before any item exists.
    result = scripted.runpytest("--spider-targets=t.txt", option, "experiments/")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    result.stderr.fnmatch_lines([f"ERROR: {message}"])


def test_option_values_from_the_ini_file_are_checked_as_well(scripted: pytest.Pytester) -> None:
    (scripted.path / "t.txt").write_text("198.18.0.1\n")
    scripted.makeini("[pytest]\nspider_timeout = nan\n")
    result = scripted.runpytest("--spider-targets=t.txt", "experiments/")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --spider-timeout: must be a finite number, not 'nan'"])


def test_a_byte_that_is_not_utf8_costs_one_line_not_the_file(scripted: pytest.Pytester) -> None:
    targets = scripted.path / "list.txt"
    targets.write_bytes(b"198.18.0.1\n198.18.0.\xff2\n198.18.0.3\n")
    refused = scripted.runpytest(f"--spider-targets={targets}", "experiments/")
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(
        [
            "ERROR: 1 bad target line(s); nothing was measured*",
            "*list.txt:2: not UTF-8 text (byte 0xff at character 10): 198.18.0.\\xff2",
        ]
    )
    kept = scripted.runpytest(
        f"--spider-targets={targets}", "--spider-keep-bad-targets", "experiments/"
    )
    kept.assert_outcomes(passed=2)
    kept.stdout.fnmatch_lines(["input: 2 targets*1 bad line(s)*", "  bad: *list.txt:2: not UTF-8*"])


def test_a_byte_that_is_not_utf8_on_stdin_costs_one_line(scripted: pytest.Pytester) -> None:
    result = scripted.run(
        sys.executable, "-m", "pytest", "--spider-targets=-", "--spider-keep-bad-targets",
        "-p", "no:cacheprovider", "experiments/",
        stdin=b"198.18.0.1\n\xc3\x28bad\n198.18.0.2\n",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.OK, result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(
        ["  bad: <stdin>:2: not UTF-8 text (byte 0xc3 at character 1): \\xc3(bad", "*2 passed*"]
    )


def test_a_huge_line_with_control_characters_is_quoted_short_and_escaped(
    scripted: pytest.Pytester,
) -> None:
    targets = scripted.path / "list.txt"
    huge = b"\x1b[2J\x1b]0;title\x07\x00" + b"A" * 10_000_000
    targets.write_bytes(b"198.18.0.1\n" + huge + b"\n")
    result = scripted.runpytest(f"--spider-targets={targets}", "experiments/")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    error = result.stderr.str()
    assert len(error) < 2_000, len(error)
    assert "\x1b" not in error and "\x00" not in error and "\x07" not in error
    assert "list.txt:2: not an IP address '\\x1b[2J\\x1b]0;title\\x07\\x00AAAA" in error


def test_a_million_bad_lines_are_counted_not_kept(scripted: pytest.Pytester) -> None:
    targets = scripted.path / "list.txt"
    with targets.open("w") as stream:
        stream.write("198.18.0.1\n")
        stream.writelines(f"bad-{i}\n" for i in range(100_000))
    result = scripted.runpytest(
        f"--spider-targets={targets}", "--spider-keep-bad-targets", "experiments/"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["input: 1 targets*100000 bad line(s)*", "  ... and 99980 more bad line(s)"]
    )


def test_a_usage_error_found_by_xdist_workers_is_the_runs(pytester: pytest.Pytester) -> None:
    """Workers find a bad --spider-connect only once they have collected; under -n the run
    used to end with exit 0 and "no tests ran"."""
    (pytester.path / "t.txt").write_text("127.0.0.1:9\n")
    result = pytester.runpytest_subprocess(
        "--spider-targets=t.txt", "--spider-connect=quic", "--spider-experiment=h2", "-n", "2"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --spider-connect=quic: not a mode of h2*"])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize(
    ("given", "lookahead"),
    [
        ([], 4 * 500),
        (["--spider-concurrency=50", "--spider-trials=3"], 4 * 50 * 3),
        (["--spider-concurrency=50", "--spider-lookahead=7"], 7),
        (["-o", "spider_lookahead=9"], 9),
    ],
)
def test_the_lookahead_follows_the_concurrency_and_trials_unless_given(
    pytester: pytest.Pytester, given: list[str], lookahead: int
) -> None:
    config = pytester.parseconfig("-p", "spider", *given)
    assert SpiderSettings.from_config(config).lookahead == lookahead
