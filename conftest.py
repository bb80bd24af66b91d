"""Project-wide test configuration: pytester for running pytest-spider inside tests."""

pytest_plugins = ["pytester"]
