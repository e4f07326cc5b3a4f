"""zh-hans number formats for money: Django's default has no thousands separator; Chinese
finance reports group by three with commas (12,345,678.90). Dates keep Django's formats."""

from django.conf.locale.zh_Hans.formats import *  # noqa: F403

THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
