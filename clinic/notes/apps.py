from django.apps import AppConfig


class NotesConfig(AppConfig):
    name = "clinic.notes"
    label = "notes"
    verbose_name = "Encounters and notes"
