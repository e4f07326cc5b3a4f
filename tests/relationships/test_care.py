"""Care dates (SPEC §4): China's public holidays a rep sends greetings for, and birthdays."""

import datetime

import pytest

from relationships.care import (
    CARE_HOLIDAYS,
    OCCASION_LABELS,
    birthday_in,
    birthdays_between,
    care_holidays_between,
)


def d(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text)


# (start, end, expected [(first day, occasion)])
HOLIDAYS = {
    "spring-festival-2027-first-day-not-the-eve": (
        "2027-02-01",
        "2027-02-10",
        [(d("2027-02-06"), "spring_festival")],
    ),
    "mid-autumn-2026": ("2026-09-20", "2026-09-27", [(d("2026-09-25"), "mid_autumn")]),
    "national-day-2026": ("2026-09-28", "2026-10-05", [(d("2026-10-01"), "national_day")]),
    "mid-autumn-and-national-day": (
        "2026-09-24",
        "2026-10-01",
        [(d("2026-09-25"), "mid_autumn"), (d("2026-10-01"), "national_day")],
    ),
    "start-and-end-are-inclusive": (
        "2026-09-25",
        "2026-09-25",
        [(d("2026-09-25"), "mid_autumn")],
    ),
    "tomb-sweeping-excluded": ("2026-04-01", "2026-04-10", []),
    "tomb-sweeping-2027-excluded": ("2027-04-01", "2027-04-10", []),
    "later-days-of-a-holiday-do-not-start-it": ("2026-10-02", "2026-10-08", []),
    "across-the-new-year": (
        "2026-12-28",
        "2027-01-03",
        [(d("2027-01-01"), "new_year")],
    ),
    "labour-day-and-dragon-boat-2026": (
        "2026-04-28",
        "2026-06-20",
        [(d("2026-05-01"), "labour_day"), (d("2026-06-19"), "dragon_boat")],
    ),
    "an-ordinary-week": ("2026-08-03", "2026-08-09", []),
}


@pytest.mark.parametrize(("start", "end", "expected"), list(HOLIDAYS.values()), ids=list(HOLIDAYS))
def test_care_holidays_between(start, end, expected):
    assert care_holidays_between(d(start), d(end)) == expected


def test_a_whole_year_has_each_care_holiday_once():
    year = care_holidays_between(d("2026-01-01"), d("2026-12-31"))
    assert year == [
        (d("2026-01-01"), "new_year"),
        (d("2026-02-17"), "spring_festival"),
        (d("2026-05-01"), "labour_day"),
        (d("2026-06-19"), "dragon_boat"),
        (d("2026-09-25"), "mid_autumn"),
        (d("2026-10-01"), "national_day"),
    ]
    assert {occasion for _day, occasion in year} == set(CARE_HOLIDAYS.values())
    assert set(CARE_HOLIDAYS.values()) < set(OCCASION_LABELS)


# (year, birthday, expected date in that year)
BIRTHDAYS = {
    "29-feb-in-a-common-year-is-28-feb": (2026, "1988-02-29", "2026-02-28"),
    "29-feb-in-a-leap-year-is-29-feb": (2028, "1988-02-29", "2028-02-29"),
    "1-mar-stays-1-mar-in-a-leap-year": (2028, "1990-03-01", "2028-03-01"),
    "ordinary-day": (2026, "1975-09-23", "2026-09-23"),
    "new-year-s-eve": (2026, "1980-12-31", "2026-12-31"),
}


@pytest.mark.parametrize(
    ("year", "birthday", "expected"), list(BIRTHDAYS.values()), ids=list(BIRTHDAYS)
)
def test_birthday_in(year, birthday, expected):
    assert birthday_in(year, d(birthday)) == d(expected)


# (birthday, start, end, expected days)
BIRTHDAYS_BETWEEN = {
    "inside": ("1980-09-23", "2026-09-20", "2026-09-23", ["2026-09-23"]),
    "one-day-after-the-end": ("1980-09-24", "2026-09-20", "2026-09-23", []),
    "one-day-before-the-start": ("1980-09-19", "2026-09-20", "2026-09-23", []),
    "across-the-year-end": ("1980-01-01", "2026-12-30", "2027-01-02", ["2027-01-01"]),
    "29-feb-in-a-common-year": ("1988-02-29", "2027-02-26", "2027-03-01", ["2027-02-28"]),
    "29-feb-in-a-leap-year": ("1988-02-29", "2028-02-26", "2028-03-01", ["2028-02-29"]),
    "twice-in-a-long-range": (
        "1980-06-01",
        "2026-05-01",
        "2027-07-01",
        ["2026-06-01", "2027-06-01"],
    ),
}


@pytest.mark.parametrize(
    ("birthday", "start", "end", "expected"),
    list(BIRTHDAYS_BETWEEN.values()),
    ids=list(BIRTHDAYS_BETWEEN),
)
def test_birthdays_between(birthday, start, end, expected):
    assert birthdays_between(d(birthday), d(start), d(end)) == [d(day) for day in expected]
