"""Spreadsheet-safe text (SPEC §6): a cell must never run as a formula in Excel."""

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(text: str) -> str:
    """Prefix text that Excel would read as a formula with a single quote."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text
