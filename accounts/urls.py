from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("imports/", views.import_page, name="imports"),
]
