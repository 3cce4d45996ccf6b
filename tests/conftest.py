"""Shared pytest configuration.

``pytest --update-golden`` rewrites the expected outputs of golden-file tests
(tests/diagnostics/*.golden) from what the code now produces; review the
diff as code.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite golden files (tests/diagnostics/*.golden) instead of comparing")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))
