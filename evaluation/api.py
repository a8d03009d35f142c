"""Evaluation API: judge templates and configs, runs with progress, results, judgments,
cancel and resume (eval sets are in api_sets.py). Input serializers validate, a service acts,
an output serializer answers."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from evaluation import services
from evaluation.models import EvalRun, EvalSet, JudgeConfig, JudgeTemplate, Judgment
from evaluation.selectors import (
    READ_ROLES,
    WRITE_ROLES,
    eval_run_get_for_user,
    eval_run_list_for_user,
    eval_run_progress,
    judge_config_list_for_user,
    judge_template_list_for_user,
    judgment_list,
)
from flywheel.api import KeysetPagination
from labeling.selectors import project_get_for_user

# -- output ----------------------------------------------------------------------------------


class JudgeTemplateSerializer(serializers.ModelSerializer):
    class Meta:
        model = JudgeTemplate
        fields = [
            "id",
            "project",
            "name",
            "kind",
            "parser",
            "uses_reference",
            "multi_turn",
            "system_prompt",
            "prompt",
            "dimensions",
            "rubric",
            "score_min",
            "score_max",
            "version",
            "builtin",
        ]


class JudgeConfigSerializer(serializers.ModelSerializer):
    class Meta:
        model = JudgeConfig
        fields = [
            "id",
            "project",
            "name",
            "base_url",
            "model",
            "api_key_env",
            "temperature",
            "max_tokens",
            "trials",
            "both_orders",
            "max_concurrency",
            "timeout_s",
            "max_retries",
            "price_prompt_per_mtok",
            "price_completion_per_mtok",
            "template",
            "reference_template",
            "multi_turn_template",
            "multi_turn_reference_template",
        ]


class ProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField()
    total = serializers.IntegerField()
    percent = serializers.FloatField()
    eta_s = serializers.FloatField(allow_null=True)
    calls_made = serializers.IntegerField()
    cached = serializers.IntegerField()
    parse_failures = serializers.IntegerField()
    call_errors = serializers.IntegerField()
    tokens = serializers.IntegerField()
    cost = serializers.FloatField()


class EvalRunSerializer(serializers.ModelSerializer):
    models = serializers.ListField(source="candidate_models", child=serializers.CharField())
    progress = serializers.SerializerMethodField()

    class Meta:
        model = EvalRun
        fields = [
            "id",
            "project",
            "eval_set",
            "judge_config",
            "name",
            "mode",
            "models",
            "baseline",
            "turns",
            "status",
            "error",
            "items_total",
            "progress",
            "created_at",
            "started_at",
            "finished_at",
        ]

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, run: EvalRun) -> dict:
        return ProgressSerializer(eval_run_progress(run=run)).data


class JudgmentSerializer(serializers.ModelSerializer):
    question_id = serializers.CharField(source="item.question.question_id")
    category = serializers.CharField(source="item.question.category")
    model_a = serializers.CharField(source="item.model_a")
    model_b = serializers.CharField(source="item.model_b")
    turn = serializers.IntegerField(source="item.turn")

    class Meta:
        model = Judgment
        fields = [
            "id",
            "question_id",
            "category",
            "turn",
            "model_a",
            "model_b",
            "rater",
            "rater_group",
            "order",
            "trial",
            "template_version",
            "status",
            "raw_output",
            "verdict",
            "winner",
            "score",
            "dimension_scores",
            "error",
            "prompt_tokens",
            "completion_tokens",
            "latency_s",
            "cost",
            "cached",
        ]


# -- input -----------------------------------------------------------------------------------


class JudgeTemplateCreateSerializer(serializers.Serializer):
    project = serializers.IntegerField()
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=["pairwise", "single"])
    parser = serializers.ChoiceField(choices=["verdict", "rating", "json"])
    prompt = serializers.CharField()
    system_prompt = serializers.CharField(required=False, default="", allow_blank=True)
    uses_reference = serializers.BooleanField(required=False, default=False)
    multi_turn = serializers.BooleanField(required=False, default=False)
    dimensions = serializers.DictField(required=False, default=dict)
    rubric = serializers.DictField(
        required=False,
        default=dict,
        help_text='{"criteria": [{"name", "description", "anchors"}], "anchors": {"1": ...}} '
        "on the template's scale; filled into {rubric} and shown to human raters.",
    )
    score_min = serializers.IntegerField(required=False, default=1)
    score_max = serializers.IntegerField(required=False, default=10)


class JudgeConfigCreateSerializer(serializers.Serializer):
    project = serializers.IntegerField()
    name = serializers.CharField(max_length=200)
    base_url = serializers.URLField()
    model = serializers.CharField(max_length=200)
    family = serializers.ChoiceField(
        choices=["pairwise", "single", "multidimensional", "rubric"],
        required=False,
        default="pairwise",
        help_text="Built-in templates; rubric grades by the project's own rubric and anchors.",
    )
    template = serializers.IntegerField(required=False, allow_null=True, default=None)
    reference_template = serializers.IntegerField(required=False, allow_null=True, default=None)
    multi_turn_template = serializers.IntegerField(required=False, allow_null=True, default=None)
    multi_turn_reference_template = serializers.IntegerField(
        required=False, allow_null=True, default=None
    )
    api_key_env = serializers.CharField(required=False, default="FLYWHEEL_LLM_API_KEY")
    temperature = serializers.FloatField(required=False, default=0.0, min_value=0, max_value=2)
    max_tokens = serializers.IntegerField(required=False, default=1024, min_value=1)
    trials = serializers.IntegerField(required=False, default=1)
    both_orders = serializers.BooleanField(required=False, default=True)
    max_concurrency = serializers.IntegerField(required=False, default=8)
    timeout_s = serializers.FloatField(required=False, default=60.0, min_value=0.1)
    max_retries = serializers.IntegerField(required=False, default=5, min_value=0)
    price_prompt_per_mtok = serializers.FloatField(required=False, default=0.0, min_value=0)
    price_completion_per_mtok = serializers.FloatField(required=False, default=0.0, min_value=0)


class EvalRunCreateSerializer(serializers.Serializer):
    project = serializers.IntegerField()
    eval_set = serializers.IntegerField()
    judge_config = serializers.IntegerField()
    name = serializers.CharField(max_length=200)
    mode = serializers.ChoiceField(choices=["baseline", "round_robin", "single"])
    models = serializers.ListField(child=serializers.CharField(), min_length=1)
    baseline = serializers.CharField(required=False, default="", allow_blank=True)
    turns = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, default=[1]
    )


# -- views -----------------------------------------------------------------------------------


def _project(request: Request, project_id: int, *, write: bool = True):
    roles = WRITE_ROLES if write else READ_ROLES
    return project_get_for_user(user=request.user, project_id=project_id, roles=roles)


def _template(project, template_id: int | None) -> JudgeTemplate | None:
    if template_id is None:
        return None
    return get_object_or_404(
        JudgeTemplate.objects.filter(project__isnull=True)
        | JudgeTemplate.objects.filter(project=project),
        pk=template_id,
    )


class JudgeTemplateViewSet(viewsets.ReadOnlyModelViewSet):
    """Built-in templates and the caller's projects' own."""

    serializer_class = JudgeTemplateSerializer

    def get_queryset(self):
        return judge_template_list_for_user(user=self.request.user).order_by("id")

    @extend_schema(request=JudgeTemplateCreateSerializer, responses={201: JudgeTemplateSerializer})
    def create(self, request: Request) -> Response:
        data = JudgeTemplateCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        values["project"] = _project(request, values["project"])
        template = services.judge_template_create(**values)
        return Response(JudgeTemplateSerializer(template).data, status=status.HTTP_201_CREATED)


class JudgeConfigViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = JudgeConfigSerializer

    def get_queryset(self):
        return judge_config_list_for_user(user=self.request.user)

    @extend_schema(request=JudgeConfigCreateSerializer, responses={201: JudgeConfigSerializer})
    def create(self, request: Request) -> Response:
        data = JudgeConfigCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        project = _project(request, values.pop("project"))
        for key in (
            "template",
            "reference_template",
            "multi_turn_template",
            "multi_turn_reference_template",
        ):
            values[key] = _template(project, values[key])
        config = services.judge_config_create(project=project, created_by=request.user, **values)
        return Response(JudgeConfigSerializer(config).data, status=status.HTTP_201_CREATED)


class EvalRunViewSet(viewsets.ReadOnlyModelViewSet):
    """Runs with live progress; create one to start it on the "default" queue."""

    serializer_class = EvalRunSerializer

    def get_queryset(self):
        return eval_run_list_for_user(user=self.request.user)

    def get_object(self) -> EvalRun:
        run = eval_run_get_for_user(user=self.request.user, run_id=self.kwargs["pk"])
        return services.eval_run_check_alive(run=run)

    @extend_schema(request=EvalRunCreateSerializer, responses={201: EvalRunSerializer})
    def create(self, request: Request) -> Response:
        data = EvalRunCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        project = _project(request, values.pop("project"))
        values["eval_set"] = get_object_or_404(EvalSet, pk=values["eval_set"], project=project)
        values["judge_config"] = get_object_or_404(
            JudgeConfig, pk=values["judge_config"], project=project
        )
        run = services.eval_run_create(project=project, created_by=request.user, **values)
        return Response(EvalRunSerializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: EvalRunSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        run = eval_run_get_for_user(user=request.user, run_id=pk, write=True)
        return Response(EvalRunSerializer(services.eval_run_cancel(run=run)).data)

    @extend_schema(request=None, responses={200: EvalRunSerializer})
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str) -> Response:
        run = eval_run_get_for_user(user=request.user, run_id=pk, write=True)
        return Response(EvalRunSerializer(services.eval_run_resume(run=run)).data)

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"])
    def results(self, request: Request, pk: str) -> Response:
        """Win/tie/loss, intervals, ratings, bias measures and warnings, overall and per
        category (empty until the run has finished)."""
        run = self.get_object()
        return Response(run.results or {})

    @extend_schema(responses={200: JudgmentSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def judgments(self, request: Request, pk: str) -> Response:
        """Every judgment of the run, keyset-paginated."""
        run = self.get_object()
        paginator = KeysetPagination()
        page = paginator.paginate_queryset(judgment_list(run=run), request, view=self)
        return paginator.get_paginated_response(JudgmentSerializer(page, many=True).data)
