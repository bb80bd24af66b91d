"""The run's inputs, read and checked once at configure time: a frozen view for every process.

Target lists, exclusion lists, the baseline campaign and (with ``--spider-resume``) what the
output already records. Bad input is a usage error here, before anything is measured. The
targets themselves are handed on to the :class:`~pytest_spider.cases.CaseBook`, which lets
them go once the items exist; what stays is :class:`InputFacts`, for the summary.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import sys
from collections.abc import Mapping

import pytest

from pytest_spider import schema
from pytest_spider.campaign.compare import Baseline, load_baseline
from pytest_spider.campaign.load import RecordFileError
from pytest_spider.campaign.report import REPORT_EXTRA
from pytest_spider.exclude import ExclusionFileError, ExclusionList
from pytest_spider.options import SpiderSettings
from pytest_spider.resume import recorded
from pytest_spider.targets import BadLine, Target, TargetFileError, load_targets

#: How many bad target lines a usage error (and the summary) lists before it just counts.
BAD_LINES_SHOWN = 20

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

    @property
    def measuring(self) -> bool:
        """Targets were given: this run measures (unless it only collects)."""
        return self.settings.active


def load_inputs(
    settings: SpiderSettings, vantage: str, stdin_text: str | None, writes: bool
) -> tuple[Inputs, list[Target]]:
    """Read every input ``settings`` names; ``writes``: this process owns the output (it may
    repair a torn last line for ``--spider-resume``). Bad input raises :class:`pytest.UsageError`.
    """
    try:
        stdin = io.StringIO(stdin_text) if stdin_text is not None else sys.stdin
        targets = load_targets(settings.targets, stdin)
        exclusions = tuple(ExclusionList.load(path) for path in settings.exclude)
    except (TargetFileError, ExclusionFileError, OSError) as exc:
        raise pytest.UsageError(str(exc)) from None
    bad = targets.bad
    if bad and not settings.keep_bad_targets:
        shown = "\n".join(f"  {line}" for line in bad[:BAD_LINES_SHOWN])
        more = len(bad) - BAD_LINES_SHOWN
        tail = f"\n  ... and {more} more" if more > 0 else ""
        raise pytest.UsageError(
            f"{len(bad)} bad target line(s); nothing was measured "
            f"(--spider-keep-bad-targets measures the rest):\n{shown}{tail}"
        )
    done: set[schema.Key] = set()
    if settings.resume:
        if not settings.output:
            raise pytest.UsageError("--spider-resume needs --spider-output (the campaign file)")
        done = recorded(settings.output, repair=writes)
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
        bad_shown=tuple(bad[:BAD_LINES_SHOWN]),
        bad=len(bad),
        formats=dict(targets.formats),
    )
    inputs = Inputs(settings, vantage, facts, exclusions, baseline, frozenset(done))
    return inputs, targets.targets


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
        return sys.stdin.read()
    capture.suspend_global_capture(in_=True)
    try:
        return sys.stdin.read()
    finally:
        capture.resume_global_capture()
