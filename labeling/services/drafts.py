"""Drafts: the server's copy of the work a labeler has not sent yet.

The task page saves its state to the browser at every change and here every few seconds, so
the work survives another browser or device, cleared storage or a crash. Last write wins;
the page, when it opens, restores the newer of its own copy and this one. Submit and skip
remove the draft (in `annotation_submit` / `annotation_skip`, in their transaction), and the
submit that completes a task removes the drafts other labelers left on it.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from flywheel.errors import DomainError
from labeling.models import Assignment, AssignmentStatus, Draft, Task, TaskStatus

# A long demonstration is some thousands of words; 256 KiB holds dozens of them, and keeps
# one labeler from filling the database through the autosave.
DRAFT_MAX_BYTES = 256 * 1024

ERROR_DRAFT_SHAPE = "A draft must be a JSON object."
ERROR_DRAFT_TOO_LARGE = (
    "This draft is {size} KB; the server keeps drafts up to {limit} KB. It is still saved in "
    "this browser: shorten it, or submit it."
)
ERROR_DRAFT_NOT_HELD = "You have no claim on task {task} to save a draft for; claim the task first."


class DraftError(DomainError):
    pass


def draft_too_large(size: int) -> DraftError:
    """The refusal of a draft of `size` bytes (also for a body too big to read at all)."""
    return DraftError(
        ERROR_DRAFT_TOO_LARGE.format(size=math.ceil(size / 1024), limit=DRAFT_MAX_BYTES // 1024)
    )


@transaction.atomic
def draft_save(
    *, task: Task, user: AbstractBaseUser, state: Any, now: datetime | None = None
) -> Draft:
    """Keep `state` as the user's draft of the task, replacing any earlier one.

    Only the labeler whose lease it is may write: their latest claim on the task must be
    active, or expired without an answer (an expired claim may still be submitted while a
    slot is free, so its work is worth keeping)."""
    if not isinstance(state, dict):
        raise DraftError(ERROR_DRAFT_SHAPE)
    size = len(json.dumps(state, ensure_ascii=False, separators=(",", ":")).encode())
    if size > DRAFT_MAX_BYTES:
        raise draft_too_large(size)
    # Locked like submit and skip lock it, so a save racing a submit either lands before it
    # (and is cleared by it) or sees the submitted lease and is refused.
    lease = (
        Assignment.objects.select_for_update()
        .filter(task=task, user=user)
        .order_by("-pk")
        .values_list("status", flat=True)
        .first()
    )
    if lease not in (AssignmentStatus.ACTIVE, AssignmentStatus.EXPIRED):
        raise DraftError(ERROR_DRAFT_NOT_HELD.format(task=task.pk))
    draft, _ = Draft.objects.update_or_create(
        task=task,
        user=user,
        defaults={"state": state, "size": size, "saved_at": now or timezone.now()},
    )
    return draft


def draft_clear(*, task: Task, user: AbstractBaseUser) -> int:
    """Remove the user's draft of the task once their work is submitted or skipped, and every
    other labeler's draft of it when that filled the task's last slot: an expired claim can
    no longer be answered then, so its draft would never be read. One query."""
    deleted, _ = (
        Draft.objects.filter(task=task)
        .filter(Q(user=user) | Q(task__status__in=[TaskStatus.COMPLETE, TaskStatus.ARCHIVED]))
        .delete()
    )
    return deleted
