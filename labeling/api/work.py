"""The labeler's loop: claim, heartbeat, submit, skip. Labelers never see gold flags, model
names or other labelers' answers."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from labeling.models import (
    Annotation,
    AnnotationStatus,
    Assignment,
    Review,
    Role,
    TaskKind,
)
from labeling.selectors import (
    project_get_for_user,
    task_get_for_user,
)
from labeling.selectors.structure import task_structure
from labeling.selectors.work import rework_answer
from labeling.services import (
    annotation_skip,
    annotation_submit,
    assignment_claim,
    assignment_heartbeat,
)
from labeling.services.rubric import rubric_of_task

WORKERS = [Role.LABELER]  # reviewers and researchers may label too (roles imply)

# --- the labeler's loop ----------------------------------------------------------------------


SHOWS_REFERENCE = (TaskKind.RUBRIC, TaskKind.PAIRWISE)


class AnswerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()


class LabelerTaskSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    messages = serializers.ListField(child=serializers.DictField())
    system = serializers.CharField()
    task_type = serializers.CharField()
    answers = AnswerSerializer(many=True)
    reference = serializers.CharField()
    criteria = serializers.ListField(child=serializers.CharField())
    scale = serializers.ListField(child=serializers.IntegerField())
    rubric = serializers.DictField(
        allow_null=True,
        help_text='Rubric tasks: {"criteria": [{"name", "description", "anchors"}], "scale": '
        '[lo, hi], "anchors"}: the written anchor of each scale point, shared, and a '
        "criterion's own where it has them (they win). Null for other kinds.",
    )
    structure = serializers.DictField(
        allow_null=True,
        help_text="Structured prompts (the text holds it all): the parts apart. long_context: "
        '{"kind", "title", "document", "question"}; function_calling: {"kind", "tools", '
        '"expected_call"}; rag: {"kind", "passages": [{"id", "title", "text"}], "question", '
        '"cited"}. The expected call and the cited ids only on rubric and pairwise tasks, as '
        "the pages show them. Null for other prompts.",
    )
    allow_ties = serializers.BooleanField()
    answer_rating_max = serializers.IntegerField()
    review_comment = serializers.CharField(allow_null=True)
    rejected_answer = serializers.DictField(
        allow_null=True,
        help_text="When a reviewer sent this task back to you: your rejected answer, in the "
        "shape the submit takes (pairwise a/b refer to this claim's order), to start the "
        "rework from. Null otherwise.",
    )


class ClaimSerializer(serializers.Serializer):
    assignment = serializers.IntegerField()
    expires_at = serializers.DateTimeField()
    task = LabelerTaskSerializer()


def _labeler_view(assignment: Assignment) -> dict:
    """What a labeler may see of a claimed task: answers in their own shuffled order, no gold
    flag, no model names (they bias judgement)."""
    task = assignment.task
    project = task.project
    rubric = rubric_of_task(task, project=project) if task.kind == TaskKind.RUBRIC else None
    texts = dict(task.completions.values_list("pk", "text"))
    rejected = (
        Annotation.objects.filter(
            task=task, annotator_id=assignment.user_id, status=AnnotationStatus.REJECTED
        )
        .values("payload", "flags", "ratings", "none_acceptable")
        .first()
    )
    review = (
        Review.objects.filter(
            annotation__task=task,
            annotation__annotator_id=assignment.user_id,
            annotation__status=AnnotationStatus.REJECTED,
        )
        .order_by("-pk")
        .values_list("comment", flat=True)
        .first()
    )
    return {
        "assignment": assignment.pk,
        "expires_at": assignment.expires_at,
        "task": {
            "id": task.pk,
            "kind": task.kind,
            "messages": task.prompt.messages,
            "system": task.prompt.system,
            "task_type": task.prompt.task_type,
            "structure": task_structure(task=task),
            "answers": [{"id": pk, "text": texts[pk]} for pk in assignment.display_order],
            # The pages show a gold reference on rubric and pairwise tasks (human evaluation).
            "reference": task.reference if task.kind in SHOWS_REFERENCE else "",
            "criteria": rubric.names if rubric else [],
            "scale": [rubric.scale_min, rubric.scale_max]
            if rubric
            else [project.rubric_scale_min, project.rubric_scale_max],
            "rubric": rubric.as_json() if rubric else None,
            "allow_ties": project.allow_ties,
            "answer_rating_max": project.answer_rating_max,
            "review_comment": review,
            "rejected_answer": rework_answer(
                kind=task.kind, display_order=assignment.display_order, **rejected
            )
            if rejected is not None
            else None,
        },
    }


@extend_schema(
    request=None,
    responses={200: ClaimSerializer, 204: None},
    description="Claim the next task (a lease that expires after the project's timeout unless "
    "renewed by a heartbeat). Returns your current lease if you hold one; 204 when there is "
    "no work for you.",
)
@api_view(["POST"])
def project_claim(request: Request, pk: int) -> Response:
    project = project_get_for_user(user=request.user, project_id=pk, roles=WORKERS)
    assignment = assignment_claim(project=project, user=request.user)
    if assignment is None:
        return Response(status=status.HTTP_204_NO_CONTENT)
    assignment = Assignment.objects.select_related("task__prompt", "task__project").get(
        pk=assignment.pk
    )
    return Response(ClaimSerializer(_labeler_view(assignment)).data)


class LeaseSerializer(serializers.Serializer):
    assignment = serializers.IntegerField(source="pk")
    task = serializers.IntegerField(source="task_id")
    status = serializers.CharField()
    expires_at = serializers.DateTimeField()


@extend_schema(request=None, responses=LeaseSerializer, description="Renew your lease on a task.")
@api_view(["POST"])
def task_heartbeat(request: Request, pk: int) -> Response:
    task = task_get_for_user(user=request.user, task_id=pk, roles=WORKERS)
    return Response(LeaseSerializer(assignment_heartbeat(task=task, user=request.user)).data)


class SubmitSerializer(serializers.Serializer):
    """Fill the fields of the task's kind; see labeling.models.annotations for the shapes."""

    text = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    draft_completion = serializers.IntegerField(required=False, allow_null=True)
    ranking = serializers.JSONField(
        required=False, help_text="Answer ids best to worst; [[a, b], c] ties a and b."
    )
    choice = serializers.JSONField(required=False, help_text="a, b, tie or both_bad")
    strength = serializers.JSONField(required=False, help_text="1 slightly, 2 clearly, 3 much")
    scores = serializers.JSONField(
        required=False, help_text='{"<answer id>": {"<criterion>": score}}'
    )
    flags = serializers.JSONField(required=False, help_text='{"<answer id>": ["harmful", ...]}')
    ratings = serializers.JSONField(required=False, help_text='{"<answer id>": rating}')
    none_acceptable = serializers.BooleanField(required=False)
    time_spent_ms = serializers.JSONField(required=False)


