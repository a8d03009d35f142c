"""Input of the labeler and reviewer pages. Forms parse; services decide."""

from __future__ import annotations

import json

from django import forms

ERROR_ANSWER_JSON = "The page sent an answer the server could not read; reload the page."


class AnswerForm(forms.Form):
    """The answer as the page's script collects it (`answer`, JSON in the payload shapes of
    labeling.models.annotations), or a plain `text` field when scripts are off."""

    answer = forms.CharField(required=False, strip=False)
    text = forms.CharField(required=False, strip=False)
    time_spent_ms = forms.IntegerField(required=False, min_value=0)

    def clean(self) -> dict:
        cleaned = super().clean()
        raw = cleaned.get("answer")
        if raw:
            try:
                data = json.loads(raw)
            except ValueError:
                raise forms.ValidationError(ERROR_ANSWER_JSON) from None
            if not isinstance(data, dict):
                raise forms.ValidationError(ERROR_ANSWER_JSON)
        else:
            data = {"text": cleaned.get("text") or ""}
        data["time_spent_ms"] = cleaned.get("time_spent_ms") or 0
        cleaned["data"] = data
        return cleaned


class SkipForm(forms.Form):
    reason = forms.CharField(required=False, max_length=2000)
    time_spent_ms = forms.IntegerField(required=False, min_value=0)


class PreviewForm(forms.Form):
    text = forms.CharField(required=False, strip=False)
    draft_completion = forms.IntegerField(required=False)


class ReviewForm(forms.Form):
    decision = forms.CharField(max_length=10)
    comment = forms.CharField(required=False, max_length=5000)
