"""Bounded uploads: a request body larger than its path allows is refused before any of it is
read, so a huge upload cannot fill the disk or tie up a worker (issue: production settings).

ERP imports may be large (their own limits, KAM_IMPORT_MAX_CSV_BYTES and …_XLSX_BYTES, are
checked again per file kind by the importer); every other request carries at most
KAM_MAX_REQUEST_BYTES. Form fields without files are bounded by Django's
DATA_UPLOAD_MAX_MEMORY_SIZE as usual.
"""

from django.conf import settings
from django.http import HttpResponse
from django.utils.translation import gettext as _

# multipart framing and the form's other fields around the file
_FORM_OVERHEAD = 1024 * 1024


def _limit_for(path: str) -> int:
    if path.startswith("/imports/"):
        largest = max(settings.KAM_IMPORT_MAX_CSV_BYTES, settings.KAM_IMPORT_MAX_XLSX_BYTES)
        return largest + _FORM_OVERHEAD
    return settings.KAM_MAX_REQUEST_BYTES


class RequestSizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return HttpResponse(_("Bad Content-Length."), status=400, content_type="text/plain")
        limit = _limit_for(request.path_info)
        if length > limit:
            message = _("The request is %(size)s MB; at most %(limit)s MB is accepted here.") % {
                "size": f"{length / 2**20:.1f}",
                "limit": f"{limit / 2**20:.0f}",
            }
            return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
