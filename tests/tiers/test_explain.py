"""Rule explanations in words, in English and Chinese."""

import pytest
from django.utils import translation

from tiers.explain import reason_text


@pytest.mark.parametrize(
    "reason, english",
    [
        ({"rule": "one_off", "measure": "order_months", "value": 1, "threshold": 1,
          "cap": "C", "lookback_days": 730}, "one buying month in 24 months"),
        ({"rule": "low_margin", "measure": "margin", "value": 0.031, "threshold": 0.092,
          "cap": "B", "company_margin": 0.184}, "margin 3.1 % vs company 18.4 %"),
        ({"rule": "squeezer", "measure": "avg_days_late", "value": 74.2, "threshold": 60,
          "cap": "C"}, "paid 74 days late on average (limit 60)"),
        ({"rule": "squeezer", "measure": "return_rate", "value": 0.181, "threshold": 0.1,
          "cap": "C"}, "returns 18.1 % of sales (limit 10.0 %)"),
        ({"rule": "squeezer", "measure": "discount_rate", "value": 0.231, "threshold": 0.15,
          "cap": "C"}, "discounts 23.1 % of list value (limit 15.0 %)"),
    ],
)  # fmt: skip
def test_reasons_in_english(reason, english):
    with translation.override("en"):
        assert reason_text(reason) == english


def test_reasons_in_chinese():
    reason = {"rule": "squeezer", "measure": "avg_days_late", "value": 74.2, "threshold": 60}
    with translation.override("zh-hans"):
        assert reason_text(reason) == "平均逾期 74 天付款（上限 60 天）"
