"""Demo snapshots: an SFT and a preference snapshot built from the demo project's labeling
work. When the demo has too little submitted work, the demo reviewer answers open tasks
through the labeling services first (as any labeler would). Idempotent."""

from __future__ import annotations

from typing import Any, TextIO

from django.contrib.auth.models import AbstractBaseUser

from flywheel.errors import DomainError
from labeling.exports.build import snapshot_build, snapshot_create
from labeling.models import Annotation, DatasetSnapshot, Project, Task, TaskKind
from labeling.services import annotation_submit, assignment_claim
from labeling.services.rubric import rubric_of_task

SFT_NAME = "Demo SFT (demonstrations, gold, best ranked)"
PREFERENCE_NAME = "Demo preferences (rankings, pairwise, edits)"
RECIPES = {
    SFT_NAME: {
        "kind": "sft",
        "sft_sources": ["demonstrations", "gold", "ranking_best"],
        "validation_fraction": 0.2,
        "seed": 0,
    },
    PREFERENCE_NAME: {
        "kind": "preference",
        "aggregation": "majority",
        "tie_policy": "keep",
        "validation_fraction": 0.2,
        "seed": 0,
    },
}
MAX_ANSWERS = 20


def _answer_for(project: Project, task: Task, order: list[int]) -> dict[str, Any]:
    if task.kind == TaskKind.RANKING:
        return {"ranking": order, "time_spent_ms": 30_000}
    if task.kind == TaskKind.PAIRWISE:
        return {"choice": "a", "strength": 2, "time_spent_ms": 20_000}
    if task.kind == TaskKind.DEMONSTRATION:
        if order:
            draft = task.completions.get(pk=order[0]).text
            return {
                "text": draft.rstrip() + "\n\n(Checked and tightened by the demo reviewer.)",
                "draft_completion": order[0],
            }
        return {"text": "A demonstration written by the demo reviewer.", "draft_completion": None}
    rubric = rubric_of_task(task)
    middle = (rubric.scale_min + rubric.scale_max) // 2
    return {"scores": {str(i): {c: middle for c in rubric.names} for i in order}}


def _answer_some(project: Project, user: AbstractBaseUser) -> int:
    answered = 0
    for _ in range(MAX_ANSWERS):
        lease = assignment_claim(project=project, user=user)
        if lease is None:
            break
        task = Task.objects.get(pk=lease.task_id)
        annotation_submit(
            task=task, user=user, data=_answer_for(project, task, lease.display_order)
        )
        answered += 1
    return answered


def load_demo(*, project: Project, users: dict[str, AbstractBaseUser], stdout: TextIO) -> None:
    if DatasetSnapshot.objects.filter(project=project, name__in=list(RECIPES)).exists():
        stdout.write("Snapshot demo data is there already.\n")
        return
    reviewer = users.get("reviewer")
    answered = 0
    if (
        reviewer is not None
        and not Annotation.objects.filter(project=project, kind=TaskKind.DEMONSTRATION).exists()
    ):
        answered = _answer_some(project, reviewer)
    researcher = users.get("researcher")
    for name, recipe in RECIPES.items():
        try:
            snapshot = snapshot_create(
                project=project, name=name, recipe=recipe, created_by=researcher, enqueue=False
            )
        except DomainError as error:
            stdout.write(f"Snapshot demo: {name} not built: {error}\n")
            continue
        snapshot = snapshot_build(snapshot=snapshot)
        counts = ", ".join(f"{k} {v}" for k, v in snapshot.row_counts.items())
        stdout.write(
            f"Snapshot demo: {name}: {snapshot.status} ({counts or snapshot.error}); "
            f"{answered} answers added by the reviewer.\n"
        )
