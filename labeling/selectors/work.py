"""Reads of tasks and annotations, with the rule that labelers see only their own work."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from labeling.models import Annotation, Draft, Project, Role, Task, TaskKind
from labeling.selectors.access import User, project_get_for_user, role_for_user

ERROR_TASK_NOT_FOUND = "No such task, or you are not a member of its project."


def user_may_review(*, user: User, project: Project) -> bool:
    return role_for_user(user=user, project=project) in (Role.REVIEWER, Role.RESEARCHER)


def task_get_for_user(*, user: User, task_id: int | str, roles=None) -> Task:
    """The task if the user may work in its project (404 otherwise, like projects)."""
    try:
        task = Task.objects.select_related("project", "prompt").get(pk=int(task_id))
    except (Task.DoesNotExist, ValueError, TypeError):
        raise Http404(ERROR_TASK_NOT_FOUND) from None
    project_get_for_user(user=user, project_id=task.project_id, roles=roles)
    return task


def task_list(
    *, project: Project, status: str | None = None, kind: str | None = None
) -> QuerySet[Task]:
    tasks = Task.objects.filter(project=project)
    if status:
        tasks = tasks.filter(status=status)
    if kind:
        tasks = tasks.filter(kind=kind)
    return tasks.select_related("prompt").prefetch_related("task_completions")


def annotation_list_for_user(
    *,
    user: User,
    project: Project,
    annotator_id: int | None = None,
    task_id: int | None = None,
    status: str | None = None,
    kind: str | None = None,
) -> QuerySet[Annotation]:
    """A project's annotations as this user may see them: reviewers and researchers see all,
    labelers only their own (never another labeler's answers)."""
    annotations = Annotation.objects.filter(project=project)
    if not user_may_review(user=user, project=project):
        annotations = annotations.filter(annotator=user)
    if annotator_id is not None:
        annotations = annotations.filter(annotator_id=annotator_id)
    if task_id is not None:
        annotations = annotations.filter(task_id=task_id)
    if status:
        annotations = annotations.filter(status=status)
    if kind:
        annotations = annotations.filter(kind=kind)
    return annotations.select_related("annotator")


def draft_get(*, task: Task, user_id: int) -> dict | None:
    """The user's server copy of their draft of the task, as the page restores it:
    {"state": ..., "saved_at": ISO time}, or None."""
    row = Draft.objects.filter(task=task, user_id=user_id).values("state", "saved_at").first()
    if row is None:
        return None
    return {"state": row["state"], "saved_at": row["saved_at"].isoformat()}


def rework_answer(
    *,
    kind: str,
    payload: Mapping[str, Any],
    flags: Mapping[str, list[str]] | None,
    ratings: Mapping[str, int] | None,
    none_acceptable: bool,
    display_order: Sequence[int],
) -> dict[str, Any]:
    """A rejected annotation as the submit would take it again, for the labeler who reworks
    it: pairwise "a"/"b" refer to `display_order`, the order of the new lease (it is shuffled
    anew at every claim)."""
    answer: dict[str, Any] = {"flags": dict(flags or {}), "ratings": dict(ratings or {})}
    if kind == TaskKind.DEMONSTRATION:
        answer["text"] = payload.get("text", "")
        answer["draft_completion"] = payload.get("draft_completion")
    elif kind == TaskKind.RANKING:
        answer["ranking"] = [list(tier) for tier in payload.get("ranking", [])]
        answer["none_acceptable"] = bool(none_acceptable)
    elif kind == TaskKind.PAIRWISE:
        winner, shown = payload.get("winner"), list(display_order)
        if winner is None or winner not in shown:
            answer["choice"] = payload.get("shown_choice") or payload.get("choice")
        else:
            answer["choice"] = "a" if shown.index(winner) == 0 else "b"
        if payload.get("strength") is not None:
            answer["strength"] = payload["strength"]
    else:
        answer["scores"] = {k: dict(v) for k, v in (payload.get("scores") or {}).items()}
    if payload.get("rationale"):
        answer["rationale"] = payload["rationale"]
    return answer


def _page_state(kind: str, answer: Mapping[str, Any]) -> dict[str, Any]:
    """`answer` in the shape the kind's snapshot() in static/js/labeling/kinds.js produces."""
    if kind == TaskKind.DEMONSTRATION:
        return {"text": answer["text"]}
    if kind == TaskKind.RANKING:
        placed = {
            str(member): rank
            for rank, tier in enumerate(answer["ranking"], start=1)
            for member in tier
        }
        return {
            "placed": placed,
            "flags": answer["flags"],
            "ratings": answer["ratings"],
            "none": answer["none_acceptable"],
        }
    if kind == TaskKind.PAIRWISE:
        strength = answer.get("strength")
        return {
            "choice": answer.get("choice"),
            "strength": str(strength) if strength else None,
            "flags": answer["flags"],
        }
    return {
        "checked": [
            f"score-{answer_id}-{criterion}={score}"
            for answer_id, per_criterion in answer["scores"].items()
            for criterion, score in per_criterion.items()
        ]
    }


def rework_draft(*, kind: str, answer: Mapping[str, Any], saved_at: datetime) -> dict:
    """A rework answer (see `rework_answer`) as a server draft the task page restores, in
    draft_get's shape plus `"source": "rejected"`. Its `at` is 0, so any copy the labeler
    made since in this browser wins."""
    state: dict[str, Any] = {"kind": _page_state(kind, answer), "spent": 0, "at": 0}
    if answer.get("rationale"):
        state["rationale"] = answer["rationale"]
    return {"state": state, "saved_at": saved_at.isoformat(), "source": "rejected"}
