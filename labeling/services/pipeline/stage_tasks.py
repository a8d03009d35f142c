"""The tasks stage: tasks of a kind from accepted prompts, balanced across task types, with
the project's overlap and a share of gold."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

from django.db.models import Count, Exists, OuterRef

from labeling.models import (
    PipelineRun,
    Project,
    Prompt,
    PromptStatus,
    Task,
    TaskKind,
)
from labeling.services.tasks import task_bulk_create

from .runs import (
    GOLD_SOURCES,
    NEEDS,
    WARNING_GOLD_SHORT,
    WARNING_TOO_FEW_ANSWERS,
    _meter,
)


def _tasks(run: PipelineRun) -> None:
    """Prompts with fewer answers than the kind needs (K for ranking) are left out and counted,
    and a gold share the data cannot meet is reported: both as warnings on the run."""
    project = run.project
    params = run.params
    kind = params["kind"]
    need = _answers_needed(project, kind)
    has_task = Task.objects.filter(prompt=OuterRef("pk"), kind=kind)
    open_prompts = (
        Prompt.objects.filter(project=project, status=PromptStatus.ACTIVE)
        .annotate(n_answers=Count("completions"))
        .filter(~Exists(has_task))
    )
    too_few = open_prompts.filter(n_answers__lt=need).count() if need else 0
    by_type: dict[str, list[Prompt]] = defaultdict(list)
    for prompt in open_prompts.filter(n_answers__gte=need).order_by("id"):
        by_type[prompt.task_type].append(prompt)
    chosen = list(_round_robin(by_type, params["limit"]))
    meter = _meter(run, len(chosen))
    rng = random.Random(run.pk)
    specs = []
    for prompt in chosen:
        specs.append(_task_spec(project, kind, prompt, rng))
        meter.advance()
    gold_able = [i for i, spec in enumerate(specs) if spec.pop("_gold", None) is not None]
    want = round(params["gold_share"] * len(specs))
    gold = set(rng.sample(gold_able, min(want, len(gold_able))))
    if too_few:
        message = WARNING_TOO_FEW_ANSWERS.format(count=too_few, need=need, kind=kind)
        run.warnings = [*run.warnings, {"code": "too_few_answers", "message": message}]
    if len(gold) < want:
        message = WARNING_GOLD_SHORT.format(
            share=params["gold_share"],
            want=want,
            tasks=len(specs),
            able=len(gold_able),
            got=len(gold),
            source=GOLD_SOURCES[TaskKind(kind)],
        )
        run.warnings = [*run.warnings, {"code": "gold_short", "message": message}]
    for i, spec in enumerate(specs):
        if i not in gold:
            spec.pop("gold_answer", None)
            spec.pop("reference", None)
        else:
            spec["is_gold"] = True
    created = task_bulk_create(project=project, tasks=specs) if specs else []
    counts: Counter[str] = Counter(p.task_type or "untagged" for p in chosen)
    meter.flush()
    run.done = len(created)
    run.counts = {
        "tasks": len(created),
        "gold": len(gold),
        "gold_wanted": want,
        "skipped_too_few_answers": too_few,
        "by_task_type": dict(counts),
    }


def _answers_needed(project: Project, kind: str) -> int:
    """Answers a prompt needs for a task of `kind`: the project's K for ranking."""
    if kind == TaskKind.RANKING:
        return max(NEEDS[TaskKind.RANKING], project.k_outputs)
    return NEEDS[TaskKind(kind)]


def _round_robin(groups: Mapping[str, list[Prompt]], limit: int) -> Iterator[Prompt]:
    """Balanced across task types: one of each type in turn until the limit."""
    queues = [list(items) for _, items in sorted(groups.items())]
    taken = 0
    while taken < limit and any(queues):
        for queue in queues:
            if queue and taken < limit:
                taken += 1
                yield queue.pop(0)


def _task_spec(project: Project, kind: str, prompt: Prompt, rng: random.Random) -> dict[str, Any]:
    answers = list(prompt.completions.order_by("id"))
    meta: dict[str, Any] = {}
    if prompt.meta.get("followup_turns"):
        meta["followup_turns"] = prompt.meta["followup_turns"]  # MT-Bench's later turns
    spec: dict[str, Any] = {"kind": kind, "prompt": prompt.pk, "source": {"pipeline": True}}
    reference = prompt.meta.get("reference") or ""
    if kind == TaskKind.DEMONSTRATION:
        drafts = [a for a in answers if a.meta.get("draft")] or answers[:1]
        spec["completions"] = [a.pk for a in drafts[:1]]
        if reference:
            spec["reference"] = reference
            spec["gold_answer"] = {"text": reference}
            spec["_gold"] = True
    elif kind == TaskKind.PAIRWISE:
        preferred = [a for a in answers if a.meta.get("preferred") is True]
        others = [a for a in answers if a.meta.get("preferred") is not True]
        pair = (preferred[:1] + others)[:2] if preferred else answers[:2]
        # The preferred answer (HH-RLHF `chosen`) lands on a random side, so side says nothing.
        flip = rng.random() < 0.5
        if flip:
            pair = pair[::-1]
        spec["completions"] = [a.pk for a in pair]
        if preferred and len(pair) == 2:
            spec["gold_answer"] = {"choice": "b" if flip else "a"}
            spec["_gold"] = True
    elif kind == TaskKind.RANKING:
        spec["completions"] = [a.pk for a in answers[: max(2, project.k_outputs)]]
    else:
        spec["completions"] = [a.pk for a in answers[: max(1, project.k_outputs)]]
        if reference:
            spec["reference"] = reference
            spec["_gold"] = True
    if meta:
        spec["meta"] = meta
    return spec
