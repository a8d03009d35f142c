"""The labeler's queue page: per project, their progress and (where the project shows them)
their gold accuracy and agreement with other labelers. A constant number of queries however
many projects, tasks and annotations there are."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django.db.models import Case, Count, IntegerField, OuterRef, Q, Subquery, When
from django.utils import timezone

from labeling.models import (
    Annotation,
    AnnotationStatus,
    Assignment,
    AssignmentStatus,
    Membership,
    Role,
)
from labeling.selectors.access import User
from labeling.selectors.quality import COUNTED, annotator_recent_agreement

# Agreement on the queue covers the labeler's latest answers in each project, so the page
# stays fast for someone with 100,000 of them and follows how they work now.
AGREEMENT_WINDOW = 200
# Labelers agree on preferences well below 100 %: ~70 % is good work on most projects.
AGREEMENT_GOOD = 70
AGREEMENT_WEAK = 55
GOLD_GOOD = 80
GOLD_WEAK = 60


def _midnight() -> datetime:
    now = timezone.localtime()
    return timezone.make_aware(datetime.combine(now.date(), time.min), now.tzinfo)


def _level(pct: int | None, good: int, weak: int) -> str:
    if pct is None:
        return ""
    return "ok" if pct >= good else "warn" if pct >= weak else "bad"


def _pct(value: float | None) -> int | None:
    return None if value is None else round(100 * value)


def queue_rows(*, user: User) -> list[dict[str, Any]]:
    """One row per project the user is a member of, by project name."""
    # The id where the user's window of recent counted work starts in each project (the
    # AGREEMENT_WINDOW-th newest; None when they have fewer): a bounded scan of index
    # annotation_by_annotator per project, inside the memberships query.
    window_start = (
        Annotation.objects.filter(
            project=OuterRef("project_id"), annotator=user, status__in=COUNTED
        )
        .order_by("-id")
        .values("id")[AGREEMENT_WINDOW - 1 : AGREEMENT_WINDOW]
    )
    memberships = list(
        Membership.objects.filter(user=user)
        .select_related("project")
        .annotate(
            window_start=Case(
                When(project__show_quality_to_labelers=True, then=Subquery(window_start)),
                output_field=IntegerField(),
            )
        )
        .order_by("project__name")
    )
    # One aggregate over the labeler's own annotations (index annotation_by_annotator).
    stats = {
        row["project_id"]: row
        for row in Annotation.objects.filter(annotator=user)
        .exclude(status=AnnotationStatus.SKIPPED)
        .values("project_id")
        .annotate(
            total=Count("pk"),
            today=Count("pk", filter=Q(submitted_at__gte=_midnight())),
            gold_n=Count("gold_correct"),
            gold_ok=Count("pk", filter=Q(gold_correct=True)),
            rejected=Count("pk", filter=Q(status=AnnotationStatus.REJECTED)),
        )
    }
    leases = dict(
        Assignment.objects.filter(user=user, status=AssignmentStatus.ACTIVE).values_list(
            "project_id", "task_id"
        )
    )
    agreement = annotator_recent_agreement(
        annotator_id=user.pk,
        windows={
            m.project_id: m.window_start
            for m in memberships
            if m.project.show_quality_to_labelers and stats.get(m.project_id)
        },
    )
    rows = []
    for membership in memberships:
        project = membership.project
        row = stats.get(project.pk, {})
        shown = project.show_quality_to_labelers
        gold_n = row.get("gold_n", 0) if shown else 0
        gold_pct = round(100 * row.get("gold_ok", 0) / gold_n) if gold_n else None
        agree = agreement.get(project.pk) or {"value": None, "n": 0, "tasks": 0}
        agree_pct = _pct(agree["value"])
        rows.append(
            {
                "project": project,
                "role": membership.get_role_display(),
                "may_review": membership.role in (Role.REVIEWER, Role.RESEARCHER),
                "today": row.get("today", 0),
                "total": row.get("total", 0),
                "rejected": row.get("rejected", 0),
                "gold_n": gold_n,
                "gold_pct": gold_pct,
                "gold_level": _level(gold_pct, GOLD_GOOD, GOLD_WEAK),
                "agreement_pct": agree_pct,
                "agreement_n": agree["n"],
                "agreement_tasks": agree["tasks"],
                "agreement_level": _level(agree_pct, AGREEMENT_GOOD, AGREEMENT_WEAK),
                "agreement_window": AGREEMENT_WINDOW,
                "lease_task": leases.get(project.pk),
            }
        )
    return rows
