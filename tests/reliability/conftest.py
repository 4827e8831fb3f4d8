"""Reliability suite: the slow, full-size trials run only when asked for with ``-m slow``."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``@pytest.mark.slow`` tests unless the marker expression selects them."""
    if "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="full-size trial: run with `pytest tests/reliability -m slow`")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
