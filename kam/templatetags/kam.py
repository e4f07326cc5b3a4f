"""Template helpers every app uses."""

from django import template

from kam.names import person_name

register = template.Library()


@register.filter
def person(user) -> str:
    """A user's name as people write it (see kam.names.person_name); "—" for nobody."""
    if user is None or user == "":
        return "—"
    return person_name(user.first_name, user.last_name, user.get_username())
