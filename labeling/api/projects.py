"""Projects, who-am-I and bulk creation of prompts, answers and tasks (researchers)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from flywheel.api import KeysetPagination
from labeling.models import (
    Project,
    Prompt,
    Role,
    Task,
    TaskKind,
)
from labeling.selectors import (
    project_get_for_user,
    project_list_for_user,
    role_for_user,
    task_list,
)
from labeling.services import (
    completion_bulk_create,
    prompt_bulk_create,
    task_bulk_create,
)
from labeling.services.rubric import project_rubric_set

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
            "rubric_anchors",
            "rubric_scale_min",
            "rubric_scale_max",
            "answer_rating_max",
            "languages",
            "llm_model",
            "llm_base_url",
            "llm_price_prompt_per_mtok",
            "llm_price_completion_per_mtok",
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
    rubric = serializers.DictField(
        required=False,
        help_text='A rubric task\'s own rubric {"criteria": [...], "scale": [lo, hi], '
        '"anchors": {...}}; without it the project\'s applies.',
    )
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
            "rubric",
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


# --- the rubric (researchers) --------------------------------------------------------------


class RubricSerializer(serializers.Serializer):
    criteria = serializers.JSONField(
        help_text='[{"name": "helpfulness", "description": "...", "anchors": {"1": "..."}}]; '
        "a criterion's own anchors replace the shared ones for those points."
    )
    anchors = serializers.JSONField(
        required=False,
        default=dict,
        help_text='The written anchor of each scale point, shared by every criterion: {"1": '
        '"ignores the question", "3": "partly answers", "5": "fully answers, no errors"}.',
    )
    scale_min = serializers.IntegerField()
    scale_max = serializers.IntegerField()
    instructions = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="How to use the rubric (markdown), shown to raters and given to the judge; "
        "left out: kept as it is.",
    )


@extend_schema(
    methods=["GET"],
    responses=RubricSerializer,
    description="The project's rubric: criteria, scale and the anchor of each point (members).",
)
@extend_schema(
    methods=["PUT"],
    request=RubricSerializer,
    responses=RubricSerializer,
    description="Replace the project's rubric (researchers); an invalid one is refused with a "
    "message saying what to fix.",
)
@api_view(["GET", "PUT"])
def project_rubric(request: Request, pk: int) -> Response:
    if request.method == "PUT":
        project = project_get_for_user(user=request.user, project_id=pk, roles=RESEARCHERS)
        body = RubricSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        project = project_rubric_set(project=project, **body.validated_data)
    else:
        project = project_get_for_user(user=request.user, project_id=pk)
    return Response(
        {
            "criteria": project.rubric,
            "anchors": project.rubric_anchors,
            "scale_min": project.rubric_scale_min,
            "scale_max": project.rubric_scale_max,
            "instructions": project.rubric_instructions,
        }
    )
