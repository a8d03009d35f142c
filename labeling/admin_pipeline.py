"""Admin for the data pipeline: start any stage (the add form calls the stage's service), read
runs, and restore filtered prompts (an action on prompts). Loaded by labeling/admin.py."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from flywheel.errors import DomainError
from labeling.admin import PromptAdmin
from labeling.models import PipelineRun, PipelineStage, PromptStatus, TaskKind
from labeling.pipeline.formats import FORMATS
from labeling.pipeline.synthesis import HEURISTIC_REWRITES
from labeling.services.pipeline import (
    import_run_start,
    prompts_filter,
    prompts_synthesize,
    prompts_tag,
    tasks_create_from_prompts,
)
from labeling.services.prompts import prompt_restore

ERROR_PATH = "An import needs the path of a file on the server."


class PipelineRunAddForm(forms.ModelForm):
    """Options of every stage; `clean` starts the stage through its service."""

    path = forms.CharField(required=False, help_text="Import: a file on the server.")
    format = forms.ChoiceField(choices=[("", "detect")] + [(f, f) for f in FORMATS], required=False)
    skip_invalid = forms.BooleanField(required=False, help_text="Import: keep the good rows.")
    blocklist = forms.CharField(required=False, help_text="Import, filter: comma-separated.")
    rewrites = forms.MultipleChoiceField(
        choices=[(k, k) for k in HEURISTIC_REWRITES], required=False
    )
    llm_model = forms.CharField(required=False, help_text="Tag, synthesize: an LLM model name.")
    kind = forms.ChoiceField(choices=TaskKind.choices, required=False)
    limit = forms.IntegerField(min_value=1, initial=100, required=False)

    class Meta:
        model = PipelineRun
        fields = ["project", "stage"]

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.run: PipelineRun | None = None

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        project, stage, user = data["project"], data["stage"], self.user
        filters = {"blocklist": data.get("blocklist") or ""}
        try:
            if stage == PipelineStage.IMPORT:
                if not data.get("path"):
                    raise forms.ValidationError(ERROR_PATH)
                self.run = import_run_start(
                    project=project,
                    path=data["path"],
                    format=data.get("format") or None,
                    skip_invalid=data.get("skip_invalid", False),
                    filters=filters,
                    created_by=user,
                )
            elif stage == PipelineStage.FILTER:
                self.run = prompts_filter(project=project, filters=filters, created_by=user)
            elif stage == PipelineStage.TAG:
                self.run = prompts_tag(
                    project=project, llm_model=data.get("llm_model") or "", created_by=user
                )
            elif stage == PipelineStage.SYNTHESIZE:
                self.run = prompts_synthesize(
                    project=project,
                    rewrites=data.get("rewrites") or [],
                    drafts=bool(data.get("llm_model")),
                    llm_model=data.get("llm_model") or "",
                    limit=data.get("limit") or 100,
                    created_by=user,
                )
            else:
                self.run = tasks_create_from_prompts(
                    project=project,
                    kind=data.get("kind") or TaskKind.DEMONSTRATION,
                    limit=data.get("limit") or 100,
                    created_by=user,
                )
        except DomainError as error:
            raise forms.ValidationError(str(error)) from None
        return data


@admin.register(PipelineRun)
class PipelineRunAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "stage", "status", "progress", "input_name", "created_at"]
    list_filter = ["stage", "status", "project"]
    search_fields = ["input_name", "error"]
    readonly_fields = [f.name for f in PipelineRun._meta.fields]

    def get_form(self, request, obj=None, **kwargs):
        if obj is not None:
            return super().get_form(request, obj, **kwargs)
        user = request.user

        class Bound(PipelineRunAddForm):
            def __init__(self, *args, **kw):
                super().__init__(*args, user=user, **kw)

        return Bound

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": list(PipelineRunAddForm.base_fields)})]
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a run is a record; start a new one instead

    def save_model(self, request, obj, form, change) -> None:
        obj.pk = form.run.pk
        obj.__dict__.update(form.run.__dict__)

    def save_related(self, request, form, formsets, change) -> None:
        pass

    def log_addition(self, request, obj, message):
        return super().log_addition(request, obj, "Started through the pipeline service.")

    @admin.display(description="progress")
    def progress(self, obj: PipelineRun) -> str:
        return format_html("{} / {} ({}%)", obj.done, obj.total, obj.percent)


@admin.action(description="Restore the selected filtered prompts")
def restore_filtered(modeladmin, request, queryset) -> None:
    restored = 0
    for prompt in queryset.filter(status=PromptStatus.FILTERED):
        try:
            prompt_restore(prompt=prompt, user=request.user)
            restored += 1
        except DomainError as error:
            modeladmin.message_user(request, str(error), messages.ERROR)
    modeladmin.message_user(request, f"{restored} prompt(s) restored.")


PromptAdmin.actions = [*(PromptAdmin.actions or []), restore_filtered]
