"""The run's inputs, read and checked once at configure time: a frozen view for every process.

Target lists, exclusion lists, the baseline campaign and (with ``--spider-resume``) what the
output already records and how the campaign was measured. Bad input is a usage error here,
before anything is measured or any file is changed: so is one file named for two roles (the
output and a target list, say), and a resume with options that would make its records
incomparable with the campaign's (:data:`COMPARABLE_OPTIONS`). The
targets themselves are handed on to the :class:`~pytest_spider.cases.CaseBook`, which lets
them go once the items exist; what stays is :class:`InputFacts`, for the summary.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

import pytest

from pytest_spider import schema
from pytest_spider.campaign import REPORT_EXTRA
from pytest_spider.campaign.compare import Baseline, load_baseline
from pytest_spider.campaign.load import RecordFileError, read_metadata
from pytest_spider.exclude import ExclusionFileError, ExclusionList
from pytest_spider.helpers.dns import parse_server
from pytest_spider.options import SpiderSettings
from pytest_spider.record import to_builtin
from pytest_spider.resume import ResumeError, read_recorded, repair
from pytest_spider.targets import BadLine, Target, TargetFileError, load_targets

#: How many bad target lines a usage error (and the summary) lists before it just counts.
BAD_LINES_SHOWN = 20

#: The options that decide what a campaign's records mean: how targets are connected to
#: (connection mode, timeout, certificate checks, body kept, DNS server, DSCP codepoint), how
#: often (trials: their conditions are super-conditions) and how conditions become outcomes
#: (fail and skip globs). A resumed session must use the campaign's values.
#: How fast or in which order it measures (concurrency, rate, lookahead, xdist), its target
#: lists and exclusions (batches differ by design), vantage (part of each record's key) and
#: where its files go do not change what a record says, and may differ.
COMPARABLE_OPTIONS = (
    "connect",
    "timeout",
    "tls_verify",
    "max_body",
    "dns_server",
    "trials",
    "codepoint",
    "fail_on",
    "skip_on",
)

INPUTS_KEY = pytest.StashKey["Inputs"]()


@dataclasses.dataclass(frozen=True)
class InputFacts:
    """What the summary and the campaign metadata say about the input."""

    targets: int = 0
    duplicates: int = 0
    #: The first :data:`BAD_LINES_SHOWN` bad lines, and how many there were.
    bad_shown: tuple[BadLine, ...] = ()
    bad: int = 0
    #: File -> detected format.
    formats: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Inputs:
    """One run's checked inputs (the same in every process of an xdist run)."""

    settings: SpiderSettings
    #: Where this process measures from, written into every record.
    vantage: str
    facts: InputFacts = InputFacts()
    exclusions: tuple[ExclusionList, ...] = ()
    #: The campaign to gate against (``--spider-baseline``).
    baseline: Baseline | None = None
    #: Keys the output already holds records of (``--spider-resume``).
    recorded: frozenset[schema.Key] = frozenset()
    #: The resumed campaign's earlier sessions (its metadata), oldest first.
    sessions: tuple[Mapping[str, Any], ...] = ()
    #: The experiments the resumed campaign measured (None: not known).
    campaign_experiments: frozenset[str] | None = None

    @property
    def measuring(self) -> bool:
        """Targets were given: this run measures (unless it only collects)."""
        return self.settings.active

    def check_experiments(self, names: Iterable[str]) -> None:
        """Refuse to resume a campaign with other experiments than it measured (called once
        the run's experiments are collected)."""
        known = self.campaign_experiments
        now = frozenset(names)
        if known is None or not now or now == known:
            return
        raise pytest.UsageError(
            f"--spider-resume: {self.settings.output} holds a campaign of "
            f"{_listed(known)}, this run measures {_listed(now)}; a campaign's sessions measure "
            "the same experiments (start a new --spider-output for others)"
        )


