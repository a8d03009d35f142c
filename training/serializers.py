"""Serializers of the training API: output shapes for jobs, metrics and adapters, and the input
serializers that parse requests before a service acts. No business logic: the job's config is
validated by `config_resolve`, as for the admin form."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .lineage import LineageStep
from .models import Adapter, JobKind, JobStatus, PeftMethod, TrainingJob

# -- output ----------------------------------------------------------------------------------


class TrainingJobSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None)
    progress_percent = serializers.IntegerField(read_only=True)
    adapters = serializers.SerializerMethodField()
    page = serializers.SerializerMethodField()

    class Meta:
        model = TrainingJob
        fields = [
            "id",
            "project",
            "name",
            "kind",
            "status",
            "base_model",
            "snapshot",
            "parent",
            "peft_method",
            "peft_config",
            "hyperparameters",
            "config",
            "cancel_requested",
            "attempts",
            "step",
            "total_steps",
            "progress_percent",
            "eta_at",
            "error",
            "worker_host",
            "heartbeat_at",
            "resumed_from_step",
            "data_report",
            "trainable_params",
            "total_params",
            "adapter_size_bytes",
            "full_model_size_bytes",
            "peak_memory_bytes",
            "adapters",
            "page",
            "created_by",
            "created_at",
            "queued_at",
            "started_at",
            "finished_at",
        ]

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_adapters(self, job: TrainingJob) -> list[int]:
        # Prefetched by the selector: no query per row.
        return [a.pk for a in job.adapters.all()]

    @extend_schema_field(serializers.CharField())
    def get_page(self, job: TrainingJob) -> str:
        from django.urls import reverse

        return reverse("training:job-detail", args=[job.pk])


class MetricPointSerializer(serializers.Serializer):
    step = serializers.IntegerField()
    value = serializers.FloatField()


class MetricsSerializer(serializers.Serializer):
    job = serializers.IntegerField()
    status = serializers.ChoiceField(choices=JobStatus.choices)
    step = serializers.IntegerField()
    total_steps = serializers.IntegerField()
    series = serializers.DictField(
        child=MetricPointSerializer(many=True), help_text="Points per metric name, by step."
    )


class OwnerSerializer(serializers.Serializer):
    user = serializers.CharField(allow_null=True, help_text="Username of the owning researcher.")
    project = serializers.IntegerField(allow_null=True, help_text="Id of the owning project.")


class AdapterSerializer(serializers.ModelSerializer):
    project = serializers.IntegerField(source="job.project_id")
    job_kind = serializers.CharField(source="job.kind")
    owner = serializers.SerializerMethodField()

    class Meta:
        model = Adapter
        fields = [
            "id",
            "name",
            "method",
            "base_model",
            "path",
            "size_bytes",
            "merged_path",
            "job",
            "job_kind",
            "project",
            "owner",
            "created_at",
        ]

    @extend_schema_field(OwnerSerializer)
    def get_owner(self, adapter: Adapter) -> dict[str, Any]:
        return {
            "user": adapter.owner_user.username if adapter.owner_user_id else None,
            "project": adapter.owner_project_id,
        }


class LineageStepSerializer(serializers.Serializer):
    role = serializers.CharField(help_text='"base", "policy", "reward" or "this job".')
    kind = serializers.CharField()
    job = serializers.IntegerField(allow_null=True)
    adapter = serializers.IntegerField(allow_null=True)
    base_model = serializers.CharField()
    snapshot_name = serializers.CharField(allow_blank=True)
    snapshot_hash = serializers.CharField(allow_blank=True)

    def to_representation(self, step: LineageStep) -> dict[str, Any]:
        return {
            "role": step.role,
            "kind": step.kind,
            "job": step.job.pk if step.job else None,
            "adapter": step.adapter.pk if step.adapter else None,
            "base_model": step.base_model,
            "snapshot_name": step.snapshot_name,
            "snapshot_hash": step.snapshot_hash,
        }


class AdapterDetailSerializer(AdapterSerializer):
    lineage = serializers.SerializerMethodField()

    class Meta(AdapterSerializer.Meta):
        fields = [*AdapterSerializer.Meta.fields, "lineage"]

    @extend_schema_field(LineageStepSerializer(many=True))
    def get_lineage(self, adapter: Adapter) -> list[dict[str, Any]]:
        """Base model, then the adapters this one was trained from, then its own job."""
        from .lineage import job_lineage

        return LineageStepSerializer(job_lineage(job=adapter.job), many=True).data


# -- input -----------------------------------------------------------------------------------


class JobFilterSerializer(serializers.Serializer):
    project = serializers.IntegerField(required=False, min_value=1)
    kind = serializers.ChoiceField(choices=JobKind.choices, required=False)
    status = serializers.ChoiceField(choices=JobStatus.choices, required=False)


class AdapterFilterSerializer(serializers.Serializer):
    project = serializers.IntegerField(required=False, min_value=1)


class JobCreateSerializer(serializers.Serializer):
    project = serializers.IntegerField()
    name = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
    kind = serializers.ChoiceField(choices=JobKind.choices)
    base_model = serializers.CharField(
        max_length=500, help_text="A Hugging Face model name or a local path on the GPU hosts."
    )
    snapshot = serializers.IntegerField(help_text="A ready dataset snapshot of the project.")
    peft_method = serializers.ChoiceField(
        choices=PeftMethod.choices,
        required=False,
        default=PeftMethod.LORA,
        help_text="Ignored by generate jobs: their adapters bring their own.",
    )
    peft_config = serializers.DictField(
        required=False, default=dict, help_text="r, lora_alpha, lora_dropout, target_modules..."
    )
    hyperparameters = serializers.DictField(
        required=False,
        default=dict,
        help_text="Training settings (learning_rate, max_steps...) and the kind's own: "
        "policy_adapter, beta... for RL kinds; adapters, include_base, k, max_new_tokens, "
        "temperature, top_p, seed, create_ranking_tasks, limit for generate.",
    )


class MetricsQuerySerializer(serializers.Serializer):
    name = serializers.ListField(
        child=serializers.CharField(max_length=120),
        required=False,
        default=list,
        help_text="Metric names (repeat the parameter); all when absent.",
    )
    since_step = serializers.IntegerField(
        required=False, min_value=0, help_text="Only points after this step (for polling)."
    )
