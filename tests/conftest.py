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


# --------------------------------------------------------------------------
# Spark (issue 16): one local SparkSession for every test marked `spark`
# (starting one costs 10-20 s). Without pyspark or Java those tests skip,
# unless CAMPAIGN_REQUIRE_SPARK=1 (.ci/run sets it), where they fail.


@pytest.fixture(scope="session")
def spark_session():  # type: ignore[no-untyped-def]
    import os

    try:
        from campaignlang.sets.spark import SparkUnavailable, session
    except ImportError as exc:   # the sets extra is missing
        if os.environ.get("CAMPAIGN_REQUIRE_SPARK") == "1":
            pytest.fail(f"CAMPAIGN_REQUIRE_SPARK=1 but {exc}")
        pytest.skip(str(exc))
    try:
        spark = session("local[2]", {"spark.sql.shuffle.partitions": "2", "spark.ui.enabled": "false",
                                     "spark.driver.memory": "2g"}, app_name="campaignlang-tests")
    except SparkUnavailable as exc:
        if os.environ.get("CAMPAIGN_REQUIRE_SPARK") == "1":
            pytest.fail(f"CAMPAIGN_REQUIRE_SPARK=1 but {exc}")
        pytest.skip(str(exc))
    yield spark
    spark.stop()


@pytest.fixture(autouse=True, scope="module")
def _spark_for_marked_modules(request: pytest.FixtureRequest) -> None:
    """A module with a test marked `spark` starts the one session above
    before its own module fixtures (autouse comes first in its scope), so a
    backend that builds itself (``SparkBackend()``) takes that session, and
    never one of its own that its close would stop under later tests."""
    module = request.node
    for item in request.session.items:
        if item.get_closest_marker("spark") is not None and item.module is getattr(module, "obj", None):
            request.getfixturevalue("spark_session")
            return


@pytest.fixture(autouse=True)
def _spark_for_marked_tests(request: pytest.FixtureRequest) -> None:
    """Every test marked `spark` runs with the one session above."""
    if request.node.get_closest_marker("spark") is not None:
        request.getfixturevalue("spark_session")
