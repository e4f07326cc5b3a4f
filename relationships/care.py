"""Care dates (SPEC §4): contacts' birthdays and China's public holidays. Pure."""

from datetime import date

import holidays
from django.utils.translation import gettext_lazy as _

# The holidays a rep sends greetings for, keyed by the `holidays` package's English names.
# Tomb-Sweeping Day (清明) is left out on purpose: it is a day of remembrance, not of gifts.
CARE_HOLIDAYS = {
    "New Year's Day": "new_year",
    "Chinese New Year (Spring Festival)": "spring_festival",
    "Labor Day": "labour_day",
    "Dragon Boat Festival": "dragon_boat",
    "Mid-Autumn Festival": "mid_autumn",
    "National Day": "national_day",
}

OCCASION_LABELS = {
    "new_year": _("New Year's Day"),
    "spring_festival": _("Spring Festival"),
    "labour_day": _("Labour Day"),
    "dragon_boat": _("Dragon Boat Festival"),
    "mid_autumn": _("Mid-Autumn Festival"),
    "national_day": _("National Day"),
    "birthday": _("Birthday"),
}


def care_holidays_between(start: date, end: date) -> list[tuple[date, str]]:
    """(first day, occasion) of each care holiday starting within [start, end]."""
    calendar = holidays.China(years=range(start.year, end.year + 1), language="en_US")
    first_days: dict[tuple[int, str], date] = {}
    for day, names in calendar.items():
        for name in names.split("; "):
            occasion = CARE_HOLIDAYS.get(name)
            if occasion is None:
                continue
            key = (day.year, occasion)
            if key not in first_days or day < first_days[key]:
                first_days[key] = day
    return sorted(
        (day, occasion) for (_year, occasion), day in first_days.items() if start <= day <= end
    )


def birthday_in(year: int, birthday: date) -> date:
    """The birthday's date in `year`; 29 February falls on the 28th in other years."""
    try:
        return birthday.replace(year=year)
    except ValueError:
        return date(year, 2, 28)


def birthdays_between(birthday: date, start: date, end: date) -> list[date]:
    return [
        day
        for year in range(start.year, end.year + 1)
        if start <= (day := birthday_in(year, birthday)) <= end
    ]
