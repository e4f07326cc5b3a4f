from django.urls import path

from relationships import views

app_name = "relationships"

urlpatterns = [
    path("customers/<int:customer_pk>/units/new/", views.buying_unit_edit, name="unit-create"),
    path("units/<int:pk>/edit/", views.buying_unit_edit, name="unit-edit"),
    path("customers/<int:customer_pk>/contacts/new/", views.contact_edit, name="contact-create"),
    path("contacts/<int:pk>/edit/", views.contact_edit, name="contact-edit"),
    path("visits/", views.visit_list, name="visit-list"),
    path("visits/new/", views.visit_create, name="visit-create"),
    path("visits/<int:pk>/", views.visit_detail, name="visit-detail"),
    path("visits/<int:pk>/edit/", views.visit_edit, name="visit-edit"),
    path("followups/", views.my_day, name="my-day"),
    path(
        "customers/<int:customer_pk>/followups/new/",
        views.follow_up_create,
        name="follow-up-create",
    ),
    path("followups/<int:pk>/complete/", views.follow_up_complete, name="follow-up-complete"),
    path("followups/<int:pk>/snooze/", views.follow_up_snooze, name="follow-up-snooze"),
    path("followups/<int:pk>/reassign/", views.follow_up_reassign, name="follow-up-reassign"),
    path("customers/<int:customer_pk>/plan/", views.plan_for_customer, name="plan-for-customer"),
    path("plans/<int:pk>/", views.plan_detail, name="plan-detail"),
    path("plans/<int:pk>/edit/", views.plan_edit, name="plan-edit"),
    path("actions/<int:pk>/edit/", views.plan_action_edit, name="action-edit"),
    path("team/reassign/", views.rep_reassign, name="reassign"),
    path("attention/", views.attention, name="attention"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("referrals/", views.referrals, name="referrals"),
]
