"""Reviews: a reviewer accepts or rejects an annotation; rejected work goes back to its
author (their next claim offers it first, while the slot is free)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from flywheel.errors import DomainError
from labeling.models import Annotation, AnnotationStatus, Review, ReviewDecision
from labeling.services.assignment import _counters_move

ERROR_DECISION = "`decision` must be accept or reject."
ERROR_REJECT_NEEDS_COMMENT = "Say what to fix: a rejection needs a comment."
ERROR_REVIEW_SKIPPED = "A skipped task has no answer to review."
ERROR_REVIEW_OWN = "You cannot review your own annotation."
ERROR_SLOT_TAKEN = (
    "This annotation was rejected and its slot has since gone to another labeler; it can no "
    "longer be accepted."
)


class ReviewError(DomainError):
    pass


@transaction.atomic
def review_create(
    *, annotation: Annotation, reviewer: AbstractBaseUser, decision: str, comment: str = ""
) -> Review:
    if decision not in ReviewDecision.values:
        raise ReviewError(ERROR_DECISION)
    if decision == ReviewDecision.REJECT and not comment.strip():
        raise ReviewError(ERROR_REJECT_NEEDS_COMMENT)
    annotation = Annotation.objects.select_for_update().get(pk=annotation.pk)
    if annotation.status == AnnotationStatus.SKIPPED:
        raise ReviewError(ERROR_REVIEW_SKIPPED)
    if annotation.annotator_id == reviewer.pk:
        raise ReviewError(ERROR_REVIEW_OWN)
    if decision == ReviewDecision.REJECT and annotation.status != AnnotationStatus.REJECTED:
        # The slot returns to the pool; the author's next claim offers the task first.
        _counters_move(annotation.task_id, submitted=-1)
        annotation.status = AnnotationStatus.REJECTED
    elif decision == ReviewDecision.ACCEPT:
        if annotation.status == AnnotationStatus.REJECTED and not _counters_move(
            annotation.task_id, submitted=1, need_slot=True
        ):
            raise ReviewError(ERROR_SLOT_TAKEN)
        annotation.status = AnnotationStatus.ACCEPTED
    annotation.save(update_fields=["status", "updated_at"])
    return Review.objects.create(
        annotation=annotation, reviewer=reviewer, decision=decision, comment=comment.strip()
    )
