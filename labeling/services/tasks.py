"""Writes for tasks: turning prompts and their candidate answers into units of work."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction

from flywheel.errors import DomainError
from labeling.models import Completion, Project, Prompt, Task, TaskCompletion, TaskKind
from labeling.services.payloads import PayloadError, answer_clean
from labeling.services.rubric import RubricError, rubric_clean_task, rubric_of_task

ERROR_KIND = "Task {index}: kind must be one of {kinds}."
ERROR_PROMPT = "Task {index}: prompt {id} does not exist in this project."
ERROR_COMPLETIONS = "Task {index}: answers {ids} are not candidate answers of prompt {prompt}."
ERROR_COUNT = "Task {index}: a {kind} task needs {need} answers; it has {n}."
ERROR_DUPLICATE_COMPLETION = "Task {index}: an answer appears twice."
ERROR_OVERLAP = "Task {index}: `required_annotations` must be between 1 and 100."
ERROR_GOLD = "Task {index}: the gold answer is not valid: {message}"
ERROR_GOLD_MISSING = "Task {index}: a gold task needs `gold_answer` (or `reference` for rubric)."
ERROR_RUBRIC = "Task {index}: {message}"
ERROR_RUBRIC_KIND = "Task {index}: only rubric tasks carry their own rubric."

# How many answers each kind takes: (least, most).
ANSWERS = {
    TaskKind.DEMONSTRATION: (0, 20),
    TaskKind.RANKING: (2, 20),
    TaskKind.PAIRWISE: (2, 2),
    TaskKind.RUBRIC: (1, 20),
}
BATCH = 1000


class TaskError(DomainError):
    pass


@transaction.atomic
def task_bulk_create(*, project: Project, tasks: Iterable[Mapping[str, Any]]) -> list[Task]:
    """Create tasks: each {kind, prompt (id), completions: [ids in order],
    required_annotations (default: the project's overlap), is_gold, gold_answer, reference,
    rubric (a rubric task's own; see labeling.services.rubric), source, meta}. All or
    nothing."""
    items = list(tasks)
    prompt_ids = {int(t["prompt"]) for t in items if "prompt" in t}
    prompts = set(
        Prompt.objects.filter(project=project, pk__in=prompt_ids).values_list("pk", flat=True)
    )
    completion_ids = {int(c) for t in items for c in t.get("completions") or []}
    completions = {
        c.pk: c for c in Completion.objects.filter(pk__in=completion_ids, prompt_id__in=prompts)
    }
    rows: list[Task] = []
    orders: list[list[int]] = []
    for index, item in enumerate(items):
        kind = item.get("kind")
        if kind not in TaskKind.values:
            raise TaskError(ERROR_KIND.format(index=index, kinds=", ".join(TaskKind.values)))
        prompt_id = int(item.get("prompt", 0) or 0)
        if prompt_id not in prompts:
            raise TaskError(ERROR_PROMPT.format(index=index, id=item.get("prompt")))
        order = [int(c) for c in item.get("completions") or []]
        wrong = [c for c in order if c not in completions or completions[c].prompt_id != prompt_id]
        if wrong:
            raise TaskError(
                ERROR_COMPLETIONS.format(
                    index=index, ids=", ".join(map(str, wrong)), prompt=prompt_id
                )
            )
        if len(set(order)) != len(order):
            raise TaskError(ERROR_DUPLICATE_COMPLETION.format(index=index))
        least, most = ANSWERS[TaskKind(kind)]
        if not least <= len(order) <= most:
            need = str(least) if least == most else f"{least} to {most}"
            raise TaskError(ERROR_COUNT.format(index=index, kind=kind, need=need, n=len(order)))
        required = item.get("required_annotations") or project.overlap
        if not isinstance(required, int) or not 1 <= required <= 100:
            raise TaskError(ERROR_OVERLAP.format(index=index))
        is_gold = bool(item.get("is_gold", False))
        gold = item.get("gold_answer")
        reference = item.get("reference") or ""
        if is_gold and not gold and not reference:
            raise TaskError(ERROR_GOLD_MISSING.format(index=index))
        try:
            rubric = rubric_clean_task(item.get("rubric"))
        except RubricError as error:
            raise TaskError(ERROR_RUBRIC.format(index=index, message=error)) from None
        if rubric and kind != TaskKind.RUBRIC:
            raise TaskError(ERROR_RUBRIC_KIND.format(index=index))
        task = Task(
            project=project,
            prompt_id=prompt_id,
            kind=kind,
            required_annotations=required,
            is_gold=is_gold,
            reference=reference,
            rubric=rubric,
            source=dict(item.get("source") or {}),
            meta=dict(item.get("meta") or {}),
        )
        if gold:
            try:
                gold = answer_clean(
                    project=project,
                    kind=kind,
                    completion_ids=order,
                    completion_texts={c: completions[c].text for c in order},
                    data=gold,
                    rubric=rubric_of_task(task) if kind == TaskKind.RUBRIC else None,
                ).payload
            except PayloadError as error:
                raise TaskError(ERROR_GOLD.format(index=index, message=error)) from None
        task.gold_answer = gold or None
        rows.append(task)
        orders.append(order)
    created = Task.objects.bulk_create(rows, batch_size=BATCH)
    links = [
        TaskCompletion(task=task, completion_id=completion, position=position)
        for task, order in zip(created, orders, strict=True)
        for position, completion in enumerate(order)
    ]
    TaskCompletion.objects.bulk_create(links, batch_size=BATCH)
    return created
