from __future__ import annotations

from django.urls import path

from clinic.accounts import views

app_name = "accounts"

urlpatterns = [
    path("", views.preferences, name="settings"),
]
