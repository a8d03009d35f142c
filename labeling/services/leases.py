"""Giving a lease back without an answer: the labeler leaves a task page ("Back to queue").

Unlike a skip, a released task may be offered to the same labeler again; unlike expiry, the
slot returns to the pool at once instead of after the claim timeout.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from labeling.models import Assignment, AssignmentStatus, Task
from labeling.services.assignment import _counters_move


@transaction.atomic
def assignment_release(
    *, task: Task, user: AbstractBaseUser, now: datetime | None = None
) -> Assignment | None:
    """End the user's active lease on the task early; returns it, or None when there was no
    active lease (already expired, submitted or skipped: nothing to give back)."""
    assignment = (
        Assignment.objects.select_for_update()
        .filter(task=task, user=user, status=AssignmentStatus.ACTIVE)
        .first()
    )
    if assignment is None:
        return None
    _counters_move(task.pk, active=-1)
    assignment.status = AssignmentStatus.EXPIRED
    assignment.finished_at = now or timezone.now()
    assignment.save(update_fields=["status", "finished_at"])
    return assignment
