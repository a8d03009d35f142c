"""Handing out work: claims (leases), heartbeats, expiry, submit and skip.

The overlap invariant (active leases + submissions never exceed a task's required
annotations) is a CHECK constraint on the task row; the counters move only through
`_counters_move`, one UPDATE that also keeps `status` in step. On PostgreSQL a claim picks
its task with `SELECT … FOR UPDATE SKIP LOCKED`, so concurrent labelers never wait on each
other's rows; on SQLite the connection starts transactions IMMEDIATE (settings), which
serialises writers, and the guarded UPDATE below is correct on both.

Locks are always taken in the order annotation -> assignment -> task, so that submit, skip,
review and the expiry sweep cannot deadlock one another.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Case, Exists, F, OuterRef, Value, When
from django.utils import timezone

from flywheel.errors import DomainError
from labeling.models import (
    Annotation,
    AnnotationStatus,
    Assignment,
    AssignmentStatus,
    Completion,
    Project,
    Task,
    TaskCompletion,
    TaskKind,
    TaskStatus,
)
from labeling.services.drafts import draft_clear
from labeling.services.payloads import answer_clean, gold_check
from labeling.services.rubric import rubric_of_task

ERROR_NOT_CLAIMED = "You have not claimed task {task}; claim a task first."
ERROR_LEASE_EXPIRED = "Your claim on task {task} expired at {expired}; claim a task again."
ERROR_LEASE_EXPIRED_TAKEN = (
    "Your claim on task {task} expired at {expired} and other labelers have since filled "
    "its slots, so your answer was not saved. Claim the next task."
)
ERROR_ALREADY_SKIPPED = "You skipped task {task}; a skipped task cannot be answered."
ERROR_ALREADY_SUBMITTED = "You already answered task {task}; it cannot be skipped now."
ERROR_SKIP_REASON = "Say why you skip the task: `reason` must not be empty."

EXPIRE_BATCH = 500
CLAIM_RETRIES = 5


class AssignmentError(DomainError):
    pass


def _counters_move(
    task_id: int, *, submitted: int = 0, active: int = 0, need_slot: bool = False
) -> bool:
    """Move a task's counters and status in one UPDATE. With `need_slot`, only when a slot
    is free (a guarded update: correct under any concurrency). Returns whether it moved."""
    new_submitted = F("submitted_count") + submitted
    new_filled = F("submitted_count") + F("active_leases") + submitted + active
    rows = Task.objects.filter(pk=task_id)
    if need_slot:
        rows = rows.filter(required_annotations__gt=F("submitted_count") + F("active_leases"))
    # Both databases evaluate SET expressions against the old row, hence the offsets here.
    return bool(
        rows.update(
            submitted_count=new_submitted,
            active_leases=F("active_leases") + active,
            status=Case(
                When(status=TaskStatus.ARCHIVED, then=Value(TaskStatus.ARCHIVED)),
                When(required_annotations__lte=new_submitted, then=Value(TaskStatus.COMPLETE)),
                When(required_annotations__gt=new_filled, then=Value(TaskStatus.OPEN)),
                default=Value(TaskStatus.FULL),
            ),
        )
    )


def _locking(queryset):
    if connection.features.has_select_for_update_skip_locked:
        return queryset.select_for_update(skip_locked=True, of=("self",))
    return queryset


def _expire_due(*, project: Project | None, now: datetime) -> int:
    due = Assignment.objects.filter(status=AssignmentStatus.ACTIVE, expires_at__lte=now)
    if project is not None:
        due = due.filter(project=project)
    rows = list(_locking(due.order_by("expires_at")).values_list("pk", "task_id")[:EXPIRE_BATCH])
    if not rows:
        return 0
    Assignment.objects.filter(pk__in=[pk for pk, _ in rows]).update(
        status=AssignmentStatus.EXPIRED, finished_at=now
    )
    for task_id, count in sorted(Counter(task_id for _, task_id in rows).items()):
        _counters_move(task_id, active=-count)
    return len(rows)


@transaction.atomic
def lease_expire_due(*, project: Project | None = None, now: datetime | None = None) -> int:
    """Expire leases past their time and return their slots to the pool. Returns how many.

    Every claim does this for its project first; the periodic task does it for all."""
    return _expire_due(project=project, now=now or timezone.now())


def _next_task(
    *, project: Project, user: AbstractBaseUser, is_gold: bool | None, rework: bool
) -> Task | None:
    tasks = Task.objects.filter(project=project, status=TaskStatus.OPEN)
    if rework:
        # Work a reviewer sent back goes to its author first, while the slot is free. Driven
        # from the author's rejected annotations (index annotation_by_annotator), not the tasks.
        rejected = Annotation.objects.filter(
            project=project, annotator=user, status=AnnotationStatus.REJECTED
        ).values("task_id")
        tasks = tasks.filter(pk__in=rejected).order_by("pk")
    else:
        done = Annotation.objects.filter(task=OuterRef("pk"), annotator=user)
        tasks = (
            tasks.filter(is_gold=is_gold)
            .alias(filled=F("submitted_count") + F("active_leases"))
            .filter(filled__lt=F("required_annotations"))
            .exclude(Exists(done))
            # Breadth-first overlap: finish tasks that already have work before new ones.
            .order_by("-filled", "pk")
        )
    return _locking(tasks).only("pk", "project_id", "kind", "prompt_id").first()


# One statement on PostgreSQL: pick the next task (skipping rows other claims hold), take a
# slot and read its answers. The ORDER BY repeats the expression of index task_claim_order.
_TAKE_SQL = """
WITH picked AS (
    SELECT t.id FROM labeling_task t
    WHERE t.project_id = %(project)s AND t.status = 'open' AND t.is_gold = %(gold)s
      AND (t.submitted_count + t.active_leases) < t.required_annotations
      AND NOT EXISTS (
          SELECT 1 FROM labeling_annotation a WHERE a.task_id = t.id AND a.annotator_id = %(user)s
      )
    ORDER BY (t.submitted_count + t.active_leases) DESC, t.id
    LIMIT 1
    FOR UPDATE OF t SKIP LOCKED
), taken AS (
    UPDATE labeling_task t
    SET active_leases = t.active_leases + 1,
        status = CASE WHEN t.submitted_count + t.active_leases + 1 < t.required_annotations
                      THEN 'open' ELSE 'full' END
    FROM picked WHERE t.id = picked.id
    RETURNING t.id
)
SELECT taken.id, ARRAY(
    SELECT tc.completion_id FROM labeling_taskcompletion tc
    WHERE tc.task_id = taken.id ORDER BY tc.position
) FROM taken
"""

# The user's current lease in the project, and whether a reviewer sent work back to them.
_PROBE_SQL = """
SELECT
    (SELECT id FROM labeling_assignment
     WHERE project_id = %(project)s AND user_id = %(user)s AND status = 'active'),
    EXISTS (SELECT 1 FROM labeling_annotation
            WHERE project_id = %(project)s AND annotator_id = %(user)s AND status = 'rejected')
