"""The cycle collector in a campaign (``heap``): paused while items are collected, kept off
what is alive once they are, and off the reports kept every so many items after that.

Campaigns run in a child process: a freeze would otherwise hold this process's objects too.
"""

from __future__ import annotations

import gc
import json

import pytest

from pytest_spider import heap
from tests.plugin.conftest import scripted_targets, write_targets

#: Notes, for each item collected, whether the collector was on, and for each finished item
#: (after the plugin's own hook) whether it was on and how many freezes there had been.
PROBE = """
import gc, json
import pytest
import pytest_spider.heap

pytest_spider.heap.REFREEZE_EVERY = 3
SEEN = {"collecting": [], "enabled": [], "freezes": []}
FREEZES = [0]
_freeze = gc.freeze

def _counted_freeze():
    FREEZES[0] += 1
    _freeze()

gc.freeze = _counted_freeze

def pytest_itemcollected(item):
    SEEN["collecting"].append(gc.isenabled())

@pytest.hookimpl(trylast=True)
def pytest_runtest_logfinish(nodeid, location):
    SEEN["enabled"].append(gc.isenabled())
    SEEN["freezes"].append(FREEZES[0])

def pytest_unconfigure(config):
    with open("heap.json", "w") as stream:
        json.dump(SEEN, stream)
"""


def test_a_campaign_collects_with_the_collector_paused_and_freezes_every_so_many_items(
    scripted: pytest.Pytester,
) -> None:
    scripted.makeconftest(PROBE)
    targets = write_targets(scripted.path / "t.ndjson", scripted_targets(*["ok,ok"] * 7))
    result = scripted.runpytest_subprocess(f"--spider-targets={targets}", "experiments/")
    result.assert_outcomes(passed=7)
    seen = json.loads((scripted.path / "heap.json").read_text())
    assert seen["collecting"] == [False] * 7
    assert seen["enabled"] == [True] * 7
    # Frozen once collected, then again after the 3rd and the 6th item.
    assert seen["freezes"] == [1, 1, 2, 2, 2, 3, 3]


def test_a_plain_test_run_leaves_the_collector_alone(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(PROBE)
    pytester.makepyfile("def test_one():\n    pass\n")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    seen = json.loads((pytester.path / "heap.json").read_text())
    assert seen == {"collecting": [True], "enabled": [True], "freezes": [0]}


@pytest.mark.parametrize("enabled", [True, False])
def test_the_pause_restores_the_collector_as_it_was(enabled: bool) -> None:
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        with heap.paused():
            assert not gc.isenabled()
        assert gc.isenabled() == enabled
        with pytest.raises(RuntimeError), heap.paused():
            raise RuntimeError("collection failed")
        assert gc.isenabled() == enabled
    finally:
        (gc.enable if was else gc.disable)()
