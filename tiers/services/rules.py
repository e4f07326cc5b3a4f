"""Fake big customers (假大客户, SPEC §3) — pure: no ORM, no settings.

`decide_tiers` turns one row per customer into the final tier and, for every rule that
fired, a machine-readable reason with the measured value and the threshold. Threshold
comparisons are exact (integers and fractions); the floats in reasons are for display.
"""

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
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
    # Non-candidates keep their profit tier with nothing measured: columns filled by
    # position (numpy), the candidates' placed over them.
    n = len(customers)
    values = {
        "computed_tier": customers["profit_tier"].to_numpy(dtype=object).copy(),
        "excluded": np.zeros(n, dtype=bool).astype(object),
        "exclusion_rules": np.full(n, "", dtype=object),
        "reasons": [[] for _ in range(n)],
        "discount_rate": np.full(n, None, dtype=object),
        "return_rate": np.full(n, None, dtype=object),
        "avg_days_late": np.full(n, None, dtype=object),
    }
    is_candidate = customers["profit_tier"].isin(["A", "B"]) | (customers["revenue_tier"] == "A")
    at = np.flatnonzero(is_candidate.to_numpy())
    if len(at):
        decided = _decide_candidates(customers.iloc[at], company_revenue, company_profit, policy)
        for column in columns:
            if column == "reasons":  # lists: numpy would read a list of them as 2-D
                found = decided[column].to_numpy()
                for j in np.flatnonzero(decided["excluded"].to_numpy(dtype=bool)):
                    values[column][at[j]] = found[j]
            else:
                values[column][at] = decided[column].to_numpy(dtype=object)
    return pd.DataFrame(values, index=customers.index, columns=columns, dtype=object)


def _exact(column: pd.Series) -> np.ndarray:
    """Python ints in an object array: products of cents never overflow, and a comparison
    is exact however large the figures (numpy loops over them in C, not a Python loop)."""
    values = column.to_numpy()
    if values.dtype.kind in "iu":
        return values.astype(object)  # each a Python int, converted in C
    return np.array([int(v) for v in values], dtype=object)


def _decide_candidates(rows: pd.DataFrame, company_revenue: int, company_profit: int, policy):
    """Each rule as one comparison over all candidates (exact, as in SPEC §3), then the
    reasons built only for the customers a rule fired for."""
    n = len(rows)
    revenue, profit = _exact(rows["revenue"]), _exact(rows["gross_profit"])
    pos_revenue, pos_discount = _exact(rows["pos_revenue"]), _exact(rows["pos_discount"])
    returns = _exact(rows["returns"])
    late_amount, late_weighted = _exact(rows["late_amount"]), _exact(rows["late_weighted"])
    months = rows["order_months"].to_numpy(dtype=object)
    measured = ~pd.isna(months)
    months_int = np.zeros(n, dtype=object)
    months_int[measured] = [int(m) for m in months[measured]]
    revenue_a = (rows["revenue_tier"] == "A").to_numpy()

    one_off = measured & (months_int <= policy.one_off_max_months).astype(bool)

    low_margin = np.zeros(n, dtype=bool)
    if company_revenue > 0:
        r = policy.low_margin_ratio
        # margin < ratio × company margin, i.e. gp/rev < r × GP/REV, without division.
        low_margin = (
            revenue_a
            & (revenue > 0).astype(bool)
            & (
                profit * (company_revenue * r.denominator)
                < (r.numerator * company_profit) * revenue
            ).astype(bool)
        )

    base = pos_revenue + pos_discount
    has_base = (base > 0).astype(bool)
    t = policy.squeezer_discount_rate
    discounting = has_base & (pos_discount * t.denominator >= t.numerator * base).astype(bool)
    has_pos = (pos_revenue > 0).astype(bool)
    t = policy.squeezer_return_rate
    returning = has_pos & (returns * t.denominator >= t.numerator * pos_revenue).astype(bool)
    has_late = (late_amount > 0).astype(bool)
    paying_late = has_late & (late_weighted >= policy.squeezer_days_late * late_amount).astype(bool)

    # Measurements as Python floats from exact integer division (None where undefined).
    discount_rate = np.full(n, None, dtype=object)
    discount_rate[has_base] = pos_discount[has_base] / base[has_base]
    return_rate = np.full(n, None, dtype=object)
    return_rate[has_pos] = returns[has_pos] / pos_revenue[has_pos]
    avg_days_late = np.full(n, None, dtype=object)
    avg_days_late[has_late] = late_weighted[has_late] / late_amount[has_late]

    fired_any = one_off | low_margin | discounting | returning | paying_late
    squeezer = discounting | returning | paying_late
    # The lowest of the profit tier and the cap of each rule that fired (letters: the later,
    # the lower), and the names of the rules that fired, in rule order.
    tier = rows["profit_tier"].to_numpy(dtype=object).copy()
    for fired, cap in (
        (one_off, policy.one_off_cap),
        (low_margin, policy.low_margin_cap),
        (squeezer, policy.squeezer_cap),
    ):
        tier[fired] = np.maximum(tier[fired], cap)
    rules = _RULE_NAMES[one_off * 1 + low_margin * 2 + squeezer * 4]

    reasons = [[] for _ in range(n)]
    company_margin = company_profit / company_revenue if company_revenue > 0 else None
    margin_threshold = (
        float(policy.low_margin_ratio) * company_profit / company_revenue
        if company_revenue > 0
        else None
    )
    for i in np.flatnonzero(fired_any):
        found = reasons[i]
        if one_off[i]:
            found.append(
                _reason(RULE_ONE_OFF, "order_months", months_int[i], policy.one_off_max_months,
                        policy.one_off_cap, lookback_days=policy.one_off_lookback_days)
            )  # fmt: skip
        if low_margin[i]:
            found.append(
                _reason(RULE_LOW_MARGIN, "margin", profit[i] / revenue[i], margin_threshold,
                        policy.low_margin_cap, company_margin=company_margin)
            )  # fmt: skip
        if discounting[i]:
            found.append(
                _reason(RULE_SQUEEZER, "discount_rate", discount_rate[i],
                        float(policy.squeezer_discount_rate), policy.squeezer_cap)
            )  # fmt: skip
        if returning[i]:
            found.append(
                _reason(RULE_SQUEEZER, "return_rate", return_rate[i],
                        float(policy.squeezer_return_rate), policy.squeezer_cap)
            )  # fmt: skip
        if paying_late[i]:
            found.append(
                _reason(RULE_SQUEEZER, "avg_days_late", avg_days_late[i],
                        policy.squeezer_days_late, policy.squeezer_cap)
            )  # fmt: skip
    return pd.DataFrame(
        {
            "computed_tier": tier,
            "excluded": fired_any.astype(object),
            "exclusion_rules": rules,
            "reasons": reasons,
            "discount_rate": discount_rate,
            "return_rate": return_rate,
            "avg_days_late": avg_days_late,
        },
        index=rows.index,
        dtype=object,
    )


_RULE_ORDER = [RULE_ONE_OFF, RULE_LOW_MARGIN, RULE_SQUEEZER]
# exclusion_rules for each set of fired rules, indexed by one_off + 2 × low_margin +
# 4 × squeezer: "", "one_off", "low_margin", "one_off;low_margin", ...
_RULE_NAMES = np.array(
    [";".join(r for bit, r in enumerate(_RULE_ORDER) if k >> bit & 1) for k in range(8)],
    dtype=object,
)


def _reason(rule: str, measure: str, value, threshold, cap: str, **extra) -> dict:
    return {"rule": rule, "measure": measure, "value": value, "threshold": threshold,
            "cap": cap, **extra}  # fmt: skip
