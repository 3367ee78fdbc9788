"""Forms of the clinician app: they check shape only; the rules live in services.py."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.validators import ProhibitNullCharactersValidator

from clinic.notes.models import Note


class IntakeForm(forms.Form):
    title = forms.CharField(
        max_length=200, required=False, help_text="Optional; defaults to the patient's first words."
    )
    dialogue = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 14, "placeholder": "Doctor: What brings you in today?\nPatient: ..."}),
        help_text="Label each turn (Doctor:, Patient:, Dr., [doctor], D:/P:) or paste JSON.",
    )
    file = forms.FileField(required=False, help_text="Or upload a .txt, .json, .vtt or .srt transcript.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Django refuses NUL characters with "Null characters are not allowed." and then the dialogue
        # looks empty; the intake service says what is wrong in a clinician's words instead.
        field = self.fields["dialogue"]
        field.validators = [v for v in field.validators if not isinstance(v, ProhibitNullCharactersValidator)]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        upload, pasted = data.get("file"), (data.get("dialogue") or "")
        if upload and pasted.strip():
            raise forms.ValidationError("Paste a dialogue or upload a file, not both.")
        if not upload and not pasted.strip():
            raise forms.ValidationError("The dialogue is empty: paste the conversation or upload a transcript.")
        if upload and upload.size > settings.DIALOGUE_MAX_BYTES:
            raise forms.ValidationError(
                f"'{upload.name}' is {upload.size:,} bytes; the limit is {settings.DIALOGUE_MAX_BYTES:,} bytes."
            )
        return data

    def raw_and_filename(self) -> tuple[str | bytes, str | None]:
        upload = self.cleaned_data.get("file")
        if upload:
            return upload.read(), upload.name
        return self.cleaned_data["dialogue"], None


class SectionForm(forms.Form):
    text = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 6}), max_length=20_000)
    base_version = forms.IntegerField(min_value=0, widget=forms.HiddenInput)
    reason = forms.CharField(required=False, max_length=1000, help_text="Required to amend a signed note.")


class RatingForm(forms.Form):
    score = forms.TypedChoiceField(choices=[(i, str(i)) for i in range(1, 6)], coerce=int)
    comment = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class SearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=200)
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Note.Status.choices])
