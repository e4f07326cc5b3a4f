"""People's names as people write them."""

import re

_CJK = re.compile(r"[\u3400-\u9fff]")


def person_name(first: str, last: str, username: str) -> str:
    """张伟 (family name first, no space) for Chinese names, "Wei Zhang" otherwise; the
    username when no name is set."""
    first, last = (first or "").strip(), (last or "").strip()
    if not first and not last:
        return username
    if _CJK.search(first + last):
        return f"{last}{first}"
    return f"{first} {last}".strip()
