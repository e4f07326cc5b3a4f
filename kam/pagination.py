"""The API's paging, in a module of its own: DRF imports it from its settings while its own
modules are still loading, so it must not import the rest of kam.api (a circular import)."""

from django.conf import settings
from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    """Every list is paged; a client may ask for up to KAM_API_MAX_PAGE_SIZE rows a page."""

    page_size = settings.KAM_API_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = settings.KAM_API_MAX_PAGE_SIZE
