"""Agreement report pages: a project's judgment sets and runs, the report between two rater
groups (headline numbers, per-category bars with intervals, confusion matrix, disagreements),
one item's votes for review, and the buttons that send a run to human raters. What the report
shows is formatted in ``report_display``."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from evaluation.agreement import looks_like_judge
from evaluation.models import CandidateAnswer, EvalQuestion, EvalRun, JudgmentSet
from evaluation.report_display import present
from evaluation.reports import (
    agreement_choices,
    agreement_default_groups,
    agreement_item_votes,
    agreement_report_build,
    judgment_set_get_for_user,
)
from evaluation.selectors import READ_ROLES, WRITE_ROLES, eval_run_get_for_user, eval_run_list
from evaluation.services.human import human_judgments_collect, human_tasks_create
from evaluation.services.imports import DEFAULT_FORMAT, judgments_import_upload
from flywheel.errors import DomainError
from labeling.models import Task
from labeling.selectors import project_get_for_user


class HtmxHttpRequest(HttpRequest):
    pass


def _query(request: HttpRequest, defaults: tuple[str, str]) -> dict:
    a = request.GET.get("a") or defaults[0]
    b = request.GET.get("b") or defaults[1]
    turn = request.GET.get("turn", "")
    return {
        "a": a,
        "b": b,
        "turn": int(turn) if turn.isdigit() and int(turn) > 0 else None,
        "category": request.GET.get("category", "").strip(),
    }


def _report_page(request, *, source: dict, title: str, back: str, item_route: str, extra: dict):
    choices = agreement_choices(**source)
    query = _query(request, agreement_default_groups(choices.groups))
    context: dict[str, Any] = {
        "title": title,
        "back": back,
        "groups": choices.groups,
        "judge_groups": [g for g in choices.groups if looks_like_judge(g)],
        "turns": choices.turns,
        "categories": choices.categories,
        "query": query,
        **extra,
    }
    try:
        report = agreement_report_build(
            **source,
            group_a=query["a"],
            group_b=query["b"],
            turn=query["turn"],
            category=query["category"] or None,
        )
    except DomainError as exc:
        context["error"] = str(exc)
        return render(request, "evaluation/report.html", context)

    def item_url(row: dict) -> str:
        params = {
            "q": row["question_id"],
            "a": row["model_a"],
            "b": row["model_b"],
            "turn": row["turn"],
        }
        return f"{reverse(item_route, args=[extra['source_pk']])}?{urlencode(params)}"

    context["report"] = present(report.result, item_url=item_url)
    context["computed_at"] = report.created_at
    return render(request, "evaluation/report.html", context)


@require_http_methods(["GET", "POST"])
@login_required
def project_agreement(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    """The project's judgment sets and runs with links to their reports; import a file."""
    write = request.method == "POST"
    project = project_get_for_user(
        user=request.user, project_id=project_id, roles=WRITE_ROLES if write else READ_ROLES
    )
    error = ""
    if write:
        upload = request.FILES.get("file")
        name = request.POST.get("name", "")
        if upload is None:
            error = "Choose a CSV or JSONL file to import."
        else:
            try:
                judgment_set = judgments_import_upload(
                    upload=upload,
                    name=name,
                    project=project,
                    format=request.POST.get("format") or DEFAULT_FORMAT,
                    created_by=request.user,
                )
            except DomainError as exc:
                error = str(exc)
            else:
                messages.success(
                    request,
                    f"Imported {judgment_set.vote_count + judgment_set.score_count} judgments.",
                )
                return redirect("evaluation:set_report", pk=judgment_set.pk)
    sets = list(JudgmentSet.objects.filter(project=project).order_by("-id")[:100])
    runs = list(eval_run_list(project=project)[:100])
    return render(
        request,
        "evaluation/report_index.html",
        {
            "project": project,
            "sets": sets,
            "runs": runs,
            "error": error,
            "name": request.POST.get("name", ""),
            "format": request.POST.get("format", ""),
        },
        status=400 if error else 200,
    )


