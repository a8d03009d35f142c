"""The form to start a run from the page; the service does the checking that matters."""

from __future__ import annotations

from django import forms

from evaluation.models import EvalSet, JudgeConfig, RunMode
from labeling.models import Project

ERROR_TURNS = "Turns are whole numbers separated by commas, e.g. 1 or 1, 2."


class EvalRunForm(forms.Form):
    name = forms.CharField(max_length=200)
    eval_set = forms.ModelChoiceField(queryset=EvalSet.objects.none())
    judge_config = forms.ModelChoiceField(queryset=JudgeConfig.objects.none(), label="Judge")
    mode = forms.ChoiceField(choices=RunMode.choices, initial=RunMode.BASELINE)
    models = forms.CharField(
        max_length=2000, help_text="Candidate model names, separated by commas."
    )
    baseline = forms.CharField(
        max_length=200, required=False, help_text="Only for a run against a baseline."
    )
    turns = forms.CharField(max_length=50, initial="1", help_text="Turns to judge: 1, or 1, 2.")

    def __init__(self, *args, project: Project, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["eval_set"].queryset = EvalSet.objects.filter(project=project)
        self.fields["judge_config"].queryset = JudgeConfig.objects.filter(project=project)

    def clean_models(self) -> list[str]:
        return [m.strip() for m in self.cleaned_data["models"].split(",") if m.strip()]

    def clean_turns(self) -> list[int]:
        try:
            return [int(t) for t in self.cleaned_data["turns"].split(",") if t.strip()]
        except ValueError:
            raise forms.ValidationError(ERROR_TURNS) from None
