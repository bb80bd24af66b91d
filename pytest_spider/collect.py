"""Finding experiments and turning target x experiment into pytest items.

An experiment module yields one item per target for each experiment class it defines
(``experiments/h2.py::H2[198.19.0.5:443 example.com]``), built with
``pytest.Function.from_parent`` so fixtures, markers and plugins treat it like any test.
Plain test functions in the module that ask for spider fixtures are parametrized per
target, and each target's items are kept together so one measurement serves them all.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import inspect
import re
import sys
import weakref
from collections.abc import Callable, Hashable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_spider.spider import Spider, is_experiment
from pytest_spider.targets import Target

#: Entry-point group through which packages (this one included) offer experiments.
ENTRY_POINT_GROUP = "pytest_spider.experiments"

#: Fixtures whose request makes a test function run once per target.
SPIDER_FIXTURES = frozenset({"spider_target", "spider_flows", "spider_record"})

_EXPERIMENT_SOURCE = re.compile(r"^\s+connections\s*=", re.MULTILINE)


@dataclasses.dataclass(frozen=True, slots=True)
class Case:
    """One target x experiment: what an item measures, or why it is skipped unmeasured."""

    experiment: type[Spider]
    target: Target
    skip_reason: str | None = None
    #: Identity of the measurement, shared by every item of this target x experiment. Made
    #: once: the engine, the plan and the run order all hold it, 10^5 times over.
    key: Hashable = dataclasses.field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        key = (self.experiment.__module__, self.experiment.__qualname__, self.target.key)
        object.__setattr__(self, "key", key)


#: Per-item facts, set at collection (experiment items) or from the parametrization.
CASE_KEY = pytest.StashKey[Case]()
#: Marks the one item per case that writes the record (the experiment item).
RECORDS_KEY = pytest.StashKey[bool]()


def looks_like_experiment(path: Path) -> bool:
    """Cheap test before importing: the file defines ``connections`` and ``conn_`` functions."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return "def conn_" in text and bool(_EXPERIMENT_SOURCE.search(text))


def experiments_in(module: Any) -> list[type[Spider]]:
    """Experiment classes defined (not merely imported) in ``module``, in source order."""
    return [
        obj
        for obj in vars(module).values()
        if is_experiment(obj) and obj.__module__ == module.__name__
    ]


def load_entry_point(name: str) -> type[Spider]:
    """The experiment registered under ``name``; a usage error lists the known ones."""
    points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    for point in points:
        if point.name == name:
            obj = point.load()
            if not is_experiment(obj):
                raise pytest.UsageError(f"entry point {name!r} ({point.value}) is no experiment")
            return obj  # type: ignore[no-any-return]
    known = ", ".join(sorted(p.name for p in points)) or "none installed"
    raise pytest.UsageError(f"--spider-experiment: unknown experiment {name!r} (known: {known})")


def _experiment_item(spider_verdict: Callable[[], None]) -> None:
    """The body of every experiment item: pass, fail or skip on the record's conditions."""
    spider_verdict()


# Every experiment item carries the ``spider`` mark; one Mark object serves them all.
_experiment_item.pytestmark = [pytest.mark.spider.mark]  # type: ignore[attr-defined]


class SpiderModule(pytest.Module):
    """A module holding experiments: its items are target x experiment (and its tests)."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        from pytest_spider.session import SESSION_KEY

        spider = self.config.stash[SESSION_KEY]
        experiments = experiments_in(self.obj)
        spider.provide_conn_fixtures(experiments)
        others = list(super().collect())
        tests_by_case: dict[Hashable, list[pytest.Item]] = {}
        rest: list[pytest.Item | pytest.Collector] = []
        for node in others:
            case = _parametrized_case(node)
            if case is None:
                rest.append(node)
            else:
                assert isinstance(node, pytest.Item)
                node.stash[CASE_KEY] = case
                tests_by_case.setdefault(case.key, []).append(node)
        items: list[pytest.Item | pytest.Collector] = []
        for experiment in experiments:
            shared: Any = None
            for case in spider.cases(experiment):
                item = pytest.Function.from_parent(
                    self,
                    name=f"{experiment.__name__}[{case.target.label()}]",
                    callobj=_experiment_item,
                    originalname=experiment.__name__,
                    fixtureinfo=shared,
                )
                shared = fixture_info(item)
                item.stash[CASE_KEY] = case
                item.stash[RECORDS_KEY] = True
                for mark in getattr(experiment, "pytestmark", ()):
                    item.add_marker(mark)
                items.append(item)
                items.extend(tests_by_case.pop(case.key, ()))
        for leftover in tests_by_case.values():
            items.extend(leftover)
        return items + rest


#: Per experiment class (weakly: pytester and reloads bring new classes of the same name).
_LOCATIONS: weakref.WeakKeyDictionary[Any, tuple[str, int]] = weakref.WeakKeyDictionary()


def experiment_location(experiment: type[Spider]) -> tuple[str, int]:
    """Where ``experiment`` is defined: its file, and the line of its ``class`` statement
    (1-based; 0 where the source cannot be found). Found once per experiment."""
    found = _LOCATIONS.get(experiment)
    if found is None:
        path = inspect.getsourcefile(experiment) or experiment.__module__
        try:
            found = path, inspect.getsourcelines(experiment)[1]
        except (OSError, TypeError):
            found = path, 0
        _LOCATIONS[experiment] = found
    return found


def fixture_info(item: pytest.Function) -> Any:
    """The item's fixture closure, to share with its experiment's other items.

    They all run the same function with the same fixtures, so one closure serves them all,
    as pytest shares one between the items of a parametrized test; computing and keeping
    one per item is a tenth of a campaign's memory. ``_fixtureinfo`` is private:
    ``tests/test_private_interfaces.py`` pins it.
    """
    return item._fixtureinfo


def _parametrized_case(node: pytest.Item | pytest.Collector) -> Case | None:
    callspec = getattr(node, "callspec", None)
    if callspec is None:
        return None
    case = callspec.params.get("spider_case")
    return case if isinstance(case, Case) else None


def parametrize_tests(metafunc: pytest.Metafunc) -> None:
    """Run a test function of an experiment module once per target of its experiments."""
    if SPIDER_FIXTURES.isdisjoint(metafunc.fixturenames):
        return
    if not isinstance(metafunc.definition.parent, SpiderModule):
        return
    from pytest_spider.session import SESSION_KEY

    spider = metafunc.config.stash[SESSION_KEY]
    experiments = experiments_in(metafunc.module)
    cases = [case for exp in experiments for case in spider.cases(exp)]
    several = len(experiments) > 1
    ids = [
        f"{c.experiment.__name__} {c.target.label()}" if several else c.target.label()
        for c in cases
    ]
    metafunc.parametrize("spider_case", cases, ids=ids, indirect=True)


def module_for_experiment(experiment: type[Spider]) -> Path:
    """The file that defines an installed experiment, to collect it like a path argument."""
    module = sys.modules[experiment.__module__]
    if module.__file__ is None:
        raise pytest.UsageError(f"experiment {experiment.__name__} has no source file")
    return Path(module.__file__)


def entry_point_modules(session: pytest.Session, names: tuple[str, ...]) -> Iterator[SpiderModule]:
    """Collectors for ``--spider-experiment`` names, with node ids like a checkout's."""
    seen: set[Path] = set()
    for name in names:
        experiment = load_entry_point(name)
        path = module_for_experiment(experiment)
        if path not in seen:
            seen.add(path)
            nodeid = experiment.__module__.replace(".", "/") + ".py"
            yield SpiderModule.from_parent(session, path=path, nodeid=nodeid)