def load_inputs(
    settings: SpiderSettings, vantage: str, stdin_text: str | None, writes: bool
) -> tuple[Inputs, list[Target]]:
    """Read every input ``settings`` names; ``writes``: this process owns the output (it may
    repair a torn last line for ``--spider-resume``). Bad input raises :class:`pytest.UsageError`.
    """
    check_roles(settings)
    try:
        stdin = io.StringIO(stdin_text) if stdin_text is not None else sys.stdin
        targets = load_targets(settings.targets, stdin, keep_bad=BAD_LINES_SHOWN)
        exclusions = tuple(ExclusionList.load(path) for path in settings.exclude)
    except (TargetFileError, ExclusionFileError, OSError) as exc:
        raise pytest.UsageError(str(exc)) from None
    bad, bad_count = targets.bad[:BAD_LINES_SHOWN], targets.bad_count
    if bad_count and not settings.keep_bad_targets:
        shown = "\n".join(f"  {line}" for line in bad)
        more = bad_count - len(bad)
        tail = f"\n  ... and {more} more" if more > 0 else ""
        raise pytest.UsageError(
            f"{bad_count} bad target line(s); nothing was measured "
            f"(--spider-keep-bad-targets measures the rest):\n{shown}{tail}"
        )
    _check_dns_server(settings, exclusions)
    done: set[schema.Key] = set()
    sessions: tuple[Mapping[str, Any], ...] = ()
    experiments: frozenset[str] | None = None
    if settings.resume:
        if not settings.output:
            raise pytest.UsageError("--spider-resume needs --spider-output (the campaign file)")
        done, sessions, experiments = _resume(settings, writes)
    if settings.report and not settings.output:
        raise pytest.UsageError("--spider-report needs --spider-output (the records it reads)")
    if settings.report and not _importable("matplotlib"):
        raise pytest.UsageError(f"--spider-report needs matplotlib: {REPORT_EXTRA}")
    baseline = None
    if settings.baseline:
        try:
            baseline = load_baseline(settings.baseline)
        except (RecordFileError, OSError) as exc:
            raise pytest.UsageError(f"--spider-baseline: {exc}") from None
    facts = InputFacts(
        targets=len(targets.targets),
        duplicates=targets.duplicates,
        bad_shown=tuple(bad),
        bad=bad_count,
        formats=dict(targets.formats),
    )
    inputs = Inputs(
        settings, vantage, facts, exclusions, baseline, frozenset(done), sessions, experiments
    )
    return inputs, targets.targets


def check_roles(settings: SpiderSettings) -> None:
    """Refuse one file named for two roles of which one is written (the output, its metadata,
    the report): it would overwrite a target list, a baseline, or the records themselves.
    Paths are compared resolved (through symbolic links), and as files where both exist."""
    written = []
    if settings.output:
        written.append(("--spider-output", settings.output))
        written.append(
            ("--spider-metadata", schema.metadata_path(settings.output, settings.metadata))
        )
    if settings.report:
        written.append(("--spider-report", settings.report))
    read = [("--spider-targets", path) for path in settings.targets if path != "-"]
    read += [("--spider-exclude", path) for path in settings.exclude]
    read += [(flag, path) for flag, path in (("--spider-baseline", settings.baseline),) if path]
    read += [("--spider-ca-file", settings.ca_file)] if settings.ca_file else []
    for number, (flag, path) in enumerate(written):
        for other_flag, other in [*written[:number], *read]:
            if _same_file(path, other):
                shown = path if path == other else f"{path} = {other}"
                raise pytest.UsageError(
                    f"{flag} and {other_flag} name the same file ({shown}); refusing to "
                    "overwrite it: give each role its own file"
                )


def _same_file(one: str, other: str) -> bool:
    if os.path.realpath(one) == os.path.realpath(other):
        return True
    try:
        return os.path.samefile(one, other)
    except OSError:
        return False


