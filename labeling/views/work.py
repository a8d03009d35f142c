"""The labeler's pages: queue, claim, the task page of each kind, submit and skip.

"Submit and next" is one request: the answer is saved, the next task claimed, and the
response is the next task's work area, so the labeler never waits for a second round trip.
"""

from __future__ import annotations

import difflib
import json
import string

from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import push_url, reswap, retarget, trigger_client_event

from flywheel.errors import DomainError
from labeling.forms import AnswerForm, PreviewForm, SkipForm
from labeling.models import (
    Annotation,
    AnnotationStatus,
    Assignment,
    AssignmentStatus,
    Flag,
    Project,
    Review,
    Role,
    Task,
    TaskKind,
)
from labeling.selectors import draft_get, project_get_for_user, task_get_for_user
from labeling.selectors.queue import queue_rows
from labeling.selectors.structure import display_turns, structure_display, task_structure
from labeling.selectors.work import rework_answer, rework_draft
from labeling.services import (
    annotation_skip,
    annotation_submit,
    assignment_claim,
    assignment_heartbeat,
)
from labeling.services.drafts import ERROR_DRAFT_SHAPE, DraftError, draft_save, draft_too_large
from labeling.services.leases import assignment_release
from labeling.services.rubric import rubric_of_task

WORKERS = [Role.LABELER]  # reviewers and researchers may label too (roles imply)
LETTERS = string.ascii_uppercase
MESSAGE_NO_WORK = "No work left for you in {project} right now. Thank you!"
MESSAGE_SAVED = "Saved. Here is the next task."
MESSAGE_SKIPPED = "Skipped. Here is the next task."
MESSAGE_ACCEPTED_MEANWHILE = (
    "A reviewer accepted your earlier answer to this task while you were reworking it, so the "
    "new one was not needed and was not saved. Here is the next task."
)
MESSAGE_NOT_YOURS = "You do not hold a claim on this task."
MESSAGE_LEASE_EXPIRED_OPEN = (
    "Your claim on this task expired at {expired}. Your work is still here: submit it and it "
    "is accepted while the task has a free slot; if other labelers have filled it meanwhile, "
    "you will be told so and can claim the next task."
)


@require_GET
@login_required
def queue(request: HttpRequest) -> HttpResponse:
    """The labeler's projects: their progress, the guidelines and a Start button."""
    return render(request, "labeling/queue.html", {"rows": queue_rows(user=request.user)})


