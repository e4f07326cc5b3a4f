"""Early warnings for an account (SPEC §4, "Health"). Pure: no ORM, no settings.

- declining: revenue over the window fell more than 20 % against the window before it;
- volatile: the coefficient of variation of the last 12 complete months' revenue is above 1;
- paying late: receivables invoiced in the window were paid on average more than 30 days
  late (amount-weighted, as in SPEC §3; unpaid ones count up to the as-of date).
"""

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.utils.translation import gettext as _

DECLINING = "declining"
VOLATILE = "volatile"
PAYING_LATE = "paying_late"


@dataclass(frozen=True)
class HealthThresholds:
    decline_growth: Decimal = Decimal("-0.20")
    volatility_cv: Decimal = Decimal("1")
    late_days: Decimal = Decimal("30")


@dataclass(frozen=True)
class HealthFlag:
    code: str
    measured: Decimal
    threshold: Decimal

    def text(self) -> str:
        if self.code == DECLINING:
            return _("declining: revenue %(growth)s %% against the previous window") % {
                "growth": _pct(self.measured)
            }
        if self.code == VOLATILE:
            return _("volatile: monthly revenue varies %(cv)s × its average") % {
                "cv": self.measured.quantize(Decimal("0.01"), ROUND_HALF_UP)
            }
        return _("paying late: %(days)s days late on average") % {
            "days": self.measured.quantize(Decimal("1"), ROUND_HALF_UP)
        }


@dataclass(frozen=True)
class Health:
    revenue: Decimal
    previous_revenue: Decimal
    growth: Decimal | None
    volatility: Decimal | None
    avg_days_late: Decimal | None
    flags: tuple[HealthFlag, ...] = field(default=())

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(flag.code for flag in self.flags)


def _pct(ratio: Decimal) -> str:
    value = (ratio * 100).quantize(Decimal("0.1"), ROUND_HALF_UP)
    return f"+{value}" if value > 0 else str(value)


def health_assess(
    *,
    revenue: Decimal,
    previous_revenue: Decimal,
    monthly_revenue: Sequence[Decimal],
    avg_days_late: Decimal | None,
    thresholds: HealthThresholds = HealthThresholds(),
) -> Health:
    growth = None
    if previous_revenue > 0:
        growth = (revenue - previous_revenue) / previous_revenue
    volatility = None
    months = [Decimal(m) for m in monthly_revenue]
    if months:
        mean = sum(months) / len(months)
        if mean > 0:
            volatility = statistics.pstdev(months) / mean
    flags = []
    if growth is not None and growth < thresholds.decline_growth:
        flags.append(HealthFlag(DECLINING, growth, thresholds.decline_growth))
    if volatility is not None and volatility > thresholds.volatility_cv:
        flags.append(HealthFlag(VOLATILE, volatility, thresholds.volatility_cv))
    if avg_days_late is not None and avg_days_late > thresholds.late_days:
        flags.append(HealthFlag(PAYING_LATE, avg_days_late, thresholds.late_days))
    return Health(
        revenue=revenue,
        previous_revenue=previous_revenue,
        growth=growth,
        volatility=volatility,
        avg_days_late=avg_days_late,
        flags=tuple(flags),
    )