class AnnotationSerializer(serializers.ModelSerializer):
    annotator = serializers.CharField(source="annotator.username")
    status = serializers.CharField(
        read_only=True, help_text="submitted, accepted, rejected or skipped"
    )

    class Meta:
        model = Annotation
        fields = [
            "id",
            "task",
            "annotator",
            "kind",
            "status",
            "payload",
            "display_order",
            "time_spent_ms",
            "flags",
            "ratings",
            "none_acceptable",
            "skip_reason",
            "submitted_at",
        ]


@extend_schema(
    request=SubmitSerializer,
    responses=AnnotationSerializer,
    description="Submit your answer to a task you claimed. Submitting twice returns the first "
    "annotation. A submit after the lease expired succeeds while a slot is free.",
)
@api_view(["POST"])
def task_submit(request: Request, pk: int) -> Response:
    task = task_get_for_user(user=request.user, task_id=pk, roles=WORKERS)
    body = SubmitSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    annotation = annotation_submit(task=task, user=request.user, data=dict(body.validated_data))
    return Response(AnnotationSerializer(annotation).data)


class SkipSerializer(serializers.Serializer):
    reason = serializers.CharField(allow_blank=True)
    time_spent_ms = serializers.IntegerField(required=False, min_value=0)


@extend_schema(
    request=SkipSerializer,
    responses=AnnotationSerializer,
    description="Give a claimed task back with a reason; it is not offered to you again.",
)
@api_view(["POST"])
def task_skip(request: Request, pk: int) -> Response:
    task = task_get_for_user(user=request.user, task_id=pk, roles=WORKERS)
    body = SkipSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    annotation = annotation_skip(
        task=task,
        user=request.user,
        reason=body.validated_data["reason"],
        time_spent_ms=body.validated_data.get("time_spent_ms", 0),
    )
    return Response(AnnotationSerializer(annotation).data)
