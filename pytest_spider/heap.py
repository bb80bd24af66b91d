"""The garbage collector in a campaign of 10^5 targets and more.

Almost everything a campaign makes lives to the end of the run: targets, cases, items, and the
reports pytest keeps for its summary. Python's cycle collector walks every live object again at
each full pass, and full passes come back each time the heap has grown by a quarter: at 100,000
targets the passes took 9.8 s of a 118 s run (timed with :data:`gc.callbacks`), 1.8 s of it
while pytest collected the items. So, in a campaign:

- nothing is collected while target lists are read and items collected (:func:`paused`): all
  that is made there lives on;
- once collected, one full pass, then :func:`gc.freeze` (:func:`settle`): what is alive then is
  never walked again;
- every :data:`REFREEZE_EVERY` finished items, :func:`gc.freeze` again (:class:`Refreezer`): the
  reports kept since then join the rest.

The same 100,000-target run then spent 5.8 s of 139 s in the collector (4.2 % of its time,
against 8.3 %; the machine ran slower that time). The price: a reference cycle
that was alive at a freeze and becomes garbage later is never collected (reference counting
still frees all else). A campaign makes few such cycles; the sequences in flight at a freeze
are the most that can stay.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

#: Finished items between two freezes: their kept reports are a few objects each, so the
#: collector's passes between two freezes stay short.
REFREEZE_EVERY = 10_000


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No cycle collection inside the block (as it was before, after it)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def settle() -> None:
    """Collect once, then keep the collector off everything alive now."""
    gc.collect()
    gc.freeze()


class Refreezer:
    """Freezes the heap again every :data:`REFREEZE_EVERY` finished items (a pytest plugin;
    the interval is read when it is made, so a conftest may set it first)."""

    def __init__(self) -> None:
        self.every = REFREEZE_EVERY
        self._finished = 0

    def pytest_runtest_logfinish(self) -> None:
        self._finished += 1
        if self._finished % self.every == 0:
            gc.freeze()
