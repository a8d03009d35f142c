"""Creating, starting and cancelling eval runs. Execution lives in services/runner.py."""

from __future__ import annotations

from datetime import timedelta
from itertools import combinations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from evaluation.errors import EvaluationError
from evaluation.models import (
    CandidateAnswer,
    EvalItem,
    EvalRun,
    EvalSet,
    JudgeConfig,
    RunMode,
    RunStatus,
    TemplateKind,
)
from labeling.models import Project

ERROR_MODE = "Unknown mode {mode!r}; use baseline, round_robin or single."
ERROR_NO_MODELS = "Name at least one candidate model."
ERROR_BASELINE = "A baseline run needs a baseline model that is not also a candidate."
ERROR_ROUND_ROBIN = "A round robin needs at least two models."
ERROR_TURNS = "Turns must be whole numbers from 1 up, e.g. [1] or [1, 2]."
ERROR_KIND = "The judge config grades {kind}; this run mode needs a {needed} template."
ERROR_PROJECT = "The eval set and the judge config must belong to the run's project."
ERROR_NO_ITEMS = "Nothing to judge: no question has answers from the named models at those turns."
ERROR_NOT_CANCELLABLE = "Only a queued or running run can be cancelled; this one is {status}."
ERROR_NOT_RESUMABLE = "Only a failed or cancelled run can be resumed; this one is {status}."
ERROR_WORKER_LOST = (
    "Worker lost: the run sent no heartbeat for {seconds} s (its worker stopped or restarted). "
    "Resume it: judgments already recorded are kept and not sent again."
)


def _pairs(mode: str, models: list[str], baseline: str) -> list[tuple[str, str]]:
    if mode == RunMode.BASELINE:
        return [(m, baseline) for m in models]
    if mode == RunMode.ROUND_ROBIN:
        return list(combinations(models, 2))
    return [(m, "") for m in models]


@transaction.atomic
def eval_run_create(
    *,
    project: Project,
    eval_set: EvalSet,
    judge_config: JudgeConfig,
    name: str,
    mode: str,
    models: list[str],
    baseline: str = "",
    turns: list[int] | None = None,
    created_by: AbstractBaseUser | None = None,
    start: bool = True,
) -> EvalRun:
    """A run with one item per (question, model pair, turn) that has the answers it needs.

    Every item is judged in both orders when the config says so, `trials` times each. With
    `start`, the run is enqueued once the transaction commits.
    """
    if mode not in RunMode.values:
        raise EvaluationError(ERROR_MODE.format(mode=mode))
    models = list(dict.fromkeys(m for m in models if m))
    if not models:
        raise EvaluationError(ERROR_NO_MODELS)
    if mode == RunMode.BASELINE and (not baseline or baseline in models):
        raise EvaluationError(ERROR_BASELINE)
    if mode == RunMode.ROUND_ROBIN and len(models) < 2:
        raise EvaluationError(ERROR_ROUND_ROBIN)
    turns = sorted(set(turns or [1]))
    if any(not isinstance(t, int) or isinstance(t, bool) or t < 1 for t in turns):
        raise EvaluationError(ERROR_TURNS)
    if eval_set.project_id != project.pk or judge_config.project_id != project.pk:
        raise EvaluationError(ERROR_PROJECT)
    kind = judge_config.template.kind
    needed = TemplateKind.SINGLE if mode == RunMode.SINGLE else TemplateKind.PAIRWISE
    if kind != needed:
        raise EvaluationError(ERROR_KIND.format(kind=kind, needed=needed))

    run = EvalRun.objects.create(
        project=project,
        eval_set=eval_set,
        judge_config=judge_config,
        name=name,
        mode=mode,
        candidate_models=models,
        baseline=baseline if mode == RunMode.BASELINE else "",
        turns=turns,
        config_snapshot=_config_snapshot(judge_config),
        created_by=created_by,
    )
    answers = {
        (a.question_id, a.model): len(a.turns)
        for a in CandidateAnswer.objects.filter(
            question__eval_set=eval_set, model__in=[*models, baseline]
        ).only("question_id", "model", "turns")
    }
    items = []
    for question in eval_set.questions.all().order_by("id"):
        for turn in turns:
            if turn > len(question.turns):
                continue
            for model_a, model_b in _pairs(mode, models, baseline):
                if answers.get((question.pk, model_a), 0) < turn:
                    continue
                if model_b and answers.get((question.pk, model_b), 0) < turn:
                    continue
                items.append(
                    EvalItem(
                        run=run, question=question, model_a=model_a, model_b=model_b, turn=turn
                    )
                )
    if not items:
        raise EvaluationError(ERROR_NO_ITEMS)
    EvalItem.objects.bulk_create(items, batch_size=500)
    orders = 2 if mode != RunMode.SINGLE and judge_config.both_orders else 1
    run.items_total = len(items)
    run.calls_total = len(items) * orders * judge_config.trials
    run.save(update_fields=["items_total", "calls_total"])
    if start:
        eval_run_enqueue(run=run)
    return run


