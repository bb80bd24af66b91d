"""Finding experiments and turning target x experiment into pytest items.

An experiment class becomes a function that pytest itself parametrizes, one item per target
(``experiments/h2.py::H2[198.19.0.5:443 example.com]``): pytest's own parametrization builds
the node ids, the fixture closure (one for all of an experiment's items), the marks (the
class's, plus ``spider``) and the location (the class's file and line), on every supported
pytest. Plain test functions in an experiment module that ask for spider fixtures are
parametrized per target too, and each target's items are kept together so one measurement
serves them all.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.metadata
import inspect
import sys
import weakref
from collections.abc import Callable, Hashable, Iterator, Sequence
from pathlib import Path
from types import ModuleType

import pytest

from pytest_spider.cases import (
    CASEBOOK_KEY,
    EXPERIMENT_PARAM,
    TEST_PARAM,
    Case,
    case_of,
    is_experiment_item,
)
from pytest_spider.fixtures import SPIDER_FIXTURES, provide_conn_fixtures
from pytest_spider.protocol import TESTS_BESIDE
from pytest_spider.spider import Spider, is_experiment

#: Entry-point group through which packages (this one included) offer experiments.
ENTRY_POINT_GROUP = "pytest_spider.experiments"

#: Every experiment item carries the ``spider`` mark.
SPIDER_MARK = pytest.mark.spider.mark


def looks_like_experiment(path: Path) -> bool:
    """Without importing it: the file defines a class that sets ``connections`` in its body
    (whatever its connection functions are called). A file that does not parse but seems to
    counts too, so that its import error is reported rather than the file ignored."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    if "connections" not in text:
        return False
    try:
        tree = ast.parse(text, filename=str(path))
    except (SyntaxError, ValueError):
        return True
    return any(
        isinstance(node, ast.ClassDef) and any(_sets_connections(s) for s in node.body)
        for node in tree.body
    )


def _sets_connections(statement: ast.stmt) -> bool:
    if isinstance(statement, ast.Assign):
        targets = statement.targets
    elif isinstance(statement, ast.AnnAssign):
        targets = [statement.target]
    else:
        return False
    return any(isinstance(t, ast.Name) and t.id == "connections" for t in targets)


def experiments_in(module: ModuleType) -> list[type[Spider]]:
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
            return obj
    known = ", ".join(sorted(p.name for p in points)) or "none installed"
    raise pytest.UsageError(f"--spider-experiment: unknown experiment {name!r} (known: {known})")


class SpiderModule(pytest.Module):
    """A module holding experiments: its items are target x experiment (and its tests)."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        provide_conn_fixtures(self.config, experiments_in(self.obj))
        experiment_items: list[pytest.Item] = []
        tests_by_case: dict[Hashable, list[pytest.Item]] = {}
        rest: list[pytest.Item | pytest.Collector] = []
        for node in super().collect():
            case = case_of(node) if isinstance(node, pytest.Item) else None
            if case is None or not isinstance(node, pytest.Item):
                rest.append(node)
            elif is_experiment_item(node):
                experiment_items.append(node)
            else:
                tests_by_case.setdefault(case.key, []).append(node)
        # Experiments with tests beside them run under pytest's full protocol (``protocol``).
        self.stash[TESTS_BESIDE] = bool(tests_by_case)
        items: list[pytest.Item | pytest.Collector] = []
        for item in experiment_items:
            case = case_of(item)
            assert case is not None
            items.append(item)
            items.extend(tests_by_case.pop(case.key, ()))
        for leftover in tests_by_case.values():
            items.extend(leftover)
        return items + rest


#: The function pytest parametrizes for each experiment class, and back.
_FUNCTIONS: weakref.WeakKeyDictionary[type[Spider], Callable[..., None]] = (
    weakref.WeakKeyDictionary()
)
_EXPERIMENTS: weakref.WeakKeyDictionary[Callable[..., None], type[Spider]] = (
    weakref.WeakKeyDictionary()
)


def experiment_function(experiment: type[Spider]) -> Callable[..., None]:
    """The test function of ``experiment``'s items: it asks for the verdict and applies it.

    It takes the class's name (the items' base name), marks (``usefixtures`` included) and
    location, and ``__test__`` so that pytest collects it under a name that is not ``test_*``.
    The location is that of its code object, which says the class's file and line: pytest
    reads an item's location from there, once per item, and cheaply (pointing it at the class
    itself made pytest parse the module's source again for every item).
    """
    function = _FUNCTIONS.get(experiment)
    if function is None:

        def function(spider_verdict: Callable[[], None]) -> None:
            spider_verdict()

        function.__name__ = experiment.__name__
        function.__qualname__ = experiment.__qualname__
        function.__module__ = experiment.__module__
        function.__doc__ = experiment.__doc__
        function.__test__ = True  # type: ignore[attr-defined]
        path, line = _class_location(experiment)
        function.__code__ = function.__code__.replace(co_filename=path, co_firstlineno=line)
        function.pytestmark = [SPIDER_MARK, *_class_marks(experiment)]  # type: ignore[attr-defined]
        _FUNCTIONS[experiment] = function
        _EXPERIMENTS[function] = experiment
    return function


def _class_location(experiment: type[Spider]) -> tuple[str, int]:
    """The file and (1-based) line of ``experiment``'s ``class`` statement."""
    try:
        path = inspect.getsourcefile(experiment) or inspect.getfile(experiment)
        return path, inspect.getsourcelines(experiment)[1]
    except (OSError, TypeError):
        return sys.modules[experiment.__module__].__file__ or experiment.__module__, 1


