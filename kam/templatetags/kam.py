"""Template helpers every app uses."""

import re

from django import template

register = template.Library()

_CJK = re.compile(r"[\u3400-\u9fff]")


@register.filter
def person(user) -> str:
    """A user's name as people write it: 张伟 (family name first, no space) for Chinese
    names, "Wei Zhang" otherwise; the username when no name is set."""
    if user is None:
        return "—"
    first, last = user.first_name.strip(), user.last_name.strip()
    if not first and not last:
        return user.get_username()
    if _CJK.search(first + last):
        return f"{last}{first}"
    return f"{first} {last}".strip()
