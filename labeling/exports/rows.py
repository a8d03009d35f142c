"""The rows of a snapshot, read from the database one chunk of prompts at a time.

`candidate_prompts` is the recipe's selection (prompts with at least one annotation that
passes the SQL filters); `funnel_counts` counts before each of those filters; `RowStream`
walks the candidates in id order in chunks of CHUNK prompts (five queries per chunk, nothing
kept between chunks but counters) and yields (prompt task type, rows) per prompt.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce

from labeling.exports.pairs import (
    Vote,
    consensus_best,
    pairwise_votes,
    ranking_votes,
    task_agreement,
    votes_aggregate,
)
from labeling.exports.recipe import Recipe
from labeling.models import (
    Annotation,
    AnnotationStatus,
    Completion,
    Prompt,
    PromptStatus,
    Task,
    TaskCompletion,
    TaskKind,
)

CHUNK = 1000  # prompts per chunk: bounded memory, few round trips
COUNTED = (AnnotationStatus.SUBMITTED, AnnotationStatus.ACCEPTED)
EDIT_MARGIN = 1.0  # an edit beats its draft by one tier
# Task.source["app"] of the tasks an eval run sends to human raters (evaluation.services.human).
EVALUATION_SOURCE_APP = "evaluation"
# ... and the source of their prompts, followed by the run's id.
EVALUATION_PROMPT_SOURCE = "eval run "


def source_kinds(recipe: Recipe) -> list[str]:
    """The annotation kinds a recipe reads."""
    if recipe.kind == "sft":
        wanted = {"demonstrations": TaskKind.DEMONSTRATION, "ranking_best": TaskKind.RANKING}
        return sorted({wanted[s] for s in recipe.sft_sources if s in wanted})
    if recipe.kind == "preference":
        wanted = {
            "rankings": TaskKind.RANKING,
            "pairwise": TaskKind.PAIRWISE,
            "edits": TaskKind.DEMONSTRATION,
        }
        return sorted({wanted[s] for s in recipe.preference_sources})
    return []


def _annotation_stages(recipe: Recipe) -> list[tuple[str, Q]]:
    kinds = source_kinds(recipe)
    label, q = f"annotation kind in ({', '.join(kinds) or 'none'})", Q(kind__in=kinds)
    if recipe.kind == "preference" and "edits" in recipe.preference_sources:
        # Only edited drafts state a preference among demonstrations.
        others = [k for k in kinds if k != TaskKind.DEMONSTRATION]
        label = f"annotation kind in ({', '.join(others)}) or edited drafts"
        if not others:
            label = "edited drafts"
        q = Q(kind__in=others) | (
            Q(kind=TaskKind.DEMONSTRATION, payload__has_key="original") & ~Q(payload__original=None)
        )
    stages = [(label, q)]
    if recipe.task_types:
        stages.append(
            (
                f"task_types ({', '.join(recipe.task_types)})",
                Q(task__prompt__task_type__in=recipe.task_types),
            )
        )
    if recipe.after:
        stages.append(
            (f"submitted_after {recipe.submitted_after}", Q(submitted_at__gte=recipe.after))
        )
    if recipe.before:
        stages.append(
            (f"submitted_before {recipe.submitted_before}", Q(submitted_at__lt=recipe.before))
        )
    if recipe.accepted_only:
        stages.append(("accepted_only", Q(status=AnnotationStatus.ACCEPTED)))
    else:
        stages.append(("submitted or accepted (not rejected or skipped)", Q(status__in=COUNTED)))
    if not recipe.include_evaluation_tasks:
        # Tasks made from an eval run hold held-out evaluation questions: training on them
        # would leak the test set into the model.
        stages.append(
            (
                "not human-evaluation tasks (include_evaluation_tasks)",
                # (a task without the key is kept; JSON key lookups are NULL there)
                Q(task__source__app__isnull=True) | ~Q(task__source__app=EVALUATION_SOURCE_APP),
            )
        )
    return stages


def _prompt_stages(recipe: Recipe) -> list[tuple[str, Q]]:
    stages = [("active prompts (not filtered out or archived)", Q(status=PromptStatus.ACTIVE))]
    if not recipe.include_evaluation_tasks:
        stages.append(
            (
                "not human-evaluation prompts (include_evaluation_tasks)",
                ~Q(source__startswith=EVALUATION_PROMPT_SOURCE),
            )
        )
    if recipe.task_types:
        stages.append(
            (f"task_types ({', '.join(recipe.task_types)})", Q(task_type__in=recipe.task_types))
        )
    if recipe.after:
        stages.append((f"submitted_after {recipe.submitted_after}", Q(when__gte=recipe.after)))
    if recipe.before:
        stages.append((f"submitted_before {recipe.submitted_before}", Q(when__lt=recipe.before)))
    return stages


def _prompts(recipe: Recipe) -> QuerySet[Prompt]:
    return Prompt.objects.filter(project_id__in=recipe.projects).annotate(
        when=Coalesce("collected_at", "created_at")
    )


def annotation_filter(recipe: Recipe) -> Q:
    q = Q(project_id__in=recipe.projects)
    for _, stage in _annotation_stages(recipe):
        q &= stage
    return q


def _gold_tasks(recipe: Recipe) -> QuerySet[Task]:
    tasks = Task.objects.filter(
        project_id__in=recipe.projects, is_gold=True, kind=TaskKind.DEMONSTRATION
    )
    if recipe.task_types:
        tasks = tasks.filter(prompt__task_type__in=recipe.task_types)
    return tasks


def funnel_counts(recipe: Recipe) -> tuple[str, list[dict[str, Any]]]:
    """(unit, [{filter, count}]): the count before any filter, then after each SQL filter."""
    if recipe.kind == "prompts":
        queryset, unit, stages = _prompts(recipe), "prompts", _prompt_stages(recipe)
        label = "prompts in the projects"
    else:
        queryset = Annotation.objects.filter(project_id__in=recipe.projects)
        unit, stages, label = (
            "annotations",
            _annotation_stages(recipe),
            "annotations in the projects",
        )
    funnel = [{"filter": label, "count": queryset.count()}]
    for name, q in stages:
        queryset = queryset.filter(q)
        funnel.append({"filter": name, "count": queryset.count()})
    if recipe.kind == "sft" and "gold" in recipe.sft_sources:
        funnel.append(
            {
                "filter": "gold answers (gold demonstration tasks)",
                "count": _gold_tasks(recipe).count(),
            }
        )
    return unit, funnel


def candidate_prompts(recipe: Recipe) -> QuerySet[Prompt]:
    if recipe.kind == "prompts":
        prompts = _prompts(recipe)
        for _, q in _prompt_stages(recipe):
            prompts = prompts.filter(q)
        return prompts
    has = Exists(Annotation.objects.filter(annotation_filter(recipe), task__prompt=OuterRef("pk")))
    if recipe.kind == "sft" and "gold" in recipe.sft_sources:
        has |= Exists(_gold_tasks(recipe).filter(prompt=OuterRef("pk")))
    return Prompt.objects.filter(project_id__in=recipe.projects).filter(has)


def totals_by_task_type(recipe: Recipe) -> dict[str, int]:
    return dict(
        candidate_prompts(recipe)
        .order_by()
        .values("task_type")
        .annotate(n=Count("id"))
        .values_list("task_type", "n")
    )


def excluded_annotators(recipe: Recipe) -> set[int]:
    """Annotators whose gold accuracy is under the recipe's threshold (annotators with no gold
    answers are kept)."""
    if recipe.min_gold_accuracy is None:
        return set()
    rows = (
        Annotation.objects.filter(
            project_id__in=recipe.projects, gold_correct__isnull=False, status__in=COUNTED
        )
        .order_by()
        .values("annotator_id")
        .annotate(n=Count("id"), ok=Count("id", filter=Q(gold_correct=True)))
    )
    return {r["annotator_id"] for r in rows if r["ok"] / r["n"] < recipe.min_gold_accuracy}


def _conversation(prompt: dict) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": prompt["system"]}] if prompt["system"] else []
    return messages + [{"role": m["role"], "content": m["content"]} for m in prompt["messages"]]


def _assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


class RowStream:
    """Rows of a recipe, prompt by prompt. Counters say what each Python-side rule removed."""

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe
        self.excluded = excluded_annotators(recipe)
        self.counts: Counter[str] = Counter()
        self.routed_out: list[dict] = []  # drained by the writer after each prompt
        self.flags = set(recipe.exclude_flags)
        self.kinds = source_kinds(recipe)

    # --- walking the database ---------------------------------------------------------------

    def prompts(self) -> Iterator[tuple[str, list[dict]]]:
        # Keyset over the projects' prompt ids first, then the recipe's filter on that window
        # only: a filtered keyset query would re-run its semi-join over the whole table for
        # every chunk (quadratic at a million prompts).
        window = Prompt.objects.filter(project_id__in=self.recipe.projects).order_by("id")
        candidates = candidate_prompts(self.recipe).order_by("id")
        last = 0
        while True:
            ids = list(window.filter(pk__gt=last).values_list("id", flat=True)[:CHUNK])
            if not ids:
                return
            last = ids[-1]
            chunk = list(
                candidates.filter(pk__in=ids).values(
                    "id", "task_type", "messages", "system", "source"
                )
            )
            if self.recipe.kind == "prompts":
                for prompt in chunk:
                    yield prompt["task_type"], [self._prompt_row(prompt)]
                continue
            yield from self._chunk(chunk)

    def _chunk(self, chunk: list[dict]) -> Iterator[tuple[str, list[dict]]]:
        prompt_ids = [p["id"] for p in chunk]
        with_gold = self.recipe.kind == "sft" and "gold" in self.recipe.sft_sources
        task_q = Q(prompt_id__in=prompt_ids, kind__in=self.kinds)
        if with_gold:
            task_q |= Q(prompt_id__in=prompt_ids, is_gold=True, kind=TaskKind.DEMONSTRATION)
        tasks = list(
            Task.objects.filter(task_q)
            .order_by("prompt_id", "id")
            .values("id", "prompt_id", "kind", "is_gold", "gold_answer")
        )
        task_ids = [t["id"] for t in tasks]
        annotations: dict[int, list[dict]] = defaultdict(list)
        for row in (
            Annotation.objects.filter(annotation_filter(self.recipe), task_id__in=task_ids)
            .order_by("task_id", "id")
            .values(
                "id",
                "task_id",
                "annotator_id",
                "kind",
                "payload",
                "display_order",
                "flags",
                "ratings",
                "none_acceptable",
                "submitted_at",
            )
        ):
            annotations[row["task_id"]].append(row)
        answers: dict[int, list[int]] = defaultdict(list)
        for task_id, completion_id in (
            TaskCompletion.objects.filter(task_id__in=task_ids)
            .order_by("task_id", "position")
            .values_list("task_id", "completion_id")
        ):
            answers[task_id].append(completion_id)
        needs_texts = {t["id"] for t in tasks if t["kind"] != TaskKind.DEMONSTRATION}
        texts = dict(
            Completion.objects.filter(
                pk__in=[c for t in needs_texts for c in answers[t]]
            ).values_list("pk", "text")
        )
        by_prompt: dict[int, list[dict]] = defaultdict(list)
        for task in tasks:
            by_prompt[task["prompt_id"]].append(task)
        for prompt in chunk:
            conversation = _conversation(prompt)
            rows: list[dict] = []
            for task in by_prompt[prompt["id"]]:
                rows.extend(
                    self._task_rows(
                        prompt,
                        conversation,
                        task,
                        annotations[task["id"]],
                        answers[task["id"]],
                        texts,
                    )
                )
            yield prompt["task_type"], rows

    # --- one task ---------------------------------------------------------------------------

    def _keep(self, task: dict, group: list[dict]) -> list[dict]:
        kept = []
        for row in group:
            if row["annotator_id"] in self.excluded:
                self.counts["annotations_gold_accuracy_excluded"] += 1
            elif row["none_acceptable"] and row["kind"] == TaskKind.RANKING:
                self.counts["annotations_none_acceptable_routed_out"] += 1
                self.routed_out.append(
                    {
                        "reason": "none_acceptable",
                        "task_id": task["id"],
                        "prompt_id": task["prompt_id"],
                        "annotation_id": row["id"],
                        "annotator_id": row["annotator_id"],
                    }
                )
            else:
                kept.append(row)
        return kept

    def _votes(self, group: list[dict], ids: list[int]) -> list[Vote]:
        votes: list[Vote] = []
        for row in group:
            if row["kind"] == TaskKind.RANKING:
                votes += ranking_votes(
                    row["payload"]["ranking"], ratings=row["ratings"], annotation=row["id"]
                )
            elif row["kind"] == TaskKind.PAIRWISE:
                if row["payload"].get("choice") == "both_bad":
                    self.counts["pairwise_both_bad"] += 1
                votes += pairwise_votes(
                    row["payload"],
                    ids=ids,
                    both_bad=self.recipe.both_bad_policy,
                    annotation=row["id"],
                )
        return votes

    def _agreeing(self, group: list[dict], votes: list[Vote]) -> bool:
        if self.recipe.min_agreement is None:
            return True
        agreement = task_agreement(votes)
        if agreement is None or agreement < self.recipe.min_agreement:
            self.counts["annotations_below_min_agreement"] += len(group)
            return False
        return True

    def _flagged(self, group: list[dict]) -> set[int]:
        if not self.flags:
            return set()
        return {
            int(answer)
            for row in group
            for answer, flags in (row["flags"] or {}).items()
            if self.flags & set(flags)
        }

    def _provenance(self, source: str, task: dict, rows: list[dict]) -> dict[str, Any]:
        return {
            "source": source,
            "task_id": task["id"],
            "prompt_id": task["prompt_id"],
            "annotator_ids": [r["annotator_id"] for r in rows],
            "display_orders": [list(r["display_order"] or []) for r in rows],
            "submitted_at": [r["submitted_at"].isoformat() for r in rows],
        }

    def _sft_row(self, conversation: list, text: str, task_type: str, provenance: dict) -> dict:
        if self.recipe.sft_format == "prompt_completion":
            row = {"prompt": conversation, "completion": _assistant(text)}
        else:
            row = {"messages": conversation + _assistant(text)}
        return {**row, "task_type": task_type, **provenance}

    def _task_rows(
        self,
        prompt: dict,
        conversation: list,
        task: dict,
        group: list[dict],
        ids: list[int],
        texts: dict[int, str],
    ) -> list[dict]:
        recipe, task_type = self.recipe, prompt["task_type"]
        rows: list[dict] = []
        if recipe.kind == "sft" and task["is_gold"] and "gold" in recipe.sft_sources:
            text = (task["gold_answer"] or {}).get("text")
            if text:
                rows.append(
                    self._sft_row(conversation, text, task_type, self._provenance("gold", task, []))
                )
        if task["kind"] not in self.kinds:
            return rows
        group = self._keep(task, group)
        if task["kind"] == TaskKind.DEMONSTRATION:
            for row in group:
                payload = row["payload"]
                if recipe.kind == "sft" and "demonstrations" in recipe.sft_sources:
                    rows.append(
                        self._sft_row(
                            conversation,
                            payload["text"],
                            task_type,
                            self._provenance("demonstration", task, [row]),
                        )
                    )
                elif recipe.kind == "preference" and payload.get("original") not in (
                    None,
                    payload["text"],
                ):
                    rows.append(
                        {
                            "prompt": conversation,
                            "chosen": _assistant(payload["text"]),
                            "rejected": _assistant(payload["original"]),
                            "margin": EDIT_MARGIN,
                            "tie": False,
                            "chosen_id": None,
                            "rejected_id": payload.get("draft_completion"),
                            "task_type": task_type,
                            **self._provenance("edit", task, [row]),
                        }
                    )
            return rows
        votes = self._votes(group, ids)
        if not votes or not self._agreeing(group, votes):
            return rows
        flagged = self._flagged(group)
        by_id = {row["id"]: row for row in group}
        if recipe.kind == "sft":
            best = consensus_best(votes)
            if best is None:
                self.counts["rankings_without_a_single_best"] += 1
            elif best in flagged:
                self.counts["best_answers_flagged"] += 1
            else:
                rows.append(
                    self._sft_row(
                        conversation,
                        texts[best],
                        task_type,
                        self._provenance("ranking_best", task, group),
                    )
                )
            return rows
        source = "ranking" if task["kind"] == TaskKind.RANKING else "pairwise"
        for pair in votes_aggregate(votes, aggregation=recipe.aggregation, tie_policy="keep"):
            if pair.tie and recipe.tie_policy == "drop":
                self.counts["ties_dropped"] += 1
                continue
            if pair.chosen in flagged or pair.rejected in flagged:
                self.counts["pairs_with_flagged_answer_dropped"] += 1
                continue
            self.counts["ties_kept" if pair.tie else "pairs"] += 1
            rows.append(
                {
                    "prompt": conversation,
                    "chosen": _assistant(texts[pair.chosen]),
                    "rejected": _assistant(texts[pair.rejected]),
                    "margin": float(pair.margin),
                    "tie": pair.tie,
                    "chosen_id": pair.chosen,
                    "rejected_id": pair.rejected,
                    "task_type": task_type,
                    **self._provenance(source, task, [by_id[a] for a in pair.annotations]),
                }
            )
        return rows

    def _prompt_row(self, prompt: dict) -> dict:
        return {
            "prompt": _conversation(prompt),
            "task_type": prompt["task_type"],
            "id": str(prompt["id"]),
            "prompt_id": prompt["id"],
            "source": prompt["source"],
        }
