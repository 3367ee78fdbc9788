from __future__ import annotations

from django.urls import path  # noqa: F401

app_name = "mlops"

# Each capability appends its own paths below (synthesis stats, run charts, reports, dashboard).
urlpatterns: list = []

from clinic.mlops import dashboard as _feedback_dashboard  # noqa: E402

urlpatterns += [
    path("dashboard/", _feedback_dashboard.dashboard, name="dashboard"),
    path("dashboard/chart/<slug:name>.svg", _feedback_dashboard.chart, name="dashboard_chart"),
]

from clinic.mlops import synthesis_views as _synthesis_views  # noqa: E402

urlpatterns += [
    path("synthesis/<int:pk>/stats/", _synthesis_views.synthesis_stats, name="synthesis_stats"),
]

from clinic.mlops import training_views as _training_views  # noqa: E402

urlpatterns += [
    path("training/<int:pk>/", _training_views.training_run_live, name="training_run_live"),
    path("training/<int:pk>/cancel/", _training_views.training_run_cancel, name="training_run_cancel"),
]
