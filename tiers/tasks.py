"""The nightly contribution run: the same service as `manage.py recompute_contribution`."""

import logging
from datetime import date

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from tiers.services.recompute import RunInProgress, contribution_recompute

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=60,
    retry_kwargs={"max_retries": 5},
    # Below the broker's visibility timeout, so Redis never hands a live run to a second worker.
    time_limit=settings.KAM_RECOMPUTE_TIME_LIMIT,
    soft_time_limit=settings.KAM_RECOMPUTE_TIME_LIMIT - 60,
)
def recompute_contribution_nightly(self, as_of: str | None = None) -> str:
    """Recompute for `as_of` (YYYY-MM-DD), by default today in the configured time zone."""
    day = date.fromisoformat(as_of) if as_of else timezone.localdate()
    try:
        summary = contribution_recompute(as_of=day)
    except RunInProgress as busy:
        logger.info("recompute_contribution_nightly %s: %s", day, busy)
        return str(busy)
    logger.info("recompute_contribution_nightly: %s", summary)
    return str(summary)
