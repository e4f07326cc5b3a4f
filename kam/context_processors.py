from django.conf import settings

from kam.roles import primary_role


def kam(request):
    """What the base layout needs on every page: the user's role and the currency."""
    user = getattr(request, "user", None)
    return {
        "kam_role": primary_role(user) if user is not None else None,
        "kam_currency": settings.KAM_CURRENCY,
    }
