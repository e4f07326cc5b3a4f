"""Fake big customers (假大客户, SPEC §3) — pure: no ORM, no settings.

`decide_tiers` turns one row per customer into the final tier and, for every rule that
fired, a machine-readable reason with the measured value and the threshold. Threshold
comparisons are exact (integers and fractions); the floats in reasons are for display.
"""

from dataclasses import dataclass
from fractions import Fraction

import pandas as pd

RULE_ONE_OFF = "one_off"
RULE_LOW_MARGIN = "low_margin"
RULE_SQUEEZER = "squeezer"


@dataclass(frozen=True)
class Policy:
    """What the pure functions need of a TierPolicy version."""

    window_days: int = 365
    a_cutoff: Fraction = Fraction(4, 5)
    b_cutoff: Fraction = Fraction(19, 20)
    one_off_lookback_days: int = 730
    one_off_max_months: int = 1
    one_off_cap: str = "C"
    low_margin_ratio: Fraction = Fraction(1, 2)
    low_margin_cap: str = "B"
    squeezer_discount_rate: Fraction = Fraction(3, 20)
    squeezer_return_rate: Fraction = Fraction(1, 10)
    squeezer_days_late: int = 60
    squeezer_cap: str = "C"


def is_candidate(profit_tier: str, revenue_tier: str) -> bool:
    """Rules are checked for customers that look big: profit tier A or B, or revenue tier A."""
    return profit_tier in ("A", "B") or revenue_tier == "A"


def lowest(*tiers: str) -> str:
    """The lowest of tiers (A is highest): letters sort the right way round."""
    return max(tiers)


def decide_tiers(
    customers: pd.DataFrame, *, company_revenue: int, company_profit: int, policy: Policy
) -> pd.DataFrame:
    """Final tier, excluded flag, fired rules and measurements for every customer.

    `customers` columns (cents are Python/numpy ints): revenue, gross_profit, pos_revenue
    (Σ revenue of lines > 0), returns (Σ |revenue| of lines < 0), pos_discount (Σ discount
    of lines with revenue > 0), order_months (distinct buying months in the look-back; None
    when not measured), late_weighted (Σ amount × days late), late_amount (Σ amount),
    profit_tier, revenue_tier.
    """
    columns = [
        "computed_tier", "excluded", "exclusion_rules", "reasons",
        "discount_rate", "return_rate", "avg_days_late",
    ]  # fmt: skip
    # Non-candidates keep their profit tier with nothing measured; only candidates are looped.
    result = pd.DataFrame(index=customers.index, columns=columns, dtype=object)
    result["computed_tier"] = customers["profit_tier"]
    result["excluded"] = False
    result["exclusion_rules"] = ""
    result["reasons"] = [[] for _ in range(len(customers))]
    result[["discount_rate", "return_rate", "avg_days_late"]] = None
    candidates = customers[
        customers["profit_tier"].isin(["A", "B"]) | (customers["revenue_tier"] == "A")
    ]
    decided = [
        _decide_one(row, company_revenue, company_profit, policy)
        for row in candidates.itertuples(index=False)
    ]
    if decided:
        result.loc[candidates.index, columns] = pd.DataFrame(
            decided, index=candidates.index, columns=columns, dtype=object
        )
    return result


def _decide_one(row, company_revenue: int, company_profit: int, policy: Policy):
    if not is_candidate(row.profit_tier, row.revenue_tier):
        return row.profit_tier, False, "", [], None, None, None
    reasons = []
    pos_revenue, pos_discount, returns = (
        int(row.pos_revenue),
        int(row.pos_discount),
        int(row.returns),
    )
    late_amount, late_weighted = int(row.late_amount), int(row.late_weighted)

    months = row.order_months
    if months is not None and not pd.isna(months) and int(months) <= policy.one_off_max_months:
        reasons.append(
            _reason(RULE_ONE_OFF, "order_months", int(months), policy.one_off_max_months,
                    policy.one_off_cap, lookback_days=policy.one_off_lookback_days)
        )  # fmt: skip

    revenue, profit = int(row.revenue), int(row.gross_profit)
    if row.revenue_tier == "A" and revenue > 0 and company_revenue > 0:
        # margin < ratio × company margin, i.e. gp/rev < r × GP/REV, without division.
        r = policy.low_margin_ratio
        if profit * company_revenue * r.denominator < r.numerator * company_profit * revenue:
            reasons.append(
                _reason(RULE_LOW_MARGIN, "margin", profit / revenue,
                        float(r) * company_profit / company_revenue, policy.low_margin_cap,
                        company_margin=company_profit / company_revenue)
            )  # fmt: skip

    discount_rate = return_rate = avg_days_late = None
    if pos_revenue + pos_discount > 0:
        discount_rate = pos_discount / (pos_revenue + pos_discount)
        t = policy.squeezer_discount_rate
        if pos_discount * t.denominator >= t.numerator * (pos_revenue + pos_discount):
            reasons.append(
                _reason(
                    RULE_SQUEEZER, "discount_rate", discount_rate, float(t), policy.squeezer_cap
                )
            )
    if pos_revenue > 0:
        return_rate = returns / pos_revenue
        t = policy.squeezer_return_rate
        if returns * t.denominator >= t.numerator * pos_revenue:
            reasons.append(
                _reason(RULE_SQUEEZER, "return_rate", return_rate, float(t), policy.squeezer_cap)
            )
    if late_amount > 0:
        avg_days_late = late_weighted / late_amount
        if late_weighted >= policy.squeezer_days_late * late_amount:
            reasons.append(
                _reason(RULE_SQUEEZER, "avg_days_late", avg_days_late, policy.squeezer_days_late,
                        policy.squeezer_cap)
            )  # fmt: skip

    tier = lowest(row.profit_tier, *(reason["cap"] for reason in reasons))
    fired = sorted({reason["rule"] for reason in reasons}, key=_RULE_ORDER.index)
    return tier, bool(reasons), ";".join(fired), reasons, discount_rate, return_rate, avg_days_late


_RULE_ORDER = [RULE_ONE_OFF, RULE_LOW_MARGIN, RULE_SQUEEZER]


def _reason(rule: str, measure: str, value, threshold, cap: str, **extra) -> dict:
    return {"rule": rule, "measure": measure, "value": value, "threshold": threshold,
            "cap": cap, **extra}  # fmt: skip
