from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("customers/<int:pk>/", views.customer_detail, name="customer-detail"),
    path("imports/", views.import_page, name="imports"),
]
