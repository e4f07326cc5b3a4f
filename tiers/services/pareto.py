"""ABC by Pareto (SPEC §3) — pure: no ORM, no settings.

Exact: amounts are integer cents and the cut-off comparison `before / total < cutoff` is
done as `before * denominator < numerator * total` on Python integers, so a customer
exactly on a cut-off lands on the side the SPEC says, never on the side a float rounds to.
"""

from bisect import bisect_left
from fractions import Fraction

import numpy as np
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
    value = values.astype("int64").to_numpy()
    n = len(value)
    positive = np.flatnonzero(value > 0)
    # By value descending, then code ascending: lexsort's last key is the primary one.
    order = positive[np.lexsort((codes.to_numpy()[positive].astype(str), -value[positive]))]
    ranked = value[order]
    total = int(ranked.sum())
    tier = np.full(n, "C", dtype=object)
    rank = np.full(n, pd.NA, dtype=object)
    before_share = np.full(n, np.nan)
    cumulative_share = np.full(n, np.nan)
    share = value / total if total else np.zeros(n)
    if total:
        cumulative = np.cumsum(ranked)
        before = cumulative - ranked
        # `before` grows down the ranking, so A is a prefix, then B, then C: two bisections
        # find the boundaries, each comparison on Python ints (exact products).
        exact = before.tolist()
        a_end = bisect_left(exact, True, key=lambda b: not _below(b, a_cutoff, total))
        b_end = bisect_left(exact, True, lo=a_end, key=lambda b: not _below(b, b_cutoff, total))
        tier[order[:a_end]] = "A"
        tier[order[a_end:b_end]] = "B"
        rank[order] = np.arange(1, len(order) + 1)
        before_share[order] = before / total
        cumulative_share[order] = cumulative / total
    return pd.DataFrame(
        {
            "tier": tier,
            "rank": pd.array(rank, dtype="Int64"),
            "before": before_share,
            "cumulative": cumulative_share,
            "share": share,
        },
        index=values.index,
    )


def _below(before: int, cutoff: Fraction, total: int) -> bool:
    """before / total < cutoff, exactly."""
    return before * cutoff.denominator < cutoff.numerator * total
