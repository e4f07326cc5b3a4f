"""The pure tier functions (SPEC §3), without a database: named, table-driven cases that
assert the tier and the reason."""

from fractions import Fraction

import pandas as pd
import pytest

from tiers.services.pareto import pareto_tiers
from tiers.services.rules import Policy, decide_tiers

DEFAULT = Policy()


def tiers_of(values: dict[str, int], policy: Policy = DEFAULT) -> dict[str, str]:
    codes = pd.Series(list(values), index=range(len(values)))
    cents = pd.Series(list(values.values()), index=range(len(values)))
    result = pareto_tiers(cents, codes, a_cutoff=policy.a_cutoff, b_cutoff=policy.b_cutoff)
    return dict(zip(values, result["tier"], strict=True))


@pytest.mark.parametrize(
    "case, profits, expected",
    [
        # 50 + 30 = 80 %: the second customer starts at 50 % (< 80 %) so it is A; the third
        # starts exactly at 80 %, which is not below the cut-off: B.
        ("crossing 80 % is still A", {"C1": 50, "C2": 30, "C3": 15, "C4": 5},
         {"C1": "A", "C2": "A", "C3": "B", "C4": "C"}),
        ("the customer that crosses 80 % is A", {"C1": 70, "C2": 20, "C3": 10},
         {"C1": "A", "C2": "A", "C3": "B"}),
        ("ties are broken by code ascending", {"B": 40, "A": 40, "C": 20},
         {"A": "A", "B": "A", "C": "B"}),
        ("a tie across the cut-off goes to the lower code", {"Z": 80, "Y": 10, "X": 10},
         {"Z": "A", "X": "B", "Y": "B"}),
        ("gross profit <= 0 is C", {"P": 100, "ZERO": 0, "LOSS": -50},
         {"P": "A", "ZERO": "C", "LOSS": "C"}),
        ("nobody with profit: all C", {"Z1": 0, "L1": -1}, {"Z1": "C", "L1": "C"}),
        ("one customer is A", {"ONLY": 1}, {"ONLY": "A"}),
        ("before 95 % is B, at 95 % is C", {"C1": 80, "C2": 15, "C3": 5},
         {"C1": "A", "C2": "B", "C3": "C"}),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)  # fmt: skip
def test_pareto(case, profits, expected):
    assert tiers_of(profits) == expected


def test_changed_cutoffs_change_the_result():
    profits = {"C1": 50, "C2": 30, "C3": 15, "C4": 5}
    assert tiers_of(profits)["C2"] == "A"
    strict = Policy(a_cutoff=Fraction(1, 2), b_cutoff=Fraction(9, 10))
    assert tiers_of(profits, strict) == {"C1": "A", "C2": "B", "C3": "B", "C4": "C"}


def test_shares_ranks_and_cumulative():
    codes = pd.Series(["A", "B", "C"])
    result = pareto_tiers(
        pd.Series([300, 100, -50]), codes, a_cutoff=DEFAULT.a_cutoff, b_cutoff=DEFAULT.b_cutoff
    )
    assert list(result["rank"].fillna(0)) == [1, 2, 0]
    assert result["share"].tolist() == [0.75, 0.25, -0.125]
    assert result["cumulative"].tolist()[:2] == [0.75, 1.0]


def customer(**values):
    row = {
        "revenue": 100_000, "gross_profit": 30_000, "pos_revenue": 100_000, "returns": 0,
        "pos_discount": 0, "order_months": 12, "late_weighted": 0, "late_amount": 0,
        "profit_tier": "A", "revenue_tier": "A",
    }  # fmt: skip
    row.update(values)
    return row


def decide(row, company_revenue=1_000_000, company_profit=200_000, policy=DEFAULT):
    frame = pd.DataFrame([row])
    result = decide_tiers(
        frame, company_revenue=company_revenue, company_profit=company_profit, policy=policy
    ).iloc[0]
    measures = [(r["rule"], r["measure"]) for r in result["reasons"]]
    return result["computed_tier"], result["exclusion_rules"], measures


@pytest.mark.parametrize(
    "case, row, expected_tier, expected_rules, expected_measures",
    [
        ("a healthy A stays A", customer(), "A", "", []),
        ("one buying month in 24 months: one_off caps at C", customer(order_months=1),
         "C", "one_off", [("one_off", "order_months")]),
        ("two buying months is not one_off", customer(order_months=2), "A", "", []),
        # company margin 20 %; half of it is 10 %: 9.99 % fires, 10 % does not.
        ("margin below half the company's: low_margin caps at B",
         customer(gross_profit=9_999), "B", "low_margin", [("low_margin", "margin")]),
        ("margin exactly half the company's is not low_margin",
         customer(gross_profit=10_000), "A", "", []),
        ("low_margin needs revenue tier A", customer(gross_profit=5_000, revenue_tier="B"),
         "A", "", []),
        ("discount rate 15 % is a squeezer",
         customer(pos_revenue=85_000, revenue=85_000, pos_discount=15_000),
         "C", "squeezer", [("squeezer", "discount_rate")]),
        ("discount rate just under 15 % is not",
         customer(pos_revenue=85_001, revenue=85_001, pos_discount=14_999), "A", "", []),
        ("return rate 10 % is a squeezer", customer(returns=10_000),
         "C", "squeezer", [("squeezer", "return_rate")]),
        ("60 days late on average is a squeezer",
         customer(late_amount=1_000, late_weighted=60_000),
         "C", "squeezer", [("squeezer", "avg_days_late")]),
        ("59.9 days late is not", customer(late_amount=1_000, late_weighted=59_999),
         "A", "", []),
        ("a B customer is checked too", customer(profit_tier="B", revenue_tier="C",
                                                  order_months=1),
         "C", "one_off", [("one_off", "order_months")]),
        ("a C customer is not a candidate", customer(profit_tier="C", revenue_tier="B",
                                                      order_months=1), "C", "", []),
        ("revenue tier A alone makes a candidate", customer(profit_tier="C", returns=50_000),
         "C", "squeezer", [("squeezer", "return_rate")]),
        ("several rules: the lowest cap wins, every reason is kept",
         customer(gross_profit=1_000, order_months=1, returns=20_000), "C",
         "one_off;low_margin;squeezer",
         [("one_off", "order_months"), ("low_margin", "margin"), ("squeezer", "return_rate")]),
        ("only returns: no positive revenue, no rates", customer(
            revenue=-5_000, gross_profit=-1_000, pos_revenue=0, returns=5_000,
            profit_tier="C", revenue_tier="C"), "C", "", []),
        ("revenue 0 with profit: margin undefined, no low_margin", customer(
            revenue=0, pos_revenue=0, gross_profit=100, revenue_tier="C"), "A", "", []),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)  # fmt: skip
def test_rules(case, row, expected_tier, expected_rules, expected_measures):
    assert decide(row) == (expected_tier, expected_rules, expected_measures)


def test_changed_thresholds_change_the_result():
    row = customer(returns=8_000)
    assert decide(row)[0] == "A"
    stricter = Policy(squeezer_return_rate=Fraction(1, 20))
    assert decide(row, policy=stricter) == ("C", "squeezer", [("squeezer", "return_rate")])
    softer_cap = Policy(squeezer_return_rate=Fraction(1, 20), squeezer_cap="B")
    assert decide(row, policy=softer_cap)[0] == "B"


def test_reasons_carry_value_and_threshold():
    frame = pd.DataFrame([customer(late_amount=1_000, late_weighted=74_000)])
    (reason,) = decide_tiers(
        frame, company_revenue=1_000_000, company_profit=200_000, policy=DEFAULT
    ).iloc[0]["reasons"]
    assert reason == {
        "rule": "squeezer", "measure": "avg_days_late", "value": 74.0, "threshold": 60, "cap": "C"
    }  # fmt: skip
