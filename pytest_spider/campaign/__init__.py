"""Campaign files after the run: the baseline comparison, the offline diff and the HTML report.

The plugin imports the comparison from here; the report (which needs matplotlib) lives in
:mod:`pytest_spider.campaign.report` and is imported only when a report is asked for.
"""

from pytest_spider.campaign.compare import (
    DEFAULT_FAIL_GLOBS,
    Baseline,
    Comparison,
    compare,
    load_baseline,
)
from pytest_spider.campaign.load import RecordFileError, RecordStream
from pytest_spider.schema import Key, key_of

#: How to get what the HTML report needs (matplotlib, the ``report`` extra).
REPORT_EXTRA = "pip install 'pytest-spider[report]'"

__all__ = [
    "DEFAULT_FAIL_GLOBS",
    "REPORT_EXTRA",
    "Baseline",
    "Comparison",
    "Key",
    "RecordFileError",
    "RecordStream",
    "compare",
    "key_of",
    "load_baseline",
]
