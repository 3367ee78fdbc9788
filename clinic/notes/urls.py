from __future__ import annotations

from django.urls import path

from clinic.notes import views

app_name = "notes"

urlpatterns = [
    path("", views.encounter_list, name="encounter_list"),
    path("encounters/new/", views.encounter_new, name="encounter_new"),
    path("encounters/<int:pk>/", views.encounter_detail, name="encounter_detail"),
    path("encounters/<int:pk>/status/", views.job_status, name="job_status"),
    path("encounters/<int:pk>/generate/", views.generate, name="generate"),
    path("encounters/<int:pk>/sections/<str:key>/", views.section, name="section"),
    path("encounters/<int:pk>/sign/", views.sign, name="sign"),
    path("encounters/<int:pk>/rate/", views.rate, name="rate"),
    path("encounters/<int:pk>/history/", views.history, name="history"),
    path("encounters/<int:pk>/export.<str:fmt>", views.export, name="export"),
    path("audit/", views.audit, name="audit"),
]
