"""REST API of dataset snapshots: create (enqueues the build), list, status, download."""

from __future__ import annotations

from pathlib import Path

from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from flywheel.api import KeysetPagination
from labeling.exports.build import snapshot_create
from labeling.models import DatasetSnapshot, Role, SnapshotStatus
from labeling.selectors import project_get_for_user

ERROR_SNAPSHOT_NOT_FOUND = "No such snapshot, or you are not a member of its project."
ERROR_NOT_READY = "The snapshot is {status}; only a ready snapshot can be downloaded."
ERROR_FILE = "`file` must be one of {files}."
ERROR_FILE_ABSENT = "This snapshot has no {file}."

RESEARCHERS = [Role.RESEARCHER]
FILES = ("train.jsonl", "validation.jsonl", "README.md", "routed_out.jsonl")


class SnapshotInSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    recipe = serializers.JSONField()


class SnapshotSerializer(serializers.ModelSerializer):
    # Plain strings in the schema: "kind" and "status" enums of other apps' models would
    # collide by name in drf-spectacular (W001). Values: SnapshotKind, SnapshotStatus.
    kind = serializers.CharField(read_only=True, help_text="sft, preference or prompts")
    status = serializers.CharField(read_only=True, help_text="building, ready or failed")

    class Meta:
        model = DatasetSnapshot
        fields = [
            "id",
            "project",
            "name",
            "kind",
            "status",
            "recipe",
            "content_hash",
            "row_counts",
            "task_type_counts",
            "rows_done",
            "prompts_done",
            "prompts_total",
            "stats",
            "error",
            "created_by",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields


def _snapshot_for_user(request: Request, pk: int) -> DatasetSnapshot:
    snapshot = DatasetSnapshot.objects.filter(pk=pk).first()
    if snapshot is None:
        raise Http404(ERROR_SNAPSHOT_NOT_FOUND)
    project_get_for_user(user=request.user, project_id=snapshot.project_id, roles=RESEARCHERS)
    return snapshot


@extend_schema(
    methods=["GET"],
    responses=SnapshotSerializer(many=True),
    description="The project's dataset snapshots, newest first is not promised: keyset by id.",
)
@extend_schema(
    methods=["POST"],
    request=SnapshotInSerializer,
    responses={201: SnapshotSerializer},
    description="Create a snapshot from a recipe (see labeling.exports.recipe) and enqueue its "
    "build. A recipe that selects nothing is refused with the counts before each filter.",
)
@api_view(["GET", "POST"])
def project_snapshots(request: Request, pk: int) -> Response:
    project = project_get_for_user(user=request.user, project_id=pk, roles=RESEARCHERS)
    if request.method == "POST":
        data = SnapshotInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        snapshot = snapshot_create(
            project=project,
            name=data.validated_data["name"],
            recipe=data.validated_data["recipe"],
            created_by=request.user,
        )
        return Response(SnapshotSerializer(snapshot).data, status=status.HTTP_201_CREATED)
    paginator = KeysetPagination()
    page = paginator.paginate_queryset(DatasetSnapshot.objects.filter(project=project), request)
    return paginator.get_paginated_response(SnapshotSerializer(page, many=True).data)


@extend_schema(responses=SnapshotSerializer, description="A snapshot: status and build progress.")
@api_view(["GET"])
def snapshot_detail(request: Request, pk: int) -> Response:
    return Response(SnapshotSerializer(_snapshot_for_user(request, pk)).data)


@extend_schema(
    parameters=[OpenApiParameter("file", str, enum=list(FILES), default="train.jsonl")],
    responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    description="Download one file of a ready snapshot.",
)
@api_view(["GET"])
def snapshot_download(request: Request, pk: int) -> FileResponse | Response:
    snapshot = _snapshot_for_user(request, pk)
    name = request.query_params.get("file", "train.jsonl")
    if name not in FILES:
        return Response({"error": ERROR_FILE.format(files=", ".join(FILES))}, status=400)
    if snapshot.status != SnapshotStatus.READY:
        return Response({"error": ERROR_NOT_READY.format(status=snapshot.status)}, status=409)
    path = Path(snapshot.path) / name
    if not path.is_file():
        raise Http404(ERROR_FILE_ABSENT.format(file=name))
    download = f"{snapshot.content_hash[:12]}-{name}"
    return FileResponse(path.open("rb"), as_attachment=True, filename=download)
