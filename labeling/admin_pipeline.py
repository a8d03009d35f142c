"""Admin for the data pipeline: start any stage (the add form calls the stage's service), read
runs, and restore filtered prompts (an action on prompts). Loaded by labeling/admin.py."""

from __future__ import annotations

from pathlib import Path

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from flywheel.errors import DomainError
from labeling.admin import PromptAdmin
from labeling.models import PipelineRun, PipelineStage, PromptStatus, TaskKind
from labeling.pipeline.formats import FORMATS
from labeling.pipeline.structured import LONG_CONTEXT
from labeling.pipeline.structured_inputs import input_from_path
from labeling.pipeline.synthesis import HEURISTIC_REWRITES
from labeling.services.pipeline import (
    import_run_start,
    prompts_filter,
    prompts_synthesize,
    prompts_tag,
    tasks_create_from_prompts,
)
from labeling.services.prompts import prompt_restore
from labeling.services.structured import STRUCTURED_KINDS, prompts_synthesize_structured

ERROR_PATH = "An import needs the path of a file on the server."
ERROR_STRUCTURED_PATH = (
    "Structured synthesis needs the path of its input on the server: documents (a file or a "
    "folder), a tools JSON file, or a passages file."
)


class PipelineRunAddForm(forms.ModelForm):
    """Options of every stage; `clean` starts the stage through its service."""

    path = forms.CharField(
        required=False,
        help_text="Import: a file on the server. Structured: its input (documents, a file or a "
        "folder; tools JSON; passages JSONL).",
    )
    format = forms.ChoiceField(choices=[("", "detect")] + [(f, f) for f in FORMATS], required=False)
    skip_invalid = forms.BooleanField(required=False, help_text="Import: keep the good rows.")
    blocklist = forms.CharField(required=False, help_text="Import, filter: comma-separated.")
    rewrites = forms.MultipleChoiceField(
        choices=[(k, k) for k in HEURISTIC_REWRITES], required=False
    )
    llm_model = forms.CharField(
        required=False, help_text="Tag, synthesize, structured: an LLM model name."
    )
    llm_base_url = forms.URLField(
        required=False, assume_scheme="http", help_text="Its server (default: settings)."
    )
    price_prompt_per_mtok = forms.FloatField(
        required=False, min_value=0, help_text="LLM stages: USD per million input tokens."
    )
    price_completion_per_mtok = forms.FloatField(
        required=False, min_value=0, help_text="LLM stages: USD per million output tokens."
    )
    retag = forms.BooleanField(required=False, help_text="Tag: every prompt again.")
    llm_rewrite = forms.CharField(
        required=False, max_length=2000, help_text="Synthesize: an instruction to rewrite by."
    )
    drafts = forms.BooleanField(required=False, help_text="Synthesize: draft answers.")
    candidates = forms.IntegerField(
        required=False, min_value=0, max_value=20, help_text="Synthesize: K answers per prompt."
    )
    candidate_models = forms.CharField(
        required=False, help_text="Synthesize: comma-separated models for the K slots."
    )
    candidate_temperatures = forms.CharField(
        required=False, help_text="Synthesize: comma-separated temperatures (0-2)."
    )
    self_instruct = forms.IntegerField(
        required=False, min_value=0, help_text="Synthesize: new prompts per task type."
    )
    kind = forms.ChoiceField(choices=TaskKind.choices, required=False)
    limit = forms.IntegerField(min_value=1, initial=100, required=False)
    gold_share = forms.FloatField(
        required=False, min_value=0, max_value=1, help_text="Tasks: empty uses the project's."
    )
    structured_kind = forms.ChoiceField(
        choices=[("", "—")] + [(k, k) for k in STRUCTURED_KINDS], required=False
    )
    items = forms.IntegerField(
        min_value=1,
        initial=10,
        required=False,
        help_text="Structured: items to make (function calling, RAG), or questions per "
        "document (long context).",
    )

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
        llm = {
            "llm_model": data.get("llm_model") or "",
            "llm_base_url": data.get("llm_base_url") or "",
            "price_prompt_per_mtok": data.get("price_prompt_per_mtok") or 0.0,
            "price_completion_per_mtok": data.get("price_completion_per_mtok") or 0.0,
        }
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
                    project=project, retag=bool(data.get("retag")), created_by=user, **llm
                )
            elif stage == PipelineStage.SYNTHESIZE:
                self.run = prompts_synthesize(
                    project=project,
                    rewrites=data.get("rewrites") or [],
                    llm_rewrite=data.get("llm_rewrite") or "",
                    drafts=bool(data.get("drafts")),
                    candidates=data.get("candidates") or 0,
                    candidate_models=(data.get("candidate_models") or "").split(","),
                    candidate_temperatures=(data.get("candidate_temperatures") or "").split(","),
                    self_instruct=data.get("self_instruct") or 0,
                    limit=data.get("limit") or 100,
                    created_by=user,
                    **llm,
                )
            elif stage == PipelineStage.STRUCTURED:
                self.run = self._structured(data, llm)
            else:
                self.run = tasks_create_from_prompts(
                    project=project,
                    kind=data.get("kind") or TaskKind.DEMONSTRATION,
                    limit=data.get("limit") or 100,
                    gold_share=data.get("gold_share"),
                    created_by=user,
                )
        except DomainError as error:
            raise forms.ValidationError(str(error)) from None
        return data

    def _structured(self, data, llm) -> PipelineRun:
        kind = data.get("structured_kind") or LONG_CONTEXT
        if not data.get("path"):
            raise forms.ValidationError(ERROR_STRUCTURED_PATH)
        given = input_from_path(kind, data["path"])  # a PipelineError is a DomainError
        items = data.get("items") or 10
        return prompts_synthesize_structured(
            project=data["project"],
            kind=kind,
            questions_per_document=items if kind == LONG_CONTEXT else 2,
            count=items,
            input_name=Path(data["path"]).name,
            created_by=self.user,
            **llm,
            **given,
        )


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
