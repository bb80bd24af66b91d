"""What a wheel holds: every package of the plugin, not only what an editable install finds.

The editable install the suite runs under finds any package in the source tree, so a package
missing from ``pyproject.toml``'s explicit list goes unnoticed until someone installs a wheel
(``pytest_spider.distributed`` and ``pytest_spider.locate`` were missing once, and the plugin
then failed to import).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _listed() -> tuple[set[str], dict[str, str]]:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return set(setuptools["packages"]), dict(setuptools["package-dir"])


def _found(package: str, folder: Path) -> set[str]:
    """``package`` and every package below it, from the folders that hold an __init__.py."""
    return {
        ".".join((package, *init.parent.relative_to(folder).parts))
        for init in folder.rglob("__init__.py")
    }


def test_every_package_in_the_source_tree_is_listed_for_the_wheel() -> None:
    listed, folders = _listed()
    found = set().union(*(_found(package, ROOT / folder) for package, folder in folders.items()))
    assert sorted(found - listed) == []
    assert sorted(listed - found) == []
