"""The data pipeline over the API (researchers): start each stage, read runs, restore prompts.
Each start answers 202 with the queued run; poll the run for progress."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view, parser_classes
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from flywheel.api import KeysetPagination
from labeling.models import PipelineRun, Prompt, TaskKind
from labeling.pipeline.filters import DEFAULT_MAX_CHARS, DEFAULT_MAX_TOKENS
from labeling.pipeline.formats import FORMATS
from labeling.pipeline.synthesis import HEURISTIC_REWRITES
from labeling.selectors.access import project_get_for_user
from labeling.selectors.pipeline import (
    RESEARCHERS,
    pipeline_run_get_for_user,
    pipeline_run_list,
    prompt_get_for_researcher,
)
from labeling.services.pipeline import (
    import_run_start,
    prompts_filter,
    prompts_synthesize,
    prompts_tag,
    tasks_create_from_prompts,
)
from labeling.services.prompts import prompt_restore
from labeling.services.structured import STRUCTURED_KINDS, prompts_synthesize_structured


class RunListSerializer(serializers.ModelSerializer):
    class Meta:
        model = PipelineRun
        fields = [
            "id",
            "stage",
            "status",
            "input_name",
            "done",
            "total",
            "counts",
            "error",
            "cost_usd",
            "created_at",
            "finished_at",
        ]


class RunSerializer(serializers.ModelSerializer):
    class Meta:
        model = PipelineRun
        fields = [
            *RunListSerializer.Meta.fields,
            "project",
            "params",
            "funnel",
            "rejects",
            "disagreements",
            "failures",
            "warnings",
            "prompt_tokens",
            "completion_tokens",
            "started_at",
        ]


class FiltersSerializer(serializers.Serializer):
    """The filter chain's options (left out: the chain's defaults)."""

    min_chars = serializers.IntegerField(required=False, min_value=0)
    max_chars = serializers.IntegerField(
        required=False, min_value=1, help_text=f"Default {DEFAULT_MAX_CHARS}."
    )
    min_tokens = serializers.IntegerField(required=False, min_value=0)
    max_tokens = serializers.IntegerField(
        required=False, min_value=1, help_text=f"Default {DEFAULT_MAX_TOKENS}."
    )
    blocklist = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Terms; in a form upload repeat the field or separate them with commas.",
    )
    languages = serializers.ListField(child=serializers.CharField(), required=False)
    near_dup_threshold = serializers.FloatField(required=False, min_value=0.1, max_value=1.0)


class ImportSerializer(FiltersSerializer):
    """The upload and its options; the filter options are fields of the form, side by side."""

    file = serializers.FileField()
    format = serializers.ChoiceField(choices=FORMATS, required=False, allow_blank=True)
    since = serializers.DateTimeField(required=False)
    skip_invalid = serializers.BooleanField(default=False)


class FilterSerializer(serializers.Serializer):
    filters = FiltersSerializer(required=False)


class LLMSerializer(serializers.Serializer):
    """The run's LLM; a run that names no model gets the project's."""

    llm_model = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Empty: the project's LLM."
    )
    llm_base_url = serializers.URLField(required=False, allow_blank=True, default="")
    price_prompt_per_mtok = serializers.FloatField(
        default=0.0, min_value=0, help_text="US dollars per million input tokens (the cost)."
    )
    price_completion_per_mtok = serializers.FloatField(
        default=0.0, min_value=0, help_text="US dollars per million output tokens."
    )


class TagSerializer(LLMSerializer):
    retag = serializers.BooleanField(default=False)


class SynthesizeSerializer(TagSerializer):
    rewrites = serializers.ListField(
        child=serializers.ChoiceField(choices=list(HEURISTIC_REWRITES)), required=False
    )
    llm_rewrite = serializers.CharField(
        default="",
        allow_blank=True,
        max_length=2000,
        help_text="An instruction the LLM rewrites each prompt by (a new prompt per origin).",
    )
    drafts = serializers.BooleanField(default=False)
    candidates = serializers.IntegerField(default=0, min_value=0, max_value=20)
    candidate_models = serializers.ListField(child=serializers.CharField(), required=False)
    candidate_temperatures = serializers.ListField(
        child=serializers.FloatField(min_value=0, max_value=2),
        required=False,
        max_length=20,
        help_text="Sampling temperatures; each candidate model answers at each.",
    )
    self_instruct = serializers.IntegerField(default=0, min_value=0, max_value=10_000)
    limit = serializers.IntegerField(default=100, min_value=1, max_value=100_000)


class StructuredSerializer(LLMSerializer):
    """Structured synthesis; the service checks the input of the kind (documents, tools or
    passages) and answers 400 with what to fix."""

    kind = serializers.ChoiceField(choices=list(STRUCTURED_KINDS))
    documents = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text='long_context: [{"title", "text"}], one item per document.',
    )
    questions_per_document = serializers.IntegerField(default=2, min_value=1, max_value=20)
    tools = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text='function_calling: OpenAI tools, [{"type": "function", "function": {"name", '
        '"description", "parameters"}}].',
    )
    passages = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text='rag: [{"id", "text", "title"}], ids unique.',
    )
    passages_per_item = serializers.IntegerField(default=3, min_value=1, max_value=20)
    count = serializers.IntegerField(
        default=10,
        min_value=1,
        max_value=1000,
        help_text="function_calling: requests with their call; rag: questions.",
    )


class TasksSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=TaskKind.choices)
    limit = serializers.IntegerField(default=100, min_value=1, max_value=100_000)
    gold_share = serializers.FloatField(required=False, min_value=0, max_value=1)


class PromptStateSerializer(serializers.ModelSerializer):
    class Meta:
        model = Prompt
        fields = ["id", "status", "filter_reasons", "task_type", "meta"]


def _accepted(run: PipelineRun) -> Response:
    return Response(RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(responses=RunListSerializer(many=True), description="The project's runs.")
@api_view(["GET"])
def pipeline_runs(request: Request, pk: int) -> Response:
    paginator = KeysetPagination()
    paginator.ordering = "-id"
    project = project_get_for_user(user=request.user, project_id=pk, roles=RESEARCHERS)
    runs = pipeline_run_list(project=project)
    page = paginator.paginate_queryset(runs, request)
    return paginator.get_paginated_response(RunListSerializer(page, many=True).data)


@extend_schema(responses=RunSerializer, description="A run: progress, funnel, rejects, usage.")
@api_view(["GET"])
def pipeline_run_detail(request: Request, pk: int) -> Response:
    return Response(RunSerializer(pipeline_run_get_for_user(run_id=pk, user=request.user)).data)


@extend_schema(
    request={"multipart/form-data": ImportSerializer},
    responses={202: RunSerializer},
    description="Upload a JSONL, CSV, Parquet or text file and start its import.",
)
@api_view(["POST"])
@parser_classes([MultiPartParser, FormParser])
def pipeline_import(request: Request, pk: int) -> Response:
    project = project_get_for_user(user=request.user, project_id=pk, roles=RESEARCHERS)
    body = ImportSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    data = body.validated_data
    upload = data["file"]
    run = import_run_start(
        project=project,
        upload=upload,
        filename=upload.name,
        format=data.get("format") or None,
        since=data.get("since"),
        skip_invalid=data["skip_invalid"],
        filters={k: data[k] for k in FiltersSerializer().fields if k in data},
        created_by=request.user,
    )
    return _accepted(run)


@extend_schema(request=FilterSerializer, responses={202: RunSerializer})
@api_view(["POST"])
@parser_classes([JSONParser])
def pipeline_filter(request: Request, pk: int) -> Response:
    project = project_get_for_user(user=request.user, project_id=pk, roles=RESEARCHERS)
    body = FilterSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    run = prompts_filter(
        project=project, filters=body.validated_data.get("filters"), created_by=request.user
    )
    return _accepted(run)


@extend_schema(request=TagSerializer, responses={202: RunSerializer})
@api_view(["POST"])
@parser_classes([JSONParser])
def pipeline_tag(request: Request, pk: int) -> Response:
    project = project_get_for_user(user=request.user, project_id=pk, roles=RESEARCHERS)
    body = TagSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    run = prompts_tag(project=project, created_by=request.user, **body.validated_data)
    return _accepted(run)


@extend_schema(request=SynthesizeSerializer, responses={202: RunSerializer})
@api_view(["POST"])
@parser_classes([JSONParser])
def pipeline_synthesize(request: Request, pk: int) -> Response:
    project = project_get_for_user(user=request.user, project_id=pk, roles=RESEARCHERS)
    body = SynthesizeSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    data = dict(body.validated_data)
    data.pop("retag", None)
    run = prompts_synthesize(project=project, created_by=request.user, **data)
    return _accepted(run)


@extend_schema(
    request=StructuredSerializer,
    responses={202: RunSerializer},
    description="Synthesize long-context, function-calling or RAG prompts from your documents, "
    "tools or passages; failures are listed per item on the run.",
)
@api_view(["POST"])
@parser_classes([JSONParser])
def pipeline_structured(request: Request, pk: int) -> Response:
    project = project_get_for_user(user=request.user, project_id=pk, roles=RESEARCHERS)
    body = StructuredSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    run = prompts_synthesize_structured(
        project=project, created_by=request.user, **body.validated_data
    )
    return _accepted(run)


@extend_schema(request=TasksSerializer, responses={202: RunSerializer})
@api_view(["POST"])
@parser_classes([JSONParser])
def pipeline_tasks(request: Request, pk: int) -> Response:
    project = project_get_for_user(user=request.user, project_id=pk, roles=RESEARCHERS)
    body = TasksSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    run = tasks_create_from_prompts(project=project, created_by=request.user, **body.validated_data)
    return _accepted(run)


@extend_schema(
    request=None, responses=PromptStateSerializer, description="Restore a filtered prompt."
)
@api_view(["POST"])
def prompt_restore_view(request: Request, pk: int) -> Response:
    prompt = prompt_get_for_researcher(prompt_id=pk, user=request.user)
    return Response(PromptStateSerializer(prompt_restore(prompt=prompt, user=request.user)).data)
