"""Reads for evaluation pages and the API; access goes through labeling.selectors."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.utils import timezone

from evaluation.models import EvalRun, EvalSet, JudgeConfig, JudgeTemplate, Judgment
from labeling.models import Project, Role
from labeling.selectors import project_get_for_user, project_list_for_user

User = AbstractBaseUser | AnonymousUser

READ_ROLES = (Role.RESEARCHER, Role.REVIEWER)
WRITE_ROLES = (Role.RESEARCHER,)


def eval_run_get_for_user(*, user: User, run_id: int | str, write: bool = False) -> EvalRun:
    """The run if the user may see it (write: change it); 404 for non-members."""
    run = (
        EvalRun.objects.select_related("project", "eval_set", "judge_config")
        .filter(pk=int(run_id) if str(run_id).isdigit() else -1)
        .first()
    )
    project_id = run.project_id if run is not None else -1
    project_get_for_user(
        user=user, project_id=project_id, roles=WRITE_ROLES if write else READ_ROLES
    )
    return run


def eval_run_list(*, project: Project) -> QuerySet[EvalRun]:
    return (
        EvalRun.objects.filter(project=project)
        .select_related("eval_set", "judge_config")
        .defer("results", "config_snapshot")
        .order_by("-id")
    )


def eval_run_list_for_user(*, user: User) -> QuerySet[EvalRun]:
    projects = project_list_for_user(user=user, roles=READ_ROLES)
    return (
        EvalRun.objects.filter(project__in=projects)
        .select_related("eval_set", "judge_config")
        .defer("results", "config_snapshot")
        .order_by("id")
    )


def eval_set_list_for_user(*, user: User) -> QuerySet[EvalSet]:
    return EvalSet.objects.filter(
        project__in=project_list_for_user(user=user, roles=READ_ROLES)
    ).order_by("id")


def judge_config_list_for_user(*, user: User) -> QuerySet[JudgeConfig]:
    return (
        JudgeConfig.objects.filter(project__in=project_list_for_user(user=user, roles=READ_ROLES))
        .select_related("template")
        .order_by("id")
    )


def judge_template_list_for_user(*, user: User) -> QuerySet[JudgeTemplate]:
    projects = project_list_for_user(user=user, roles=READ_ROLES)
    return JudgeTemplate.objects.filter(project__isnull=True) | JudgeTemplate.objects.filter(
        project__in=projects
    )


def judgment_list(*, run: EvalRun) -> QuerySet[Judgment]:
    return Judgment.objects.filter(run=run).select_related("item", "item__question").order_by("id")


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    percent: float
    eta_s: float | None
    calls_made: int
    cached: int
    parse_failures: int
    call_errors: int
    tokens: int
    cost: float


def eval_run_progress(*, run: EvalRun) -> Progress:
    """Counts from the row; the ETA from this execution's pace."""
    total = run.calls_total or 0
    eta = None
    if run.is_active and run.started_at and run.calls_done < total:
        done_now = run.calls_done - run.calls_done_at_start
        elapsed = (timezone.now() - run.started_at).total_seconds()
        if done_now > 0 and elapsed > 0:
            eta = (total - run.calls_done) * elapsed / done_now
    return Progress(
        done=run.calls_done,
        total=total,
        percent=round(100 * run.calls_done / total, 1) if total else 0.0,
        eta_s=eta,
        calls_made=run.calls_made,
        cached=run.cached_count,
        parse_failures=run.parse_failures,
        call_errors=run.call_errors,
        tokens=run.prompt_tokens + run.completion_tokens,
        cost=run.cost,
    )


EXPORT_FIELDS = [
    "run_id",
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
    "verdict",
    "winner",
    "score",
    "raw_output",
    "error",
    "prompt_tokens",
    "completion_tokens",
    "latency_s",
    "cost",
    "cached",
]


def judgment_export_rows(*, run: EvalRun):
    """One dict per judgment, addressable by (question_id, model pair, turn)."""
    for j in judgment_list(run=run).iterator(chunk_size=1000):
        yield {
            "run_id": run.pk,
            "question_id": j.item.question.question_id,
            "category": j.item.question.category,
            "turn": j.item.turn,
            "model_a": j.item.model_a,
            "model_b": j.item.model_b,
            "rater": j.rater,
            "rater_group": j.rater_group,
            "order": j.order,
            "trial": j.trial,
            "template_version": j.template_version,
            "status": j.status,
            "verdict": j.verdict,
            "winner": j.winner,
            "score": j.score,
            "raw_output": j.raw_output,
            "error": j.error,
            "prompt_tokens": j.prompt_tokens,
            "completion_tokens": j.completion_tokens,
            "latency_s": round(j.latency_s, 4),
            "cost": j.cost,
            "cached": j.cached,
        }
