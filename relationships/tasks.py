"""The daily follow-up job: the same service as `manage.py generate_follow_ups`."""

import logging
from datetime import date

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from relationships.services import account_health_refresh, follow_ups_generate

logger = logging.getLogger(__name__)


@shared_task(
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=60,
    retry_kwargs={"max_retries": 5},
)
def generate_follow_ups_daily(day: str | None = None) -> str:
    """Create the follow-ups due from cadence, birthdays and holidays for `day` (YYYY-MM-DD),
    by default today in the configured time zone. Idempotent for the same day."""
    today = date.fromisoformat(day) if day else timezone.localdate()
    summary = follow_ups_generate(today=today)
    logger.info("generate_follow_ups_daily: %s", summary)
    return str(summary)


@shared_task(
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=60,
    retry_kwargs={"max_retries": 5},
)
def refresh_account_health_daily(day: str | None = None) -> str:
    """Replace the account-health snapshot as of `day` (default today)."""
    today = date.fromisoformat(day) if day else timezone.localdate()
    summary = account_health_refresh(as_of=today)
    logger.info("refresh_account_health_daily: %s", summary)
    return str(summary)
