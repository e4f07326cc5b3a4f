"""The real-worker fixtures of tests/tiers/test_worker.py, lent to the reliability tests."""

from tests.tiers.test_worker import broker_url, workers  # noqa: F401 (fixtures)