"""


class _SlotGone(Exception):
    """The slot went between read and write (possible only without SKIP LOCKED)."""


def _answers(task_id: int) -> list[int]:
    return list(
        TaskCompletion.objects.filter(task_id=task_id)
        .order_by("position")
        .values_list("completion_id", flat=True)
    )


def _take(
    *, project: Project, user: AbstractBaseUser, is_gold: bool | None, rework: bool
) -> tuple[int, list[int]] | None:
    """Take a slot of the next task; returns (task id, its answer ids in order) or None."""
    if connection.vendor == "postgresql" and not rework:
        with connection.cursor() as cursor:
            cursor.execute(_TAKE_SQL, {"project": project.pk, "gold": is_gold, "user": user.pk})
            row = cursor.fetchone()
        return (row[0], list(row[1])) if row else None
    task = _next_task(project=project, user=user, is_gold=is_gold, rework=rework)
    if task is None:
        return None
    if not _counters_move(task.pk, active=1, need_slot=True):
        raise _SlotGone
    return task.pk, _answers(task.pk)


def assignment_claim(
    *,
    project: Project,
    user: AbstractBaseUser,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> Assignment | None:
    """The user's next task as a lease, or None when there is no work for them.

    A user holds at most one lease per project; claiming again returns it (renewed)."""
    now = now or timezone.now()
    rng = rng or random.Random()
    timeout = timedelta(minutes=project.claim_timeout_minutes)
    for _ in range(CLAIM_RETRIES):
        try:
            with transaction.atomic():
                _expire_due(project=project, now=now)
                with connection.cursor() as cursor:
                    cursor.execute(_PROBE_SQL, {"project": project.pk, "user": user.pk})
                    current_id, has_rework = cursor.fetchone()
                if current_id is not None:
                    current = Assignment.objects.select_for_update().get(pk=current_id)
                    if current.status != AssignmentStatus.ACTIVE:
                        continue  # turned in by a parallel request of the same user
                    current.expires_at = now + timeout
                    current.save(update_fields=["expires_at"])
                    return current
                taken = None
                if has_rework:
                    taken = _take(project=project, user=user, is_gold=None, rework=True)
                gold_first = project.gold_rate > 0 and rng.random() < project.gold_rate
                for is_gold in (gold_first, not gold_first):
                    if taken is not None:
                        break
                    taken = _take(project=project, user=user, is_gold=is_gold, rework=False)
                if taken is None:
                    return None
                task_id, order = taken
                rng.shuffle(order)
                return Assignment.objects.create(
                    project=project,
                    task_id=task_id,
                    user=user,
                    display_order=order,
                    claimed_at=now,
                    expires_at=now + timeout,
                )
        except _SlotGone:
            continue
    return None


def _latest_assignment(task: Task, user: AbstractBaseUser) -> Assignment | None:
    return (
        Assignment.objects.select_for_update().filter(task=task, user=user).order_by("-pk").first()
    )


@transaction.atomic
def assignment_heartbeat(
    *, task: Task, user: AbstractBaseUser, now: datetime | None = None
) -> Assignment:
    """Renew the user's lease on the task for another timeout."""
    now = now or timezone.now()
    assignment = _latest_assignment(task, user)
    if assignment is None:
        raise AssignmentError(ERROR_NOT_CLAIMED.format(task=task.pk))
    if assignment.status != AssignmentStatus.ACTIVE:
        raise AssignmentError(
            ERROR_LEASE_EXPIRED.format(task=task.pk, expired=assignment.expires_at.isoformat())
        )
    # Still active means the sweep has not returned the slot, so nobody else holds it.
    assignment.expires_at = now + timedelta(minutes=task.project.claim_timeout_minutes)
    assignment.save(update_fields=["expires_at"])
    return assignment