def _config_snapshot(config: JudgeConfig) -> dict:
    def template(t):
        return None if t is None else {"id": t.pk, "name": t.name, "version": t.version}

    return {
        "name": config.name,
        "base_url": config.base_url,
        "model": config.model,
        "api_key_env": config.api_key_env,
        "temperature": config.temperature,
        "max_tokens": config.max_tokens,
        "trials": config.trials,
        "both_orders": config.both_orders,
        "max_concurrency": config.max_concurrency,
        "timeout_s": config.timeout_s,
        "max_retries": config.max_retries,
        "price_prompt_per_mtok": config.price_prompt_per_mtok,
        "price_completion_per_mtok": config.price_completion_per_mtok,
        "template": template(config.template),
        "reference_template": template(config.reference_template),
        "multi_turn_template": template(config.multi_turn_template),
        "multi_turn_reference_template": template(config.multi_turn_reference_template),
    }


def eval_run_enqueue(*, run: EvalRun) -> None:
    """Start the run on the "default" queue after the current transaction commits."""
    from evaluation.tasks import eval_run_task

    run_id = run.pk
    transaction.on_commit(lambda: eval_run_task.enqueue(run_id=run_id))


@transaction.atomic
def eval_run_cancel(*, run: EvalRun) -> EvalRun:
    """Stop a run: a queued one never starts, a running one stops at its next check (calls in
    flight finish and are kept)."""
    run = EvalRun.objects.select_for_update().get(pk=run.pk)
    if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
        raise EvaluationError(ERROR_NOT_CANCELLABLE.format(status=run.status))
    run.status = RunStatus.CANCELLED
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "finished_at"])
    return run


@transaction.atomic
def eval_run_resume(*, run: EvalRun) -> EvalRun:
    """Queue a failed or cancelled run again; it continues where it stopped."""
    run = EvalRun.objects.select_for_update().get(pk=run.pk)
    if run.status not in (RunStatus.FAILED, RunStatus.CANCELLED):
        raise EvaluationError(ERROR_NOT_RESUMABLE.format(status=run.status))
    run.status = RunStatus.QUEUED
    run.error = ""
    run.finished_at = None
    run.save(update_fields=["status", "error", "finished_at"])
    eval_run_enqueue(run=run)
    return run


def eval_run_reap_lost(
    *, run_id: int | None = None, timeout_seconds: int | None = None
) -> list[int]:
    """Running runs whose heartbeat is older than the timeout are failed as "worker lost", so
    that they can be resumed. Every eval-run task does this first, and the run page does it
    for the run it shows; `run_id` limits it to one run."""
    seconds = timeout_seconds or settings.FLYWHEEL_WORKER_HEARTBEAT_TIMEOUT
    cutoff = timezone.now() - timedelta(seconds=seconds)
    stale = EvalRun.objects.filter(status=RunStatus.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    )
    if run_id is not None:
        stale = stale.filter(pk=run_id)
    with transaction.atomic():
        lost = list(stale.select_for_update().values_list("pk", flat=True))
        EvalRun.objects.filter(pk__in=lost).update(
            status=RunStatus.FAILED,
            error=ERROR_WORKER_LOST.format(seconds=seconds),
            finished_at=timezone.now(),
        )
    return lost


def eval_run_check_alive(*, run: EvalRun) -> EvalRun:
    """The run as it stands, after failing it as "worker lost" if it is running without a
    heartbeat: what the run page and the API show, so that a dead worker's run offers Resume
    instead of polling forever."""
    if run.status == RunStatus.RUNNING and eval_run_reap_lost(run_id=run.pk):
        run.refresh_from_db()
    return run
