import re

from django import forms
from django.contrib import admin, messages

from flywheel.errors import DomainError
from labeling.exports.build import recipe_check, snapshot_create
from labeling.models import (
    Annotation,
    Assignment,
    Completion,
    DatasetSnapshot,
    Membership,
    Project,
    Prompt,
    Review,
    Task,
    TaskCompletion,
)
from labeling.services import lease_expire_due
from labeling.services.rubric import RubricError, rubric_clean


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


ERROR_LANGUAGES = 'Languages are a list of ISO 639-1 codes, like ["en", "de"], or [] for any.'


class ProjectAdminForm(forms.ModelForm):
    """The rubric is checked by the same rule as the API's (labeling.services.rubric) and
    stored in its normal form. ModelAdmin supplies the model and fields."""

    def clean_languages(self):
        languages = self.cleaned_data.get("languages") or []
        if not isinstance(languages, list) or not all(
            isinstance(code, str) and re.fullmatch(r"[a-z]{2,3}", code) for code in languages
        ):
            raise forms.ValidationError(ERROR_LANGUAGES)
        return languages

    def clean(self):
        data = super().clean()
        fields = [
            "rubric",
            "rubric_anchors",
            "rubric_scale_min",
            "rubric_scale_max",
            "rubric_instructions",
        ]
        if any(name in self.errors for name in fields):
            return data
        try:
            rubric = rubric_clean(
                criteria=data.get("rubric"),
                anchors=data.get("rubric_anchors"),
                scale_min=data.get("rubric_scale_min"),
                scale_max=data.get("rubric_scale_max"),
                instructions=data.get("rubric_instructions"),
            )
        except RubricError as error:
            field = {
                "anchors": "rubric_anchors",
                "scale": "rubric_scale_max",
                "instructions": "rubric_instructions",
            }.get(error.part, "rubric")
            raise forms.ValidationError({field: str(error)}) from None
        stored = rubric.as_json()
        data["rubric"], data["rubric_anchors"] = stored["criteria"], stored["anchors"]
        return data


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    form = ProjectAdminForm
    list_display = ["name", "slug", "overlap", "claim_timeout_minutes", "gold_rate", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["project", "user", "role"]
    list_filter = ["role", "project"]
    autocomplete_fields = ["user", "project"]


class DatasetSnapshotAddForm(forms.ModelForm):
    recipe = forms.JSONField(
        initial=dict, help_text='A recipe (see labeling.exports.recipe), e.g. {"kind": "sft"}.'
    )

    class Meta:
        model = DatasetSnapshot
        fields = ["project", "name", "recipe"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            recipe_check(project=data["project"], recipe=data["recipe"])
        except DomainError as error:
            raise forms.ValidationError(str(error)) from None
        return data


@admin.register(DatasetSnapshot)
class DatasetSnapshotAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "project",
        "kind",
        "status",
        "progress",
        "short_hash",
        "created_at",
    ]
    search_fields = ["name", "content_hash"]
    list_filter = ["kind", "status", "project"]
    readonly_fields = [f.name for f in DatasetSnapshot._meta.fields]
    actions = ["build_again"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = DatasetSnapshotAddForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["project", "name", "recipe"]
        return super().get_fields(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # snapshots are immutable; a new recipe makes a new snapshot

    def save_model(self, request, obj, form, change) -> None:
        created = snapshot_create(
            project=form.cleaned_data["project"],
            name=form.cleaned_data["name"],
            recipe=form.cleaned_data["recipe"],
            created_by=request.user,
        )
        obj.pk = created.pk
        obj.__dict__.update(created.__dict__)

    @admin.display(description="hash", ordering="content_hash")
    def short_hash(self, obj: DatasetSnapshot) -> str:
        return obj.content_hash[:12]

    @admin.display(description="progress")
    def progress(self, obj: DatasetSnapshot) -> str:
        if obj.status == "building":
            return f"{obj.prompts_done} / {obj.prompts_total} prompts, {obj.rows_done} rows"
        return ", ".join(f"{k} {v}" for k, v in obj.row_counts.items()) or obj.status

    @admin.action(description="Build again from the same recipe (a new snapshot)")
    def build_again(self, request, queryset) -> None:
        made = 0
        for snapshot in queryset:
            try:
                snapshot_create(
                    project=snapshot.project,
                    name=snapshot.name,
                    recipe=snapshot.recipe,
                    created_by=request.user,
                )
                made += 1
            except DomainError as error:
                self.message_user(request, f"{snapshot.name}: {error}", messages.ERROR)
        if made:
            self.message_user(request, f"{made} new snapshot(s) queued for building.")


class CompletionInline(admin.TabularInline):
    model = Completion
    extra = 0
    fields = ["model_name", "text", "params"]


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["id", "__str__", "project", "task_type", "status", "source"]
    list_filter = ["status", "task_type", "project"]
    search_fields = ["content_hash", "source"]
    readonly_fields = ["content_hash", "created_at"]
    inlines = [CompletionInline]


class TaskCompletionInline(admin.TabularInline):
    model = TaskCompletion
    extra = 0
    raw_id_fields = ["completion"]


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "project",
        "kind",
        "status",
        "is_gold",
        "required_annotations",
        "submitted_count",
        "active_leases",
    ]
    list_filter = ["kind", "status", "is_gold", "project"]
    raw_id_fields = ["prompt"]
    # Counters move only through the assignment services, under their locks.
    readonly_fields = ["submitted_count", "active_leases", "status", "created_at"]
    inlines = [TaskCompletionInline]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["id", "task", "user", "status", "claimed_at", "expires_at"]
    list_filter = ["status", "project"]
    raw_id_fields = ["task", "user"]
    readonly_fields = [f.name for f in Assignment._meta.fields]
    actions = ["expire_due"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Expire overdue leases now (returns their slots)")
    def expire_due(self, request, queryset) -> None:
        expired = lease_expire_due()
        self.message_user(request, f"{expired} overdue lease(s) expired.", messages.SUCCESS)


class ReviewInline(admin.TabularInline):
    model = Review
    extra = 0
    readonly_fields = ["reviewer", "decision", "comment", "created_at"]


@admin.register(Annotation)
class AnnotationAdmin(admin.ModelAdmin):
    list_display = ["id", "task", "annotator", "kind", "status", "gold_correct", "submitted_at"]
    list_filter = ["kind", "status", "project"]
    raw_id_fields = ["task", "annotator"]
    readonly_fields = [f.name for f in Annotation._meta.fields]
    inlines = [ReviewInline]

    def has_add_permission(self, request) -> bool:
        return False  # annotations come from the submit service


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ["id", "annotation", "reviewer", "decision", "created_at"]
    list_filter = ["decision"]
    raw_id_fields = ["annotation", "reviewer"]


# The data pipeline's admin (PipelineRun, the restore action on prompts) lives apart.
from labeling import admin_pipeline  # noqa: E402, F401