def _turn_in(task: Task, user: AbstractBaseUser, *, submitted: bool, now: datetime) -> Assignment:
    """Close the user's lease on the task, moving the counters; or take a free slot when the
    lease has expired. Raises when there is neither."""
    assignment = _latest_assignment(task, user)
    if assignment is None or assignment.status in (
        AssignmentStatus.SUBMITTED,
        AssignmentStatus.SKIPPED,
    ):
        raise AssignmentError(ERROR_NOT_CLAIMED.format(task=task.pk))
    if assignment.status == AssignmentStatus.ACTIVE:
        _counters_move(task.pk, submitted=int(submitted), active=-1)
    elif submitted and not _counters_move(task.pk, submitted=1, need_slot=True):
        raise AssignmentError(
            ERROR_LEASE_EXPIRED_TAKEN.format(
                task=task.pk, expired=assignment.expires_at.isoformat()
            )
        )
    assignment.status = AssignmentStatus.SUBMITTED if submitted else AssignmentStatus.SKIPPED
    assignment.finished_at = now
    assignment.save(update_fields=["status", "finished_at"])
    return assignment


def _turn_in_accepted(task: Task, user: AbstractBaseUser, *, now: datetime) -> bool:
    """A reviewer accepted the user's earlier answer while they were reworking it: close the
    rework lease (the accepted answer already holds its slot, so only the lease's own slot is
    given back) and drop the draft. Returns whether there was such a lease."""
    assignment = _latest_assignment(task, user)
    if assignment is None or assignment.status not in (
        AssignmentStatus.ACTIVE,
        AssignmentStatus.EXPIRED,
    ):
        return False
    if assignment.status == AssignmentStatus.ACTIVE:
        _counters_move(task.pk, active=-1)
    assignment.status = AssignmentStatus.SUBMITTED
    assignment.finished_at = now
    assignment.save(update_fields=["status", "finished_at"])
    draft_clear(task=task, user=user)
    return True


