"""/api/: every app's endpoints on one router, the OpenAPI schema and Swagger UI."""

from django.urls import include, path, re_path
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import exceptions
from rest_framework.routers import DefaultRouter
from rest_framework.views import APIView

from accounts.api import ReceivableViewSet, SalesLineViewSet
from relationships.api import (
    AccountPlanViewSet,
    BuyingUnitViewSet,
    ContactViewSet,
    FollowUpViewSet,
    PlanActionViewSet,
    PlanObjectiveViewSet,
    VisitViewSet,
)
from tiers.api import (
    ContributionViewSet,
    CustomerViewSet,
    RunViewSet,
    TierOverrideViewSet,
    TierPolicyViewSet,
)

router = DefaultRouter()
router.register("customers", CustomerViewSet, basename="customer")
router.register("buying-units", BuyingUnitViewSet, basename="buying-unit")
router.register("contacts", ContactViewSet, basename="contact")
router.register("sales-lines", SalesLineViewSet, basename="sales-line")
router.register("receivables", ReceivableViewSet, basename="receivable")
router.register("visits", VisitViewSet, basename="visit")
router.register("follow-ups", FollowUpViewSet, basename="follow-up")
router.register("account-plans", AccountPlanViewSet, basename="account-plan")
router.register("plan-objectives", PlanObjectiveViewSet, basename="plan-objective")
router.register("plan-actions", PlanActionViewSet, basename="plan-action")
router.register("runs", RunViewSet, basename="run")
router.register("contributions", ContributionViewSet, basename="contribution")
router.register("tier-overrides", TierOverrideViewSet, basename="tier-override")
router.register("tier-policy", TierPolicyViewSet, basename="tier-policy")


@extend_schema(exclude=True)
class NotFound(APIView):
    """Any other URL under /api/ (e.g. /api/customers/1.5/): a JSON 404 like the rest of the
    API, not Django's HTML page. Signed-out callers get 403 first, as everywhere in the API."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        raise exceptions.NotFound()


app_name = "api"
urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script (CSP).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path("", include(router.urls)),
    # Last, and only for URLs ending in a slash, so APPEND_SLASH still redirects the others.
    re_path(r"^.*/$", NotFound.as_view()),
]