def _class_marks(experiment: type[Spider]) -> list[pytest.Mark]:
    raw = getattr(experiment, "pytestmark", [])
    marks = raw if isinstance(raw, list) else [raw]
    return [
        mark.mark if isinstance(mark, pytest.MarkDecorator) else mark
        for mark in marks
        if isinstance(mark, pytest.Mark | pytest.MarkDecorator)
    ]


def make_experiment_items(
    collector: pytest.Collector, name: str, obj: object
) -> list[pytest.Item] | None:
    """``pytest_pycollect_makeitem`` for an experiment class in an experiment module: its
    items, made by pytest's own collection of :func:`experiment_function` (None: not ours)."""
    if not isinstance(collector, SpiderModule) or not is_experiment(obj):
        return None
    module = collector.obj
    book = collector.config.stash[CASEBOOK_KEY]
    if obj.__module__ != module.__name__:
        return []  # imported from elsewhere
    if not book.cases(obj):
        return []  # nothing to measure in this process
    function = experiment_function(obj)
    # pytest finds an item's function under its name in the module, where the class is: the
    # function stands in for the class while pytest builds the items.
    with _standing_in(module, name, function):
        made = collector.ihook.pytest_pycollect_makeitem(
            collector=collector, name=name, obj=function
        )
    made = made if isinstance(made, list) else [made] if made is not None else []
    items: list[pytest.Item] = []
    for item in made:
        assert isinstance(item, pytest.Function)
        item.obj = function
        items.append(item)
    return items


@contextlib.contextmanager
def _standing_in(module: ModuleType, name: str, stand_in: object) -> Iterator[None]:
    original = getattr(module, name)
    setattr(module, name, stand_in)
    try:
        yield
    finally:
        setattr(module, name, original)


def parametrize(metafunc: pytest.Metafunc) -> None:
    """``pytest_generate_tests``: an experiment's function runs once per target; so does a test
    function of an experiment module that asks for spider fixtures (per target of each of the
    module's experiments)."""
    book = metafunc.config.stash.get(CASEBOOK_KEY, None)
    if book is None:
        return
    experiment = _EXPERIMENTS.get(metafunc.function)
    if experiment is not None:
        cases = book.cases(experiment)
        metafunc.parametrize(EXPERIMENT_PARAM, cases, ids=_ids(cases, False), indirect=True)
        return
    if SPIDER_FIXTURES.isdisjoint(metafunc.fixturenames):
        return
    if not isinstance(metafunc.definition.parent, SpiderModule):
        return
    experiments = experiments_in(metafunc.module)
    cases = [case for experiment in experiments for case in book.cases(experiment)]
    metafunc.parametrize(TEST_PARAM, cases, ids=_ids(cases, len(experiments) > 1), indirect=True)


def _ids(cases: Sequence[Case], named: bool) -> list[str]:
    if named:
        return [f"{case.experiment.__name__} {case.target.label()}" for case in cases]
    return [case.target.label() for case in cases]


def module_for_experiment(experiment: type[Spider]) -> Path:
    """The file that defines an installed experiment, to collect it like a path argument."""
    module = sys.modules[experiment.__module__]
    if module.__file__ is None:
        raise pytest.UsageError(f"experiment {experiment.__name__} has no source file")
    return Path(module.__file__).resolve()


def entry_point_modules(session: pytest.Session, names: Sequence[str]) -> Iterator[SpiderModule]:
    """Collectors for ``--spider-experiment`` names, except those the arguments collect anyway.

    Their node ids are what the file's path gives, as if it had been named on the command
    line (relative to the rootdir; absolute outside it), so a printed id can be pasted back.
    """
    config = session.config
    named = _argument_paths(config) if config.args_source == pytest.Config.ArgsSource.ARGS else []
    seen: set[Path] = set()
    for name in names:
        path = module_for_experiment(load_entry_point(name))
        if path in seen or any(path == arg or arg in path.parents for arg in named):
            continue
        seen.add(path)
        nodeid = None if path.is_relative_to(config.rootpath) else path.as_posix()
        yield SpiderModule.from_parent(session, path=path, nodeid=nodeid)


def _argument_paths(config: pytest.Config) -> list[Path]:
    """The files and folders the command line names (node ids cut to their path)."""
    base = config.invocation_params.dir
    return [(base / arg.split("::", 1)[0]).resolve() for arg in config.args]