@require_GET
@login_required
def set_report(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    judgment_set = judgment_set_get_for_user(user=request.user, set_id=pk)
    return _report_page(
        request,
        source={"judgment_set": judgment_set},
        title=judgment_set.name,
        back=reverse("evaluation:agreement", args=[judgment_set.project_id]),
        item_route="evaluation:set_item",
        extra={
            "source_pk": judgment_set.pk,
            "judgment_set": judgment_set,
            "project": judgment_set.project,
        },
    )


@require_GET
@login_required
def run_report(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    run = eval_run_get_for_user(user=request.user, run_id=pk)
    tasks = Task.objects.filter(project=run.project, source__app="evaluation", source__run=run.pk)
    return _report_page(
        request,
        source={"run": run},
        title=run.name,
        back=reverse("evaluation:run", args=[run.pk]),
        item_route="evaluation:run_item",
        extra={
            "source_pk": run.pk,
            "run": run,
            "project": run.project,
            "human_tasks": tasks.count(),
            "human_done": sum(tasks.values_list("submitted_count", flat=True)),
        },
    )


@require_POST
@login_required
def run_human_tasks(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    run = eval_run_get_for_user(user=request.user, run_id=pk, write=True)
    overlap = request.POST.get("overlap", "2")
    try:
        tasks = human_tasks_create(run=run, overlap=int(overlap) if overlap.isdigit() else 0)
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{len(tasks)} tasks are in the raters' queue.")
    return redirect("evaluation:run_report", pk=run.pk)


@require_POST
@login_required
def run_human_collect(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    run = eval_run_get_for_user(user=request.user, run_id=pk, write=True)
    collected = human_judgments_collect(run=run)
    removed = (
        f"; removed {collected.removed} no longer submitted or accepted"
        if collected.removed
        else ""
    )
    messages.success(request, f"Recorded {collected.recorded} human votes{removed}.")
    return redirect(f"{reverse('evaluation:run_report', args=[run.pk])}?a=judge&b=human")


def _item_query(request: HttpRequest) -> dict:
    turn = request.GET.get("turn", "1")
    return {
        "question_id": request.GET.get("q", ""),
        "model_a": request.GET.get("a", ""),
        "model_b": request.GET.get("b", ""),
        "turn": int(turn) if turn.isdigit() and int(turn) > 0 else 1,
    }


def _item_turns(question: EvalQuestion | None, *, models: list[tuple[str, str]], turn: int):
    """The conversation up to the judged turn, the judged turn last: per turn the user's
    message and each shown model's reply. Earlier replies differ per model (each answered its
    own conversation), so every turn carries one reply per model. Empty when the question is
    not stored or has no such turn."""
    if question is None or len(question.turns) < turn:
        return []
    by_model = {a.model: a.turns for a in CandidateAnswer.objects.filter(question=question)}

    def reply(model: str, number: int) -> str:
        turns = by_model.get(model) or []
        return turns[number - 1] if len(turns) >= number else ""

    return [
        {
            "number": number,
            "user": question.turns[number - 1],
            "answers": [
                {"label": label, "model": model, "text": reply(model, number)}
                for label, model in models
            ],
        }
        for number in range(1, turn + 1)
    ]


def _item_page(request, *, source: dict, project, eval_set_ids, back: str) -> HttpResponse:
    query = _item_query(request)
    votes = agreement_item_votes(**source, **query)
    question = (
        EvalQuestion.objects.filter(eval_set__in=eval_set_ids, question_id=query["question_id"])
        .order_by("-id")
        .first()
    )
    # A scored answer (no second model) is shown alone.
    models = [("first", query["model_a"]), ("second", query["model_b"])]
    if not query["model_b"]:
        models = [("answer", query["model_a"])]
    turns = _item_turns(question, models=models, turn=query["turn"])
    judged = turns[-1] if turns else {"user": "", "answers": []}
    return render(
        request,
        "evaluation/report_item.html",
        {
            "project": project,
            "query": query,
            "question": question,
            "earlier": turns[:-1],
            "user_turn": judged["user"],
            "reference": question.reference_for(query["turn"]) if question else "",
            "answers": judged["answers"],
            "single": not query["model_b"],
            "votes": votes,
            "back": back,
        },
    )


@require_GET
@login_required
def set_item(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    judgment_set = judgment_set_get_for_user(user=request.user, set_id=pk)
    project = judgment_set.project
    return _item_page(
        request,
        source={"judgment_set": judgment_set},
        project=project,
        eval_set_ids=project.eval_sets.values("id"),
        back=reverse("evaluation:set_report", args=[judgment_set.pk]),
    )


@require_GET
@login_required
def run_item(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    run: EvalRun = eval_run_get_for_user(user=request.user, run_id=pk)
    return _item_page(
        request,
        source={"run": run},
        project=run.project,
        eval_set_ids=[run.eval_set_id],
        back=reverse("evaluation:run_report", args=[run.pk]),
    )
