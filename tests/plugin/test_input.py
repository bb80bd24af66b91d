"""Target input through the plugin: bad lines, exclusions, duplicates, ini settings."""

from __future__ import annotations

import pytest

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
