"""Annotation lists, review and quality figures."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from flywheel.api import KeysetPagination
from labeling.api.work import AnnotationSerializer
from labeling.models import (
    Annotation,
    Review,
    Role,
)
from labeling.selectors import (
    annotation_list_for_user,
    project_get_for_user,
    task_get_for_user,
)
from labeling.selectors.quality import annotator_quality, project_quality, task_quality
from labeling.services import (
    review_create,
)

ERROR_ANNOTATION_NOT_FOUND = "No such annotation, or you may not review it."

WORKERS = [Role.LABELER]  # reviewers and researchers may label too (roles imply)
REVIEWERS = [Role.REVIEWER]

# --- annotations and review --------------------------------------------------------------------


def _int_param(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise serializers.ValidationError({name: "Must be a whole number."}) from None


@extend_schema(
    responses=AnnotationSerializer(many=True),
    parameters=[
        OpenApiParameter("annotator", int),
        OpenApiParameter("task", int),
        OpenApiParameter("status", str, description="submitted, accepted, rejected or skipped"),
        OpenApiParameter("kind", str),
    ],
    description="The project's annotations: all of them for reviewers and researchers, only "
    "your own for labelers.",
)
@api_view(["GET"])
def project_annotations(request: Request, pk: int) -> Response:
    project = project_get_for_user(user=request.user, project_id=pk, roles=WORKERS)
    annotations = annotation_list_for_user(
        user=request.user,
        project=project,
        annotator_id=_int_param(request, "annotator"),
        task_id=_int_param(request, "task"),
        status=request.query_params.get("status"),
        kind=request.query_params.get("kind"),
    )
    paginator = KeysetPagination()
    page = paginator.paginate_queryset(annotations, request)
    return paginator.get_paginated_response(AnnotationSerializer(page, many=True).data)


class ReviewInSerializer(serializers.Serializer):
    decision = serializers.CharField()
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class ReviewSerializer(serializers.ModelSerializer):
    annotation_status = serializers.CharField(source="annotation.status")
    decision = serializers.CharField(read_only=True, help_text="accept or reject")

    class Meta:
        model = Review
        fields = [
            "id",
            "annotation",
            "reviewer",
            "decision",
            "comment",
            "annotation_status",
            "created_at",
        ]


@extend_schema(
    request=ReviewInSerializer,
    responses={201: ReviewSerializer},
    description="Accept or reject an annotation (reviewers). A rejection needs a comment; the "
    "work goes back to its author.",
)
@api_view(["POST"])
def annotation_review(request: Request, pk: int) -> Response:
    annotation = Annotation.objects.filter(pk=pk).first()
    if annotation is None:
        raise Http404(ERROR_ANNOTATION_NOT_FOUND)
    project_get_for_user(user=request.user, project_id=annotation.project_id, roles=REVIEWERS)
    body = ReviewInSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    review = review_create(annotation=annotation, reviewer=request.user, **body.validated_data)
    return Response(ReviewSerializer(review).data, status=status.HTTP_201_CREATED)


# --- quality -----------------------------------------------------------------------------------


@extend_schema(
    responses=OpenApiTypes.OBJECT,
    description="Agreement (pairwise-preference %, Kendall tau-b, Krippendorff's alpha per "
    "level), gold accuracy, skip rate and time on task for the project; each figure is "
    "{value, n}, value null when undefined.",
)
@api_view(["GET"])
def project_quality_view(request: Request, pk: int) -> Response:
    project = project_get_for_user(user=request.user, project_id=pk, roles=REVIEWERS)
    return Response(project_quality(project=project))


@extend_schema(
    responses=OpenApiTypes.OBJECT,
    description="Per annotator: gold accuracy, skip rate, median time, agreement with the "
    "others, position bias (first-shown wins against gold and others), and `with_others`: "
    "pairwise agreement, Kendall tau-b and Krippendorff's alphas of this annotator against "
    "each other one on shared tasks (one unit per pair of annotations).",
)
@api_view(["GET"])
def project_annotator_quality_view(request: Request, pk: int) -> Response:
    project = project_get_for_user(user=request.user, project_id=pk, roles=REVIEWERS)
    return Response(annotator_quality(project=project))


@extend_schema(
    responses=OpenApiTypes.OBJECT,
    description="A task's agreement figures and its Bradley-Terry consensus ranking with margin.",
)
@api_view(["GET"])
def task_quality_view(request: Request, pk: int) -> Response:
    task = task_get_for_user(user=request.user, task_id=pk, roles=REVIEWERS)
    return Response(task_quality(task=task))