def _work_context(assignment: Assignment | None, *, project: Project, task: Task | None = None):
    """What the labeler may see of a claimed task: answers in their own shuffled order, no
    gold flag, no model names."""
    if assignment is None:
        return {"project": project, "assignment": None, "task": task}
    task = assignment.task
    texts = dict(task.completions.values_list("pk", "text"))
    order = assignment.display_order or list(texts)
    answers = [
        {"id": pk, "letter": LETTERS[i % 26], "text": texts[pk]}
        for i, pk in enumerate(order)
        if pk in texts
    ]
    # The labeler's own earlier answer to this task, if any: a rejected one comes back as the
    # starting point of the rework (with the reviewer's comment); any other one means the
    # latest lease, even expired, has nothing left to answer.
    earlier = (
        Annotation.objects.filter(task=task, annotator_id=assignment.user_id)
        .values("status", "payload", "flags", "ratings", "none_acceptable", "updated_at")
        .first()
    )
    rejected = earlier if earlier and earlier["status"] == AnnotationStatus.REJECTED else None
    comment = None
    if rejected is not None:
        comment = (
            Review.objects.filter(
                annotation__task=task, annotation__annotator_id=assignment.user_id
            )
            .order_by("-pk")
            .values_list("comment", flat=True)
            .first()
        )
    rubric = rubric_of_task(task, project=project) if task.kind == TaskKind.RUBRIC else None
    active = assignment.status == AssignmentStatus.ACTIVE
    # An expired claim may still be submitted while a slot is free (annotation_submit says
    # why not otherwise), so its page keeps the work area, the draft and the submit button.
    expired = assignment.status == AssignmentStatus.EXPIRED and (
        earlier is None or rejected is not None
    )
    workable = active or expired
    server_draft = draft_get(task=task, user_id=assignment.user_id) if workable else None
    if workable and server_draft is None and rejected is not None:
        server_draft = rework_draft(
            kind=task.kind,
            answer=rework_answer(
                kind=task.kind,
                payload=rejected["payload"],
                flags=rejected["flags"],
                ratings=rejected["ratings"],
                none_acceptable=rejected["none_acceptable"],
                display_order=order,
            ),
            saved_at=rejected["updated_at"],
        )
    structure = structure_display(task_structure(task=task))
    return {
        "project": project,
        "task": task,
        "assignment": assignment,
        "active": active,
        "expired": expired,
        "lease_notice": MESSAGE_LEASE_EXPIRED_OPEN.format(
            expired=timezone.localtime(assignment.expires_at).strftime("%H:%M")
        )
        if expired
        else None,
        "workable": workable,
        # The page restores the newer of this and the browser's own copy; for rework with no
        # draft yet, the rejected answer.
        "server_draft": server_draft,
        "system": task.prompt.system,
        "turns": display_turns(task.prompt.messages or [], structure),
        "structure": structure,
        "answers": answers,
        "draft": answers[0] if task.kind == TaskKind.DEMONSTRATION and answers else None,
        # The task's own rubric (an eval run's judge criteria) or the project's; each point
        # with its written anchor, shown as the labeler focuses or picks it.
        "criteria": [
            {
                "name": c.name,
                "description": c.description,
                "points": [{"value": p, "anchor": rubric.anchor(c, p)} for p in rubric.points],
            }
            for c in rubric.criteria
        ]
        if rubric
        else [],
        "scale": rubric.points if rubric else [],
        "scale_anchors": sorted(rubric.anchors.items()) if rubric else [],
        "rubric_instructions": rubric.instructions if rubric else "",
        "ratings": list(range(1, project.answer_rating_max + 1)),
        "flags": Flag.choices,
        "slots": list(range(1, len(answers) + 1)),
        "review_comment": comment,
        "heartbeat_ms": max(10_000, project.claim_timeout_minutes * 60_000 // 3),
    }


def _lease_for(task: Task, user) -> Assignment | None:
    return (
        Assignment.objects.filter(task=task, user=user)
        .select_related("task__prompt")
        .order_by("-pk")
        .first()
    )


def _render_work(request: HttpRequest, context: dict, *, status: int = 200) -> HttpResponse:
    template = "labeling/task.html#work" if request.htmx else "labeling/task.html"
    return render(request, template, context, status=status)


def _next(request: HttpRequest, project: Project, *, message: str | None) -> HttpResponse:
    """Claim the user's next task in the project and answer with its work area."""
    assignment = assignment_claim(project=project, user=request.user)
    if assignment is None:
        if not request.htmx:
            return redirect("labeling:queue")
        response = _render_work(request, _work_context(None, project=project))
        response = push_url(response, reverse("labeling:queue"))
        return trigger_client_event(
            response, "showToast", {"message": MESSAGE_NO_WORK.format(project=project.name)}
        )
    url = reverse("labeling:task", args=[assignment.task_id])
    if not request.htmx:
        return redirect(url)
    assignment = Assignment.objects.select_related("task__prompt").get(pk=assignment.pk)
    response = push_url(_render_work(request, _work_context(assignment, project=project)), url)
    if message:
        response = trigger_client_event(response, "showToast", {"message": message})
    return response


@require_POST
@login_required
def project_start(request: HttpRequest, pk: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=pk, roles=WORKERS)
    return _next(request, project, message=None)


@require_GET
@login_required
def task_detail(request: HttpRequest, pk: int) -> HttpResponse:
    task = task_get_for_user(user=request.user, task_id=pk, roles=WORKERS)
    assignment = _lease_for(task, request.user)
    context = _work_context(assignment, project=task.project, task=task)
    if assignment is None:
        context["error"] = MESSAGE_NOT_YOURS
    return _render_work(request, context)


def _error(request: HttpRequest, context: dict, target: str, message: str) -> HttpResponse:
    """A refused submit or skip: htmx gets the message placed next to the field (the page,
    with what the labeler wrote, stays); a plain POST gets the page again with the error."""
    if request.htmx:
        response = render(request, "labeling/_error.html", {"error": message})
        return reswap(retarget(response, target), "innerHTML")
    context[target.lstrip("#").replace("-", "_")] = message
    return _render_work(request, context, status=400)


@require_POST
@login_required
def task_submit(request: HttpRequest, pk: int) -> HttpResponse:
    task = task_get_for_user(user=request.user, task_id=pk, roles=WORKERS)
    form = AnswerForm(request.POST)
    try:
        if not form.is_valid():
            raise DomainError(" ".join(form.non_field_errors()) or "Check the answer.")
        annotation = annotation_submit(task=task, user=request.user, data=form.cleaned_data["data"])
    except DomainError as error:
        context = _work_context(_lease_for(task, request.user), project=task.project)
        return _error(request, context, "#answer-error", str(error))
    accepted = getattr(annotation, "accepted_meanwhile", False)
    response = _next(
        request, task.project, message=MESSAGE_ACCEPTED_MEANWHILE if accepted else MESSAGE_SAVED
    )
    return trigger_client_event(response, "annotationSaved", {"task": task.pk})


@require_POST
@login_required
def task_skip(request: HttpRequest, pk: int) -> HttpResponse:
    task = task_get_for_user(user=request.user, task_id=pk, roles=WORKERS)
    form = SkipForm(request.POST)
    form.is_valid()
    try:
        annotation_skip(
            task=task,
            user=request.user,
            reason=form.cleaned_data.get("reason") or "",
            time_spent_ms=form.cleaned_data.get("time_spent_ms") or 0,
        )
    except DomainError as error:
        context = _work_context(_lease_for(task, request.user), project=task.project)
        return _error(request, context, "#skip-error", str(error))
    response = _next(request, task.project, message=MESSAGE_SKIPPED)
    return trigger_client_event(response, "annotationSaved", {"task": task.pk})


@require_POST
@login_required
def task_heartbeat(request: HttpRequest, pk: int) -> HttpResponse:
    """Renew the lease; 409 with the service's message when it has expired."""
    task = task_get_for_user(user=request.user, task_id=pk, roles=WORKERS)
    try:
        assignment = assignment_heartbeat(task=task, user=request.user)
    except DomainError as error:
        return HttpResponse(str(error), status=409, content_type="text/plain; charset=utf-8")
    return HttpResponse(assignment.expires_at.isoformat(), content_type="text/plain")


@require_http_methods(["PUT"])
@login_required
def task_draft(request: HttpRequest, pk: int) -> HttpResponse:
    """Keep the page's autosave state (a JSON object in the body) as the labeler's draft on
    the server; 400 with the service's message when it is refused."""
    task = task_get_for_user(user=request.user, task_id=pk, roles=WORKERS)
    try:
        try:
            state = json.loads(request.body)
        except ValueError:
            raise DraftError(ERROR_DRAFT_SHAPE) from None
        except RequestDataTooBig:
            raise draft_too_large(int(request.META.get("CONTENT_LENGTH") or 0)) from None
        draft = draft_save(task=task, user=request.user, state=state)
    except DomainError as error:
        return JsonResponse({"error": str(error)}, status=400)
    return JsonResponse({"saved_at": draft.saved_at.isoformat(), "size": draft.size})


@require_POST
@login_required
def task_leave(request: HttpRequest, pk: int) -> HttpResponse:
    """Give the lease back and go to the queue (the task may come back to this labeler)."""
    task = task_get_for_user(user=request.user, task_id=pk, roles=WORKERS)
    assignment_release(task=task, user=request.user)
    return redirect("labeling:queue")


@require_POST
@login_required
def markdown_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """The draft rendered through the one markdown helper, and its diff against the model
    draft it edits, if any."""
    task = task_get_for_user(user=request.user, task_id=pk, roles=WORKERS)
    form = PreviewForm(request.POST)
    form.is_valid()
    text = form.cleaned_data.get("text") or ""
    diff = []
    draft_id = form.cleaned_data.get("draft_completion")
    if draft_id is not None:
        original = task.completions.filter(pk=draft_id).values_list("text", flat=True).first()
        if original is not None and original != text:
            diff = [
                {"line": line, "kind": {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "")}
                for line in difflib.unified_diff(
                    original.splitlines(), text.splitlines(), "draft", "yours", lineterm=""
                )
            ]
    return render(request, "labeling/_preview.html", {"text": text, "diff": diff})
