"""Training API: jobs (list, detail, create, launch, cancel, clone, retry, metrics) and adapters
(list, detail with lineage, merge). Researchers of the job's project only. Input serializers
parse, the same services as the admin act, output serializers answer."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from flywheel.api import KeysetPagination
from labeling.models import DatasetSnapshot, Role
from labeling.selectors import project_get_for_user

from .config import ConfigError
from .models import TrainingJob
from .selectors import (
    adapter_get_for_user,
    adapter_list_for_user,
    job_get_for_user,
    job_search_for_user,
    metric_points_since,
)
from .serializers import (
    AdapterDetailSerializer,
    AdapterFilterSerializer,
    AdapterSerializer,
    JobCreateSerializer,
    JobFilterSerializer,
    MetricsQuerySerializer,
    MetricsSerializer,
    TrainingJobSerializer,
)
from .services import (
    adapter_merge_enqueue,
    job_cancel,
    job_check_alive,
    job_clone,
    job_create,
    job_launch,
    job_retry,
)

ERROR_SNAPSHOT = "No ready snapshot with this id in the project."


class NewestFirst(KeysetPagination):
    ordering = "-id"


def _filters(serializer_class, request: Request) -> dict:
    filters = serializer_class(data=request.query_params)
    filters.is_valid(raise_exception=True)
    return filters.validated_data


class TrainingJobViewSet(viewsets.ReadOnlyModelViewSet):
    """Training and generate jobs of the caller's projects (researchers), newest first."""

    serializer_class = TrainingJobSerializer
    pagination_class = NewestFirst

    def get_queryset(self):
        values = _filters(JobFilterSerializer, self.request)
        return job_search_for_user(
            user=self.request.user,
            project_id=values.get("project"),
            kind=values.get("kind"),
            status=values.get("status"),
        )

    def get_object(self) -> TrainingJob:
        return job_check_alive(
            job=job_get_for_user(user=self.request.user, job_id=self.kwargs["pk"])
        )

    @extend_schema(parameters=[JobFilterSerializer])
    def list(self, request: Request) -> Response:
        return super().list(request)

    @extend_schema(request=JobCreateSerializer, responses={201: TrainingJobSerializer})
    def create(self, request: Request) -> Response:
        """A draft job; its config is validated as in the admin form (400 names the field).
        Launch it with `launch`."""
        data = JobCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        project = project_get_for_user(
            user=request.user, project_id=values["project"], roles=[Role.RESEARCHER]
        )
        snapshot = DatasetSnapshot.objects.filter(project=project, pk=values["snapshot"]).first()
        if snapshot is None:
            raise serializers.ValidationError({"snapshot": [ERROR_SNAPSHOT]})
        try:
            job = job_create(
                project=project,
                created_by=request.user,
                kind=values["kind"],
                base_model=values["base_model"],
                snapshot=snapshot,
                peft_method=values["peft_method"],
                peft_config=values["peft_config"],
                hyperparameters=values["hyperparameters"],
                name=values["name"],
            )
        except ConfigError as exc:
            raise serializers.ValidationError({exc.field: [str(exc)]}) from None
        return Response(TrainingJobSerializer(job).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: TrainingJobSerializer})
    @action(detail=True, methods=["post"])
    def launch(self, request: Request, pk: str) -> Response:
        """Draft to queued: a GPU worker picks it up."""
        return Response(TrainingJobSerializer(job_launch(job=self.get_object())).data)

    @extend_schema(request=None, responses={200: TrainingJobSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        """Draft or queued: cancelled now. Running: stops at its next step (or prompt)."""
        return Response(TrainingJobSerializer(job_cancel(job=self.get_object())).data)

    @extend_schema(request=None, responses={201: TrainingJobSerializer})
    @action(detail=True, methods=["post"])
    def clone(self, request: Request, pk: str) -> Response:
        """A new draft with the same settings."""
        clone = job_clone(job=self.get_object(), created_by=request.user)
        return Response(TrainingJobSerializer(clone).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: TrainingJobSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str) -> Response:
        """Failed or cancelled to queued; training resumes from its last checkpoint, a
        generate job from its first prompt without completions."""
        return Response(TrainingJobSerializer(job_retry(job=self.get_object())).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("name", str, many=True, description="Metric names; all if absent."),
            OpenApiParameter("since_step", int, description="Only points after this step."),
        ],
        responses={200: MetricsSerializer},
    )
    @action(detail=True, methods=["get"])
    def metrics(self, request: Request, pk: str) -> Response:
        """Metric series by name; poll with `since_step` set to the last step seen."""
        job = self.get_object()
        query = MetricsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        series = metric_points_since(
            job=job,
            names=query.validated_data["name"],
            since_step=query.validated_data.get("since_step"),
        )
        return Response(
            MetricsSerializer(
                {
                    "job": job.pk,
                    "status": job.status,
                    "step": job.step,
                    "total_steps": job.total_steps,
                    "series": {
                        name: [{"step": s, "value": v} for s, v in points]
                        for name, points in series.items()
                    },
                }
            ).data
        )


class AdapterViewSet(viewsets.ReadOnlyModelViewSet):
    """Adapters left by the jobs of the caller's projects, with owner and lineage."""

    pagination_class = NewestFirst

    def get_serializer_class(self):
        return AdapterDetailSerializer if self.action == "retrieve" else AdapterSerializer

    def get_queryset(self):
        values = _filters(AdapterFilterSerializer, self.request)
        return adapter_list_for_user(user=self.request.user, project_id=values.get("project"))

    def get_object(self):
        return adapter_get_for_user(user=self.request.user, adapter_id=self.kwargs["pk"])

    @extend_schema(parameters=[AdapterFilterSerializer])
    def list(self, request: Request) -> Response:
        return super().list(request)

    @extend_schema(request=None, responses={202: AdapterSerializer})
    @action(detail=True, methods=["post"])
    def merge(self, request: Request, pk: str) -> Response:
        """Merge a LoRA or DoRA adapter into its base on a GPU worker; `merged_path` is set
        when it is done."""
        adapter = self.get_object()
        adapter_merge_enqueue(adapter=adapter)
        return Response(AdapterSerializer(adapter).data, status=status.HTTP_202_ACCEPTED)
