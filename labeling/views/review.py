"""The reviewer's pages: tasks waiting for review, one task's annotations side by side, and
accept / reject with a comment."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Max, Prefetch, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from flywheel.errors import DomainError
from labeling.forms import ReviewForm
from labeling.models import (
    Annotation,
    AnnotationStatus,
    Flag,
    Review,
    Role,
    Task,
    TaskCompletion,
    TaskKind,
)
from labeling.selectors import project_get_for_user, task_get_for_user
from labeling.selectors.structure import display_turns, structure_display, task_structure
from labeling.services import review_create
from labeling.services.rubric import rubric_of_task

REVIEWERS = [Role.REVIEWER]
LIST_LIMIT = 50
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
MESSAGE_REVIEWED = {"accept": "Accepted.", "reject": "Rejected; the task is back in the pool."}
FLAG_LABELS = dict(Flag.choices)


@require_GET
@login_required
def review_list(request: HttpRequest, pk: int) -> HttpResponse:
    """Tasks of the project with answers waiting for review, most recent first."""
    project = project_get_for_user(user=request.user, project_id=pk, roles=REVIEWERS)
    tasks = list(
        Task.objects.filter(project=project, annotations__status=AnnotationStatus.SUBMITTED)
        .annotate(
            waiting=Count("annotations", filter=Q(annotations__status=AnnotationStatus.SUBMITTED)),
            last=Max("annotations__submitted_at"),
        )
        .select_related("prompt")
        .order_by("-last", "-pk")[:LIST_LIMIT]
    )
    rows = [
        {
            "task": task,
            "question": (task.prompt.messages or [{}])[-1].get("content", ""),
            "waiting": task.waiting,
            "last": task.last,
        }
        for task in tasks
    ]
    return render(request, "labeling/review_list.html", {"project": project, "rows": rows})


def _cells(task: Task, annotation: Annotation, ids: list[int]) -> dict[int, dict]:
    """Per answer id, what this annotation said about it, ready to print."""
    payload = annotation.payload or {}
    cells: dict[int, dict] = {pk: {"flags": [], "rating": None, "text": ""} for pk in ids}
    if task.kind == TaskKind.RANKING and "ranking" in payload:
        for index, tier in enumerate(payload["ranking"]):
            for member in tier:
                if member in cells:
                    cells[member]["text"] = f"{index + 1}" + (" (tie)" if len(tier) > 1 else "")
    elif task.kind == TaskKind.PAIRWISE and "choice" in payload:
        strength = {1: "slightly", 2: "clearly", 3: "much"}.get(payload.get("strength"), "")
        for pk in ids:
            if payload["choice"] == "tie":
                cells[pk]["text"] = "tie"
            elif payload["choice"] == "both_bad":
                cells[pk]["text"] = "both bad"
            elif payload.get("winner") == pk:
                cells[pk]["text"] = f"better ({strength})" if strength else "better"
            else:
                cells[pk]["text"] = "worse"
    elif task.kind == TaskKind.RUBRIC:
        for key, scores in (payload.get("scores") or {}).items():
            if int(key) in cells:
                cells[int(key)]["text"] = ", ".join(f"{c} {s}" for c, s in scores.items())
    for key, flags in (annotation.flags or {}).items():
        if int(key) in cells:
            cells[int(key)]["flags"] = [FLAG_LABELS.get(f, f) for f in flags]
    for key, rating in (annotation.ratings or {}).items():
        if int(key) in cells:
            cells[int(key)]["rating"] = rating
    return cells


def _review_context(task: Task) -> dict:
    links = list(
        TaskCompletion.objects.filter(task=task).select_related("completion").order_by("position")
    )
    ids = [link.completion_id for link in links]
    annotations = list(
        Annotation.objects.filter(task=task)
        .select_related("annotator")
        .prefetch_related(
            Prefetch("reviews", queryset=Review.objects.select_related("reviewer").order_by("pk"))
        )
        .order_by("pk")
    )
    columns = []
    for annotation in annotations:
        cells = _cells(task, annotation, ids)
        columns.append(
            {
                "annotation": annotation,
                "cells": [cells[pk] for pk in ids],
                "rationale": (annotation.payload or {}).get("rationale", ""),
                "text": (annotation.payload or {}).get("text", ""),
                "diff": (annotation.payload or {}).get("diff", ""),
                "seconds": round(annotation.time_spent_ms / 1000),
                "reviewable": annotation.status
                in (AnnotationStatus.SUBMITTED, AnnotationStatus.REJECTED),
                "reviews": list(annotation.reviews.all()),
            }
        )
    answers = [
        {"letter": LETTERS[i % 26], "text": link.completion.text, "row": i}
        for i, link in enumerate(links)
    ]
    rows = [
        {"answer": answer, "cells": [column["cells"][i] for column in columns]}
        for i, answer in enumerate(answers)
    ]
    # Reviewers check answers against the expected call and the cited passages.
    structure = structure_display(task_structure(task=task, show_answer=True))
    return {
        "project": task.project,
        "task": task,
        "turns": display_turns(task.prompt.messages or [], structure),
        "structure": structure,
        "system": task.prompt.system,
        "answers": answers,
        "rows": rows,
        "columns": columns,
        "criteria": rubric_of_task(task).names if task.kind == TaskKind.RUBRIC else [],
    }


@require_GET
@login_required
def review_task(request: HttpRequest, pk: int) -> HttpResponse:
    task = task_get_for_user(user=request.user, task_id=pk, roles=REVIEWERS)
    template = (
        "labeling/review_task.html#annotations" if request.htmx else "labeling/review_task.html"
    )
    return render(request, template, _review_context(task))


@require_POST
@login_required
def review_decide(request: HttpRequest, pk: int) -> HttpResponse:
    annotation = Annotation.objects.filter(pk=pk).values_list("task_id", flat=True).first()
    if annotation is None:
        raise Http404("No such annotation.")
    task = task_get_for_user(user=request.user, task_id=annotation, roles=REVIEWERS)
    form = ReviewForm(request.POST)
    form.is_valid()
    error = None
    decision = form.cleaned_data.get("decision", "")
    try:
        review_create(
            annotation=Annotation.objects.get(pk=pk),
            reviewer=request.user,
            decision=decision,
            comment=form.cleaned_data.get("comment") or "",
        )
    except DomainError as exc:
        error = str(exc)
    if not request.htmx and error is None:
        return redirect("labeling:review_task", pk=task.pk)
    context = _review_context(task)
    context.update({"error": error, "error_annotation": pk, "comment": form.data.get("comment")})
    template = (
        "labeling/review_task.html#annotations" if request.htmx else "labeling/review_task.html"
    )
    response = render(request, template, context, status=200 if request.htmx or not error else 400)
    if error is None:
        response = trigger_client_event(
            response, "showToast", {"message": MESSAGE_REVIEWED.get(decision, "Saved.")}
        )
    return response
