"""ABC by Pareto (SPEC §3) — pure: no ORM, no settings.

Exact: amounts are integer cents and the cut-off comparison `before / total < cutoff` is
done as `before * denominator < numerator * total` on Python integers, so a customer
exactly on a cut-off lands on the side the SPEC says, never on the side a float rounds to.
"""

from bisect import bisect_left
from fractions import Fraction

import pandas as pd


def pareto_tiers(
    values: pd.Series, codes: pd.Series, *, a_cutoff: Fraction, b_cutoff: Fraction
) -> pd.DataFrame:
    """Tier every customer by its share of the positive total.

    `values` are integer cents, `codes` the customer codes (the tie-break), both indexed by
    customer. Customers with a positive value are sorted by value descending, then code
    ascending; `before` is the share of those ranked above. Tier A if before < a_cutoff,
    B if before < b_cutoff, else C; a value <= 0 is C with no rank.

    Returns, on the same index: share, before, cumulative (floats, for display), rank
    (nullable int) and tier.
    """
    frame = pd.DataFrame({"value": values.astype("int64"), "code": codes})
    positive = frame[frame["value"] > 0].sort_values(["value", "code"], ascending=[False, True])
    total = int(positive["value"].sum())
    result = pd.DataFrame(index=frame.index)
    result["tier"] = "C"
    result["rank"] = pd.array([None] * len(frame), dtype="Int64")
    result["before"] = float("nan")
    result["cumulative"] = float("nan")
    result["share"] = frame["value"] / total if total else 0.0
    if total == 0:
        return result
    cumulative = positive["value"].cumsum()
    before = cumulative - positive["value"]
    # `before` grows down the ranking, so A is a prefix, then B, then C: two bisections
    # find the boundaries, each comparison on Python ints (exact products).
    exact = before.tolist()
    a_end = bisect_left(exact, True, key=lambda b: not _below(b, a_cutoff, total))
    b_end = bisect_left(exact, True, lo=a_end, key=lambda b: not _below(b, b_cutoff, total))
    tiers = ["A"] * a_end + ["B"] * (b_end - a_end) + ["C"] * (len(exact) - b_end)
    result.loc[positive.index, "tier"] = tiers
    result.loc[positive.index, "rank"] = range(1, len(positive) + 1)
    result.loc[positive.index, "before"] = before.astype(float) / total
    result.loc[positive.index, "cumulative"] = cumulative.astype(float) / total
    return result


def _below(before: int, cutoff: Fraction, total: int) -> bool:
    """before / total < cutoff, exactly."""
    return before * cutoff.denominator < cutoff.numerator * total
