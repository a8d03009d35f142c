"""Reads of tasks and annotations, with the rule that labelers see only their own work."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from labeling.models import Annotation, Draft, Project, Role, Task
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
