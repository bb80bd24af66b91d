"""CI sessions: lint, and the test suite under the lowest and the newest pytest / pytest-xdist.

    nox                                  # lint, tests-lowest, tests-newest (scripts/test.sh)
    nox -s tests-lowest -- -k h2 -x      # arguments after ``--`` go to pytest

``tests-lowest`` installs pytest, pytest-xdist and pluggy at exactly the lower bounds that
pyproject.toml declares (read from it on every run, so the pins cannot drift from it);
``tests-newest`` installs the newest release of everything. Every session gets a fresh virtual
environment (uv's, for speed): nothing is reused from an earlier run. Both test sessions run
``python -m pytest -n 2`` and first print the versions they run with.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import nox
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

nox.needs_version = ">=2025.10.14"  # nox.options.download_python
nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "no"
nox.options.download_python = "never"
nox.options.error_on_external_run = True
nox.options.sessions = ["lint", "tests-lowest", "tests-newest"]

ROOT = Path(__file__).resolve().parent
#: Installed at exactly their declared lower bound by tests-lowest.
AT_LOWER_BOUND = ("pytest", "pytest-xdist", "pluggy", "greenlet")
#: Printed by the test sessions (execnet comes with pytest-xdist).
SHOWN = ("pytest", "pytest-xdist", "pluggy", "execnet", "greenlet")

#: Run in the session's interpreter: print the versions of the names in argv[1], and fail
#: unless each ``name==version`` in argv[2] is installed at exactly that version.
_VERSIONS = """
import sys
from importlib.metadata import version
from packaging.version import Version

shown, pins = sys.argv[1].split(","), [p.split("==") for p in sys.argv[2].split(",") if p]
print("running with: " + ", ".join(f"{n} {version(n)}" for n in shown), flush=True)
wrong = [f"{n}=={v} (found {version(n)})" for n, v in pins if Version(version(n)) != Version(v)]
sys.exit(f"not the pinned versions: {', '.join(wrong)}" if wrong else 0)
"""


def lower_bounds(
    pyproject: Path = ROOT / "pyproject.toml", names: tuple[str, ...] = AT_LOWER_BOUND
) -> dict[str, str]:
    """``{name: version}`` of each ``name>=version`` in pyproject's ``[project] dependencies``.

    Fails if one of ``names`` is not declared, or not with exactly one ``>=`` bound.
    """
    dependencies = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    bounds: dict[str, str] = {}
    for line in dependencies:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        if name not in names:
            continue
        lows = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        if len(lows) != 1:
            raise ValueError(f"pyproject.toml: {line!r} needs exactly one '>=' lower bound")
        bounds[name] = lows[0]
    missing = [name for name in names if name not in bounds]
    if missing:
        raise ValueError(f"pyproject.toml does not declare {', '.join(missing)}")
    return bounds


def session_file(session: nox.Session, name: str) -> Path:
    """A file in the session's fresh environment (not in ``session.create_tmp()``, which would
    also point the tests' TMPDIR into the checkout)."""
    return Path(session.virtualenv.location) / name


def run_tests(session: nox.Session, expected: dict[str, str] | None = None) -> None:
    """Print the versions (and check the pins), then run the suite."""
    script = session_file(session, "versions.py")
    script.write_text(_VERSIONS, encoding="utf-8")
    pins = ",".join(f"{name}=={version}" for name, version in (expected or {}).items())
    session.run("python", str(script), ",".join(SHOWN), pins)
    session.run("python", "-m", "pytest", "-n", "2", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and format) and mypy, with the newest releases the test extra allows."""
    session.install("-e", ".[test]", "nox")  # nox too: mypy checks this file
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session(name="tests-lowest")
def tests_lowest(session: nox.Session) -> None:
    """The suite with pytest, pytest-xdist and pluggy at pyproject's declared lower bounds."""
    bounds = lower_bounds()
    constraints = session_file(session, "lowest-constraints.txt")
    constraints.write_text("".join(f"{n}=={v}\n" for n, v in bounds.items()), encoding="utf-8")
    session.log(
        f"constraints from pyproject.toml: {', '.join(f'{n}=={v}' for n, v in bounds.items())}"
    )
    session.install("-c", str(constraints), "-e", ".[test]")
    run_tests(session, bounds)


@nox.session(name="tests-newest")
def tests_newest(session: nox.Session) -> None:
    """The suite with the newest release of everything."""
    session.install("--upgrade", "-e", ".[test]")
    run_tests(session)
