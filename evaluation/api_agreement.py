"""Agreement API: import judgment sets, read agreement reports of a set or an eval run, send a
run's items to human raters and collect their answers. Input serializers validate, a service
acts, an output serializer answers."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action, api_view
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from evaluation.models import EvalRun, JudgmentSet
from evaluation.reports import (
    agreement_choices,
    agreement_default_groups,
    agreement_report_build,
    judgment_set_get_for_user,
    judgment_set_list_for_user,
)
from evaluation.selectors import WRITE_ROLES, eval_run_get_for_user
from evaluation.services.human import DEFAULT_OVERLAP, human_judgments_collect, human_tasks_create
from evaluation.services.imports import DEFAULT_FORMAT, FORMATS, judgments_import_upload
from labeling.selectors import project_get_for_user


class JudgmentSetSerializer(serializers.ModelSerializer):
    class Meta:
        model = JudgmentSet
        fields = [
            "id",
            "project",
            "name",
            "source",
            "format",
            "vote_count",
            "score_count",
            "groups",
            "created_at",
        ]


class JudgmentSetCreateSerializer(serializers.Serializer):
    project = serializers.IntegerField()
    name = serializers.CharField(max_length=200)
    file = serializers.FileField(help_text="CSV or JSONL in the MT-Bench / Chatbot Arena format.")
    format = serializers.ChoiceField(
        choices=FORMATS,
        default=DEFAULT_FORMAT,
        help_text="mtbench: MT-Bench's questions, categories filled in; generic: your own.",
    )


DEFAULT_PAIR = (
    "Default: the pair the report page opens on, an LLM judge group against people (human, "
    "then expert, then author), or two groups of people when there is no judge."
)


class ReportQuerySerializer(serializers.Serializer):
    a = serializers.CharField(
        max_length=200,
        required=False,
        default="",
        help_text=f"Rater group a, e.g. judge or gpt4_pair. {DEFAULT_PAIR}",
    )
    b = serializers.CharField(
        max_length=200,
        required=False,
        default="",
        help_text=f"Rater group b, e.g. human or expert. {DEFAULT_PAIR}",
    )
    turn = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None)
    category = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class HumanTasksSerializer(serializers.Serializer):
    overlap = serializers.IntegerField(min_value=1, max_value=100, default=DEFAULT_OVERLAP)


REPORT_PARAMETERS = [
    OpenApiParameter("a", str, required=False, description=f"Rater group a. {DEFAULT_PAIR}"),
    OpenApiParameter("b", str, required=False, description=f"Rater group b. {DEFAULT_PAIR}"),
    OpenApiParameter("turn", int, required=False),
    OpenApiParameter("category", str, required=False),
]


def _report(request: Request, **source) -> Response:
    query = ReportQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    data = query.validated_data
    default_a, default_b = agreement_default_groups(agreement_choices(**source).groups)
    report = agreement_report_build(
        **source,
        group_a=data["a"] or default_a,
        group_b=data["b"] or default_b,
        turn=data["turn"],
        category=data["category"] or None,
    )
    return Response(report.result)


class JudgmentSetViewSet(viewsets.ReadOnlyModelViewSet):
    """Imported judgment sets of the caller's projects, their import and agreement report."""

    serializer_class = JudgmentSetSerializer
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def get_queryset(self):
        return judgment_set_list_for_user(user=self.request.user)

    def get_object(self) -> JudgmentSet:
        return judgment_set_get_for_user(user=self.request.user, set_id=self.kwargs["pk"])

    @extend_schema(request=JudgmentSetCreateSerializer, responses={201: JudgmentSetSerializer})
    def create(self, request: Request) -> Response:
        """Import a file; a bad row anywhere refuses the whole file with every line listed."""
        data = JudgmentSetCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = project_get_for_user(
            user=request.user, project_id=data.validated_data["project"], roles=WRITE_ROLES
        )
        judgment_set = judgments_import_upload(
            upload=data.validated_data["file"],
            name=data.validated_data["name"],
            project=project,
            format=data.validated_data["format"],
            created_by=request.user,
        )
        return Response(JudgmentSetSerializer(judgment_set).data, status=status.HTTP_201_CREATED)

    @extend_schema(parameters=REPORT_PARAMETERS, responses={200: dict})
    @action(detail=True, methods=["get"])
    def report(self, request: Request, pk: str) -> Response:
        """Agreement between groups a and b (by default the pair the report page opens on, e.g.
        gpt4_pair against expert): group_a, group_b, with_ties, without_ties, cohen_kappa,
        krippendorff_alpha, per_turn, per_category, confusion_matrix, disagreements,
        leaderboards, rank_correlation, trust (verdict in plain words) and explain; for
        single-answer grades, scores with the same: spearman, kendall_tau_b, pearson,
        mean_absolute_difference with intervals, difference to people-people, per_turn,
        per_category, disagreements, leaderboards, rank_correlation, trust, explain."""
        return _report(request, judgment_set=self.get_object())


@extend_schema(parameters=REPORT_PARAMETERS, responses={200: dict})
@api_view(["GET"])
def run_agreement(request: Request, pk: int) -> Response:
    """Agreement between two rater groups of an eval run, a and b; either left out is the
    report page's default (judge vs human once people have voted; judge vs judge before),
    and the answer names the pair in group_a and group_b. Keys as in the judgment set's
    report."""
    run: EvalRun = eval_run_get_for_user(user=request.user, run_id=pk)
    return _report(request, run=run)


@extend_schema(request=HumanTasksSerializer, responses={201: dict})
@api_view(["POST"])
def run_human_tasks(request: Request, pk: int) -> Response:
    """Make a labeling task per item of the run, `overlap` raters each (default 2)."""
    run = eval_run_get_for_user(user=request.user, run_id=pk, write=True)
    data = HumanTasksSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    tasks = human_tasks_create(run=run, overlap=data.validated_data["overlap"])
    return Response(
        {"tasks": len(tasks), "kind": tasks[0].kind if tasks else None},
        status=status.HTTP_201_CREATED,
    )


@extend_schema(request=None, responses={200: dict})
@api_view(["POST"])
def run_human_collect(request: Request, pk: int) -> Response:
    """Record the raters' submitted answers as judgments of group human."""
    run = eval_run_get_for_user(user=request.user, run_id=pk, write=True)
    collected = human_judgments_collect(run=run)
    return Response(
        {
            "tasks": collected.tasks,
            "annotations": collected.annotations,
            "recorded": collected.recorded,
            "removed": collected.removed,
        }
    )
