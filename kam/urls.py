from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.i18n import set_language

from kam.health import healthz
from relationships import views as relationship_views
from tiers import views as tier_views

admin.site.site_header = "KAM"
admin.site.site_title = "KAM"

urlpatterns = [
    path("healthz/", healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Anyone may pick a language, also on the sign-in page.
    path("i18n/setlang/", login_not_required(set_language), name="set_language"),
    path("", relationship_views.home, name="home"),
    # The customer list shows tiers, so tiers/ serves it; the customer master's pages follow.
    path("customers/", tier_views.customer_list, name="customer-list"),
    path("reports/contribution/", tier_views.contribution_report, name="contribution-report"),
    # The account page shows all three apps, so relationships/ serves it.
    path("customers/<int:pk>/", relationship_views.account_detail, name="customer-detail"),
    path("", include("accounts.urls")),
    path("", include("relationships.urls")),
    path("api/", include("kam.api_urls")),
    path("admin/", admin.site.urls),
]
