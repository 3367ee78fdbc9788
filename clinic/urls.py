from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from clinic.security import ThrottledAdminAuthenticationForm, ThrottledAuthenticationForm

admin.site.login_form = ThrottledAdminAuthenticationForm  # both logins say when a lockout is in force

urlpatterns = [
    path("admin/", admin.site.urls),
    path(
        "accounts/login/", auth_views.LoginView.as_view(authentication_form=ThrottledAuthenticationForm), name="login"
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v1/", include("clinic.api.urls")),
    path("mlops/", include("clinic.mlops.urls")),
    path("settings/", include("clinic.accounts.urls")),
    path("", include("clinic.notes.urls")),
]
