"""Researchers launch and steer training from the admin; every action calls a service."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from flywheel.errors import DomainError

from .forms import TrainingJobForm
from .models import Adapter, MetricPoint, TrainingJob
from .services import job_cancel, job_clone, job_create, job_launch, job_reap_lost, job_retry


def _each(modeladmin, request, queryset, action, verb: str) -> None:
    done = 0
    for job in queryset:
        try:
            action(job)
            done += 1
        except DomainError as exc:
            modeladmin.message_user(request, f"Job #{job.pk}: {exc}", messages.ERROR)
    if done:
        modeladmin.message_user(request, f"{verb} {done} job(s).", messages.SUCCESS)


@admin.register(TrainingJob)
class TrainingJobAdmin(admin.ModelAdmin):
    form = TrainingJobForm
    list_display = [
        "id",
        "name",
        "project",
        "kind",
        "peft_method",
        "status",
        "progress",
        "rows_cut",
        "worker_host",
        "created_at",
    ]
    list_filter = ["status", "kind", "peft_method"]
    list_select_related = ["project"]
    search_fields = ["name", "base_model"]
    actions = ["launch", "cancel", "clone", "retry", "reap_lost"]
    readonly_fields = [
        "status",
        "page_link",
        "config",
        "data_report",
        "step",
        "total_steps",
        "eta_at",
        "error",
        "worker_host",
        "worker_pid",
        "heartbeat_at",
        "attempts",
        "resumed_from_step",
        "trainable_params",
        "total_params",
        "adapter_size_bytes",
        "full_model_size_bytes",
        "peak_memory_bytes",
        "hardware",
        "output_dir",
        "parent",
        "created_by",
    ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:  # a created job's config is frozen: clone it to change it
            kwargs["form"] = admin.ModelAdmin.form
            kwargs["fields"] = ["name"]
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is not None:
            return [(None, {"fields": ["name", *self.readonly_fields]})]
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    @admin.display(description="Progress")
    def progress(self, job: TrainingJob) -> str:
        return f"{job.step}/{job.total_steps}" if job.total_steps else "—"

    @admin.display(description="Truncated / dropped")
    def rows_cut(self, job: TrainingJob) -> str:
        before = (job.data_report or {}).get("before", {}).get("train", {})
        if not before:
            return "—"
        return ", ".join(f"{t}: {c['truncated']}/{c['dropped']}" for t, c in sorted(before.items()))

    @admin.display(description="Job page")
    def page_link(self, job: TrainingJob) -> str:
        url = reverse("training:job-detail", args=[job.pk])
        return format_html('<a href="{}">Live charts and diagnostics</a>', url)

    def save_model(self, request: HttpRequest, obj: TrainingJob, form, change: bool) -> None:
        if change:
            obj.save(update_fields=["name"])
            return
        job = job_create(
            project=form.cleaned_data["project"],
            created_by=request.user,
            kind=form.cleaned_data["kind"],
            base_model=form.cleaned_data["base_model"],
            snapshot=form.cleaned_data["snapshot"],
            peft_method=form.cleaned_data["peft_method"],
            peft_config=form.peft_values(),
            hyperparameters=form.hyperparameters(),
            name=form.cleaned_data.get("name", ""),
        )
        obj.__dict__.update({k: v for k, v in job.__dict__.items() if not k.startswith("_")})
        obj._state.adding = False

    @admin.action(description="Launch on a GPU worker")
    def launch(self, request, queryset: QuerySet[TrainingJob]) -> None:
        _each(self, request, queryset, lambda job: job_launch(job=job), "Launched")

    @admin.action(description="Cancel (a running job stops at its next step)")
    def cancel(self, request, queryset: QuerySet[TrainingJob]) -> None:
        _each(self, request, queryset, lambda job: job_cancel(job=job), "Cancelled")

    @admin.action(description="Clone as a new draft")
    def clone(self, request, queryset: QuerySet[TrainingJob]) -> None:
        _each(
            self,
            request,
            queryset,
            lambda job: job_clone(job=job, created_by=request.user),
            "Cloned",
        )

    @admin.action(description="Retry (resumes from the last checkpoint)")
    def retry(self, request, queryset: QuerySet[TrainingJob]) -> None:
        _each(self, request, queryset, lambda job: job_retry(job=job), "Retried")

    @admin.action(description="Mark jobs with a stale heartbeat as failed (worker lost)")
    def reap_lost(self, request, queryset: QuerySet[TrainingJob]) -> None:
        reaped = job_reap_lost()
        self.message_user(request, f"{len(reaped)} job(s) marked failed: worker lost.")


@admin.register(Adapter)
class AdapterAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "method",
        "base_model",
        "size_bytes",
        "owner_user",
        "owner_project",
        "job",
        "merged_path",
    ]
    list_filter = ["method"]
    list_select_related = ["owner_user", "owner_project", "job"]
    actions = ["merge"]
    readonly_fields = ["job", "path", "size_bytes", "base_model", "method", "merged_path"]

    @admin.action(description="Merge into the base model (LoRA, DoRA)")
    def merge(self, request, queryset: QuerySet[Adapter]) -> None:
        from .services import adapter_merge_enqueue

        for adapter in queryset:
            try:
                adapter_merge_enqueue(adapter=adapter)
            except DomainError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            self.message_user(request, f"Merging {adapter} on a GPU worker.")


@admin.register(MetricPoint)
class MetricPointAdmin(admin.ModelAdmin):
    list_display = ["job", "step", "name", "value"]
    list_filter = ["name"]
    list_select_related = ["job"]
