from django.apps import AppConfig


class MlopsConfig(AppConfig):
    name = "clinic.mlops"
    label = "mlops"
    verbose_name = "Data, training and models"

    def ready(self) -> None:
        # Signed notes become de-identified training examples (clinic/mlops/feedback.py).
        from clinic.mlops.feedback import on_note_signed
        from clinic.notes.signals import note_signed

        note_signed.connect(on_note_signed, dispatch_uid="mlops.feedback.on_note_signed")