def annotation_submit(
    *,
    task: Task,
    user: AbstractBaseUser,
    data: Mapping[str, Any],
    now: datetime | None = None,
) -> Annotation:
    """Save the user's answer to a task they claimed. A second submit returns the first
    annotation unchanged; an invalid answer raises PayloadError and changes nothing.

    When a reviewer accepted the user's earlier answer while they were reworking it, the
    accepted annotation is returned unchanged, the rework lease is closed, and the returned
    annotation has `accepted_meanwhile` set (the new answer was not needed)."""
    now = now or timezone.now()
    ids = _answers(task.pk)
    # Only a demonstration reads answer texts (to keep the draft it edits).
    texts = (
        dict(Completion.objects.filter(pk__in=ids).values_list("pk", "text"))
        if task.kind == TaskKind.DEMONSTRATION
        else {}
    )
    # The order this labeler was shown gives pairwise letters their meaning; read without a
    # lock, since cleaning happens before the transaction (nothing is written here).
    shown = (
        Assignment.objects.filter(task=task, user=user)
        .order_by("-pk")
        .values_list("display_order", flat=True)
        .first()
    )
    clean = answer_clean(
        project=task.project,
        kind=task.kind,
        completion_ids=ids,
        completion_texts=texts,
        data=data,
        display_order=shown,
        rubric=rubric_of_task(task) if task.kind == TaskKind.RUBRIC else None,
    )
    with transaction.atomic():
        existing = Annotation.objects.select_for_update().filter(task=task, annotator=user).first()
        if existing is not None and existing.status == AnnotationStatus.ACCEPTED:
            existing.accepted_meanwhile = _turn_in_accepted(task, user, now=now)
            return existing
        if existing is not None and existing.status == AnnotationStatus.SUBMITTED:
            return existing
        if existing is not None and existing.status == AnnotationStatus.SKIPPED:
            raise AssignmentError(ERROR_ALREADY_SKIPPED.format(task=task.pk))
        assignment = _turn_in(task, user, submitted=True, now=now)
        annotation = existing or Annotation(project_id=task.project_id, task=task, annotator=user)
        annotation.kind = task.kind
        annotation.status = AnnotationStatus.SUBMITTED
        annotation.payload = clean.payload
        annotation.display_order = assignment.display_order
        annotation.time_spent_ms = clean.time_spent_ms
        annotation.flags = clean.flags
        annotation.ratings = clean.ratings
        annotation.none_acceptable = clean.none_acceptable
        annotation.skip_reason = ""
        annotation.gold_correct = (
            gold_check(kind=task.kind, payload=clean.payload, gold=task.gold_answer, ids=ids)
            if task.is_gold
            else None
        )
        annotation.submitted_at = now
        annotation.save()
        draft_clear(task=task, user=user)
        return annotation


@transaction.atomic
def annotation_skip(
    *,
    task: Task,
    user: AbstractBaseUser,
    reason: str,
    time_spent_ms: int = 0,
    now: datetime | None = None,
) -> Annotation:
    """Give a claimed task back with a reason; the user is not offered it again."""
    now = now or timezone.now()
    if not reason or not reason.strip():
        raise AssignmentError(ERROR_SKIP_REASON)
    existing = Annotation.objects.select_for_update().filter(task=task, annotator=user).first()
    if existing is not None and existing.status == AnnotationStatus.SKIPPED:
        return existing
    if existing is not None and existing.status != AnnotationStatus.REJECTED:
        raise AssignmentError(ERROR_ALREADY_SUBMITTED.format(task=task.pk))
    assignment = _turn_in(task, user, submitted=False, now=now)
    annotation = existing or Annotation(project_id=task.project_id, task=task, annotator=user)
    annotation.kind = task.kind
    annotation.status = AnnotationStatus.SKIPPED
    annotation.payload = {}
    annotation.display_order = assignment.display_order
    annotation.time_spent_ms = max(0, int(time_spent_ms))
    annotation.skip_reason = reason.strip()
    annotation.gold_correct = None
    annotation.submitted_at = now
    annotation.save()
    draft_clear(task=task, user=user)
    return annotation