def _resume(
    settings: SpiderSettings, writes: bool
) -> tuple[set[schema.Key], tuple[Mapping[str, Any], ...], frozenset[str] | None]:
    """What the output holds, its campaign's sessions and experiments; refuses a damaged
    output and other options before anything is changed, then (``writes``) mends a torn line."""
    assert settings.output is not None
    output = settings.output
    metadata = schema.metadata_path(output, settings.metadata)
    try:
        found = read_recorded(output)
        # An output written before the metadata moved to its own file holds it in lines; once
        # resumed, its metadata file holds those sessions too.
        sessions: list[Mapping[str, Any]] = list(found.legacy_sessions)
        if os.path.exists(output) and os.path.exists(metadata):
            sessions = list(read_metadata(metadata))
    except ResumeError as exc:
        raise pytest.UsageError(
            f"--spider-resume: {exc}; only a torn last line is cut, so nothing was changed: "
            "mend or remove that line"
        ) from None
    except (RecordFileError, OSError) as exc:
        raise pytest.UsageError(f"--spider-resume: {exc}") from None
    _check_options(settings, sessions)
    if writes:
        try:
            repair(output, found)
        except OSError as exc:
            raise pytest.UsageError(f"--spider-resume: {output}: {exc.strerror}") from None
    names: set[str] = set()
    for session in sessions:
        listed = session.get("experiments")
        if isinstance(listed, list):
            names.update(str(name) for name in listed)
    names.update(key.experiment for key in found.keys)
    return found.keys, tuple(sessions), frozenset(names) if names else None


def _check_options(settings: SpiderSettings, sessions: Iterable[Mapping[str, Any]]) -> None:
    """Refuse a resume whose :data:`COMPARABLE_OPTIONS` differ from the campaign's first
    session's (each later session was held to them too)."""
    first = next((s["options"] for s in sessions if isinstance(s.get("options"), dict)), None)
    if first is None:
        return
    differ = []
    for name in COMPARABLE_OPTIONS:
        if name not in first:
            continue
        then, now = first[name], to_builtin(getattr(settings, name))
        if then != now:
            differ.append(f"--spider-{name.replace('_', '-')} {_shown(then)}, now {_shown(now)}")
    if differ:
        raise pytest.UsageError(
            f"--spider-resume: {settings.output} was measured with other options: "
            f"{'; '.join(differ)} (resume with the campaign's options, or start a new "
            "--spider-output)"
        )


def _shown(value: Any) -> str:
    if value is None:
        return "(not given)"
    if isinstance(value, list):
        return " ".join(str(v) for v in value) or "(none)"
    return str(value)


def _listed(names: Iterable[str]) -> str:
    return ", ".join(sorted(names))


def _check_dns_server(settings: SpiderSettings, exclusions: Sequence[ExclusionList]) -> None:
    """``--spider-dns-server`` inside an excluded network is refused: no query goes there."""
    if not settings.dns_server:
        return
    address, _ = parse_server(settings.dns_server)  # checked by SpiderSettings already
    for exclusion in exclusions:
        entry = exclusion.match(address)
        if entry is not None:
            raise pytest.UsageError(
                f"--spider-dns-server={settings.dns_server} is excluded by {entry}: "
                "no query is sent there"
            )


def _importable(name: str) -> bool:
    """``name`` can be imported (found without importing it: matplotlib takes a while)."""
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False


def read_stdin(config: pytest.Config) -> str:
    """Read the real stdin: pytest's output capturing stands in for it by now."""
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        return _read_text(sys.stdin)
    capture.suspend_global_capture(in_=True)
    try:
        return _read_text(sys.stdin)
    finally:
        capture.resume_global_capture()


def _read_text(stream: TextIO) -> str:
    """A text stream's bytes as UTF-8, each byte that is not kept (``surrogateescape``): the
    target loader then reports such a line as a bad line, with its number."""
    buffer = getattr(stream, "buffer", None)
    if buffer is None:
        return stream.read()
    data: bytes = buffer.read()
    return data.decode("utf-8", "surrogateescape")
