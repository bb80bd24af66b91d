"""pytest fixture for the path lab: ``spider_lab``, one lab per test session (per xdist worker).

Use it by listing this module in ``pytest_plugins`` or importing ``spider_lab`` in a conftest.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

import pytest

from pytest_spider.lab.lab import Lab, lab_available
from pytest_spider.lab.profiles import PROFILES

#: The fixture's blocks: ``alive`` and ``dead``, and one block named after every other profile.
LAB_BLOCKS: Final = {
    "alive": "clean",
    "dead": "blackhole",
    **{name: name for name in PROFILES if name not in ("clean", "blackhole")},
}


@pytest.fixture(scope="session")
def spider_lab() -> Iterator[Lab]:
    """A running lab with nginx and the hostile servers; skips where no lab can be built.

    Its path profiles are those of :data:`LAB_BLOCKS`; a test that changes one with
    ``set_profile`` must set it back.
    """
    reason = lab_available()
    if reason is not None:
        pytest.skip(f"path lab unavailable: {reason}")
    with Lab(LAB_BLOCKS, servers=("nginx", "hostile"), v4_prefix=24) as lab:
        yield lab
