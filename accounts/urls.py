from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("", views.customer_list, name="customer-list"),
    path("<int:pk>/", views.customer_detail, name="customer-detail"),
]
