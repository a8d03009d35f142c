"""REST API of labeling: bulk creation, the labeler's claim/heartbeat/submit/skip, annotation
lists, review and quality. Thin: input serializers validate, a service or selector acts, an
output serializer answers. Labelers never see gold flags, model names or others' answers."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from flywheel.api import KeysetPagination
from labeling.models import (
    Annotation,
    AnnotationStatus,
    Assignment,
    Project,
    Prompt,
    Review,
    Role,
    Task,
    TaskKind,
)
from labeling.selectors import (
    annotation_list_for_user,
    project_get_for_user,
    project_list_for_user,
    role_for_user,
    task_get_for_user,
    task_list,
)
from labeling.selectors.quality import annotator_quality, project_quality, task_quality
from labeling.services import (
    annotation_skip,
    annotation_submit,
    assignment_claim,
    assignment_heartbeat,
    completion_bulk_create,
    prompt_bulk_create,
    review_create,
    task_bulk_create,
)
from labeling.services.payloads import criteria_for

ERROR_ANNOTATION_NOT_FOUND = "No such annotation, or you may not review it."

WORKERS = [Role.LABELER]  # reviewers and researchers may label too (roles imply)
REVIEWERS = [Role.REVIEWER]
RESEARCHERS = [Role.RESEARCHER]


# --- projects ------------------------------------------------------------------------------


class ProjectSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "slug",
            "description",
            "guidelines",
            "task_types",
            "k_outputs",
            "overlap",
            "claim_timeout_minutes",
            "allow_ties",
            "rubric",
            "rubric_scale_min",
            "rubric_scale_max",
            "answer_rating_max",
            "role",
        ]

    def get_role(self, project: Project) -> str | None:
        return role_for_user(user=self.context["request"].user, project=project)


class ProjectViewSet(viewsets.ReadOnlyModelViewSet):
    """Projects the caller is a member of; others do not exist for them (404)."""

    serializer_class = ProjectSerializer

    def get_queryset(self):
        return project_list_for_user(user=self.request.user).order_by("id")


class MeSerializer(serializers.ModelSerializer):
    class Meta:
        model = get_user_model()
        fields = ["id", "username", "is_superuser"]


@extend_schema(responses=MeSerializer)
@api_view(["GET"])
def me(request: Request) -> Response:
    """Who the caller is (session or `Authorization: Token …`)."""
    return Response(MeSerializer(request.user).data)


# --- bulk creation (researchers) -----------------------------------------------------------


class MessageSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=["system", "user", "assistant"])
    content = serializers.CharField(allow_blank=True, trim_whitespace=False)


class CompletionInSerializer(serializers.Serializer):
    text = serializers.CharField(trim_whitespace=False)
    model_name = serializers.CharField(required=False, allow_blank=True)
    params = serializers.DictField(required=False)
    meta = serializers.DictField(required=False)


class PromptInSerializer(serializers.Serializer):
    messages = MessageSerializer(many=True)
    system = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    task_type = serializers.CharField(required=False, allow_blank=True)
    source = serializers.CharField(required=False, allow_blank=True)
    collected_at = serializers.DateTimeField(required=False, allow_null=True)
    meta = serializers.DictField(required=False)
    completions = CompletionInSerializer(many=True, required=False)


class PromptBulkSerializer(serializers.Serializer):
    prompts = PromptInSerializer(many=True, allow_empty=False, max_length=10_000)


class CompletionOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    model_name = serializers.CharField()
    params = serializers.DictField()


class PromptSerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True, help_text="active, filtered or archived")

    class Meta:
        model = Prompt
        fields = [
            "id",
            "messages",
            "system",
            "task_type",
            "source",
            "collected_at",
            "status",
            "content_hash",
            "meta",
        ]


class PromptWithCompletionsSerializer(PromptSerializer):
    completions = CompletionOutSerializer(many=True, read_only=True)

    class Meta(PromptSerializer.Meta):
        fields = [*PromptSerializer.Meta.fields, "completions"]


@extend_schema(
    methods=["GET"],
    responses=PromptSerializer(many=True),
    description="The project's prompts, oldest first (researchers).",
)
@extend_schema(
    methods=["POST"],
    request=PromptBulkSerializer,
    responses={201: PromptWithCompletionsSerializer(many=True)},
    description="Create prompts with their candidate answers in one call (all or nothing). "
    "A conversation the project has already comes back as the existing prompt.",
)
@api_view(["GET", "POST"])
def project_prompts(request: Request, pk: int) -> Response:
    project = project_get_for_user(user=request.user, project_id=pk, roles=RESEARCHERS)
    if request.method == "GET":
        paginator = KeysetPagination()
        page = paginator.paginate_queryset(Prompt.objects.filter(project=project), request)
        return paginator.get_paginated_response(PromptSerializer(page, many=True).data)
    body = PromptBulkSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    prompts = prompt_bulk_create(project=project, prompts=body.validated_data["prompts"])
    prompts = Prompt.objects.filter(pk__in=[p.pk for p in prompts]).prefetch_related("completions")
    return Response(
        PromptWithCompletionsSerializer(prompts, many=True).data, status=status.HTTP_201_CREATED
    )


class CompletionBulkItemSerializer(CompletionInSerializer):
    prompt = serializers.IntegerField()


class CompletionBulkSerializer(serializers.Serializer):
    completions = CompletionBulkItemSerializer(many=True, allow_empty=False, max_length=10_000)


@extend_schema(
    request=CompletionBulkSerializer,
    responses={201: CompletionOutSerializer(many=True)},
    description="Add candidate answers to the project's prompts (all or nothing).",
)
@api_view(["POST"])
def project_completions(request: Request, pk: int) -> Response:
    project = project_get_for_user(user=request.user, project_id=pk, roles=RESEARCHERS)
    body = CompletionBulkSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    created = completion_bulk_create(
        project=project, completions=body.validated_data["completions"]
    )
    return Response(
        CompletionOutSerializer(created, many=True).data, status=status.HTTP_201_CREATED
    )


class TaskInSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=TaskKind.choices)
    prompt = serializers.IntegerField()
    completions = serializers.ListField(child=serializers.IntegerField(), required=False)
    required_annotations = serializers.IntegerField(required=False, min_value=1, max_value=100)
    is_gold = serializers.BooleanField(required=False)
    gold_answer = serializers.JSONField(required=False, allow_null=True)
    reference = serializers.CharField(required=False, allow_blank=True)
    source = serializers.DictField(required=False)
    meta = serializers.DictField(required=False)


class TaskBulkSerializer(serializers.Serializer):
    tasks = TaskInSerializer(many=True, allow_empty=False, max_length=10_000)


class TaskSerializer(serializers.ModelSerializer):
    """A task as researchers and reviewers see it, counters included."""

    completions = serializers.SerializerMethodField()
    kind = serializers.CharField(read_only=True)
    status = serializers.CharField(read_only=True, help_text="open, full, complete or archived")

    class Meta:
        model = Task
        fields = [
            "id",
            "kind",
            "status",
            "prompt",
            "completions",
            "required_annotations",
            "submitted_count",
            "active_leases",
            "is_gold",
            "gold_answer",
            "reference",
            "source",
            "meta",
            "created_at",
        ]

    def get_completions(self, task: Task) -> list[int]:
        links = sorted(task.task_completions.all(), key=lambda link: link.position)
        return [link.completion_id for link in links]


@extend_schema(
    methods=["GET"],
    responses=TaskSerializer(many=True),
    parameters=[
        OpenApiParameter("status", str, description="open, full, complete or archived"),
        OpenApiParameter("kind", str, description="demonstration, ranking, pairwise or rubric"),
    ],
    description="The project's tasks with their counters (reviewers and researchers).",
)
@extend_schema(
    methods=["POST"],
    request=TaskBulkSerializer,
    responses={201: TaskSerializer(many=True)},
    description="Create tasks from prompts and their answers (researchers; all or nothing).",
)
@api_view(["GET", "POST"])
def project_tasks(request: Request, pk: int) -> Response:
    if request.method == "GET":
        project = project_get_for_user(user=request.user, project_id=pk, roles=REVIEWERS)
        tasks = task_list(
            project=project,
            status=request.query_params.get("status"),
            kind=request.query_params.get("kind"),
        )
        paginator = KeysetPagination()
        page = paginator.paginate_queryset(tasks, request)
        return paginator.get_paginated_response(TaskSerializer(page, many=True).data)
    project = project_get_for_user(user=request.user, project_id=pk, roles=RESEARCHERS)
    body = TaskBulkSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    created = task_bulk_create(project=project, tasks=body.validated_data["tasks"])
    tasks = Task.objects.filter(pk__in=[t.pk for t in created]).prefetch_related("task_completions")
    return Response(TaskSerializer(tasks, many=True).data, status=status.HTTP_201_CREATED)


# --- the labeler's loop ----------------------------------------------------------------------


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
    allow_ties = serializers.BooleanField()
    answer_rating_max = serializers.IntegerField()
    review_comment = serializers.CharField(allow_null=True)


class ClaimSerializer(serializers.Serializer):
    assignment = serializers.IntegerField()
    expires_at = serializers.DateTimeField()
    task = LabelerTaskSerializer()


def _labeler_view(assignment: Assignment) -> dict:
    """What a labeler may see of a claimed task: answers in their own shuffled order, no gold
    flag, no model names (they bias judgement)."""
    task = assignment.task
    project = task.project
    texts = dict(task.completions.values_list("pk", "text"))
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
            "answers": [{"id": pk, "text": texts[pk]} for pk in assignment.display_order],
            "reference": task.reference if task.kind == TaskKind.RUBRIC else "",
            "criteria": criteria_for(project) if task.kind == TaskKind.RUBRIC else [],
            "scale": [project.rubric_scale_min, project.rubric_scale_max],
            "allow_ties": project.allow_ties,
            "answer_rating_max": project.answer_rating_max,
            "review_comment": review,
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
    "others and position bias (first-shown wins against gold and others).",
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
