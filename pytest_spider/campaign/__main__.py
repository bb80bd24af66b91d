"""``python -m pytest_spider.campaign report|diff`` (the same as ``python -m pytest_spider``)."""

import sys

from pytest_spider.campaign.cli import main

sys.exit(main())
