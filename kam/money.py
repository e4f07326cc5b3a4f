"""Exact money: stored as integer cents, handled in Python as Decimal.

SQLite sums a decimal column as a float, so a numeric column would not give exact
totals there (SPEC §6). Integer cents are exact on both databases: SQLite sums
64-bit integers exactly (and raises on overflow instead of rounding) and
PostgreSQL's sum(bigint) returns numeric. Python code never sees cents: values come
back as Decimal with two places, also from Sum() and F() arithmetic on these fields.
"""

from decimal import Decimal, InvalidOperation

from django import forms
from django.core.exceptions import ValidationError
from django.db import models

CENT = Decimal("0.01")


def to_cents(value) -> int:
    """Decimal-like -> whole cents; refuses fractions of a cent rather than rounding."""
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationError(
            "%(value)r is not an amount of money", params={"value": value}
        ) from None
    if not amount.is_finite():
        raise ValidationError("%(value)r is not an amount of money", params={"value": value})
    cents = amount.scaleb(2)
    if cents != cents.to_integral_value():
        raise ValidationError("%(value)s has more than two decimal places", params={"value": value})
    return int(cents)


def from_cents(cents) -> Decimal:
    return Decimal(int(cents)).scaleb(-2).quantize(CENT)


class MoneyField(models.BigIntegerField):
    description = "An amount of money, exact to the cent (stored as integer cents)"

    def from_db_value(self, value, expression, connection):
        return None if value is None else from_cents(value)

    def to_python(self, value):
        if value is None or isinstance(value, Decimal):
            return value
        return from_cents(to_cents(value))

    def get_prep_value(self, value):
        if value is None:
            return None
        if hasattr(value, "resolve_expression"):
            return value
        return to_cents(value)

    def formfield(self, **kwargs):
        return forms.DecimalField(
            **{"max_digits": 17, "decimal_places": 2, "required": not self.blank, **kwargs}
        )

    def value_to_string(self, obj):
        value = self.value_from_object(obj)
        return "" if value is None else str(value)


def _register_money_arithmetic() -> None:
    """Make money ± money a MoneyField, so Sum(F("revenue") - F("cost")) comes back as Decimal.

    Django resolves the type of `a - b` from a list where BigIntegerField - BigIntegerField
    -> BigIntegerField comes first and would match our subclass, silently giving cents.
    Our rule goes in front. tests/accounts/test_models.py fails if Django changes this.
    """
    from django.db.models import expressions

    for connector in (expressions.Combinable.ADD, expressions.Combinable.SUB):
        expressions._connector_combinators[connector].insert(
            0, (MoneyField, MoneyField, MoneyField)
        )
    expressions._resolve_combined_type.cache_clear()


_register_money_arithmetic()
