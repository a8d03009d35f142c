"""Human evaluation of an eval run: the very items the judge saw become labeling tasks, and
the raters' submitted answers come back as judgments of rater group ``human``.

Pairwise runs give pairwise tasks with the same two answers (model names are kept on the
completions but never shown; the labeling claim shuffles the order per rater and records it).
Single-grading runs give rubric tasks, one answer each, that carry the judge's own rubric for
the item (the criteria or dimensions it graded, its overall score, its scale and the written
anchors it read; see evaluation.judging.rubric), so a rater's overall score and the judge's
are on one scale. Both kinds carry the gold reference when the question has one, as the
judge's with-reference templates do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.db import transaction

from evaluation.errors import EvaluationError
from evaluation.judging.rubric import OVERALL, template_rubric
from evaluation.models import (
    CandidateAnswer,
    EvalItem,
    EvalRun,
    Judgment,
    Order,
    RaterGroup,
    RunMode,
)
from evaluation.services.judgments import judgment_record
from evaluation.services.runner import run_templates, template_for
from labeling.exports.rows import EVALUATION_PROMPT_SOURCE, EVALUATION_SOURCE_APP
from labeling.models import Annotation, AnnotationStatus, Task, TaskKind
from labeling.services import completion_bulk_create, prompt_bulk_create, task_bulk_create

SOURCE_APP = EVALUATION_SOURCE_APP
ERROR_EXISTS = "This run has human tasks already ({n}); collect their answers instead."
ERROR_OVERLAP = (
    "Overlap must be between 1 and 100 raters per item; at least 2 give human-human agreement."
)
ERROR_NO_ANSWER = "Question {question} has no answer from {model} at turn {turn}."
DEFAULT_OVERLAP = 2
EARLIER_TURNS_NOTE = "(Each answer below shows the model's own earlier replies first.)"


def _conversation(questions: list[str], turn: int) -> list[dict[str, str]]:
    """The user turns up to `turn`; earlier assistant turns differ per model, so each answer
    carries its own and the conversation holds a placeholder between user turns."""
    messages: list[dict[str, str]] = []
    for index, text in enumerate(questions[:turn]):
        if index:
            messages.append({"role": "assistant", "content": EARLIER_TURNS_NOTE})
        messages.append({"role": "user", "content": text})
    return messages


def _answer_text(turns: list[str], turn: int) -> str:
    if turn == 1:
        return turns[0]
    earlier = "\n\n".join(
        f"**Earlier reply (turn {i})**\n\n{t}" for i, t in enumerate(turns[: turn - 1], 1)
    )
    return f"{earlier}\n\n---\n\n**Reply to judge (turn {turn})**\n\n{turns[turn - 1]}"


@transaction.atomic
def human_tasks_create(*, run: EvalRun, overlap: int = DEFAULT_OVERLAP) -> list[Task]:
    """One labeling task per item of the run, each wanting `overlap` raters. Once per run."""
    if not isinstance(overlap, int) or isinstance(overlap, bool) or not 1 <= overlap <= 100:
        raise EvaluationError(ERROR_OVERLAP)
    existing = Task.objects.filter(
        project=run.project, source__app=SOURCE_APP, source__run=run.pk
    ).count()
    if existing:
        raise EvaluationError(ERROR_EXISTS.format(n=existing))
    project = run.project
    items = list(EvalItem.objects.filter(run=run).select_related("question").order_by("id"))
    question_pks = {item.question_id for item in items}
    answers = {
        (a.question_id, a.model): a.turns
        for a in CandidateAnswer.objects.filter(question_id__in=question_pks)
    }
    single = run.mode == RunMode.SINGLE
    templates = run_templates(run) if single else {}
    prompts = prompt_bulk_create(
        project=project,
        prompts=[
            {
                "messages": _conversation(item.question.turns, item.turn),
                "source": f"{EVALUATION_PROMPT_SOURCE}{run.pk}",
                "task_type": "",
                "meta": {"eval_run": run.pk, "question_id": item.question.question_id},
            }
            for item in items
        ],
    )
    completions_wanted = []
    for item, prompt in zip(items, prompts, strict=True):
        for model in [item.model_a] if single else [item.model_a, item.model_b]:
            turns = answers.get((item.question_id, model))
            if not turns or len(turns) < item.turn:
                raise EvaluationError(
                    ERROR_NO_ANSWER.format(
                        question=item.question.question_id, model=model, turn=item.turn
                    )
                )
            completions_wanted.append(
                {
                    "prompt": prompt.pk,
                    "text": _answer_text(turns, item.turn),
                    "model_name": model,
                    "meta": {"eval_run": run.pk, "eval_item": item.pk},
                }
            )
    completions = completion_bulk_create(project=project, completions=completions_wanted)
    per_item = 1 if single else 2
    tasks = []
    for index, (item, prompt) in enumerate(zip(items, prompts, strict=True)):
        mine = completions[index * per_item : (index + 1) * per_item]
        rubric, version = {}, ""
        if single:
            # The template that judged this item, as the runner chose it.
            template = template_for(
                templates,
                turn=item.turn,
                has_ref=bool(item.question.reference_for(item.turn)),
            )
            rubric = template_rubric(template, category=item.question.category).as_json()
            version = template.version
        tasks.append(
            {
                "kind": TaskKind.RUBRIC if single else TaskKind.PAIRWISE,
                "prompt": prompt.pk,
                "completions": [c.pk for c in mine],
                "required_annotations": overlap,
                # The judge's pairwise-with-reference template shows the reference too.
                "reference": item.question.reference_for(item.turn),
                "rubric": rubric,
                "source": {"app": SOURCE_APP, "run": run.pk, "item": item.pk},
                "meta": {
                    "question_id": item.question.question_id,
                    "category": item.question.category,
                    "turn": item.turn,
                    "models": [c.model_name for c in mine],
                    **({"judge_template": version} if version else {}),
                },
            }
        )
    return task_bulk_create(project=project, tasks=tasks)


@dataclass(frozen=True)
class Collected:
    tasks: int
    annotations: int
    recorded: int
    # Human judgments dropped because their annotation is no longer submitted or accepted
    # (a reviewer rejected it, or it was reopened).
    removed: int = 0


def _rescale(value: float, lo: float, hi: float, to_lo: float, to_hi: float) -> float:
    return to_lo + (value - lo) * (to_hi - to_lo) / (hi - lo)


@transaction.atomic
def human_judgments_collect(*, run: EvalRun) -> Collected:
    """Record every submitted or accepted annotation on the run's tasks as a judgment of group
    ``human`` (one per rater and item; running it again updates, never duplicates), and remove
    the human judgments on those items that no such annotation backs any more: a vote a
    reviewer rejected after it was collected must not stay in later reports."""
    tasks = {
        t.pk: t
        for t in Task.objects.filter(
            project=run.project, source__app=SOURCE_APP, source__run=run.pk
        ).prefetch_related("task_completions__completion")
    }
    if not tasks:
        return Collected(tasks=0, annotations=0, recorded=0)
    items = {i.pk: i for i in EvalItem.objects.filter(run=run).select_related("question")}
    kept: set[int] = set()
    annotations = (
        Annotation.objects.filter(
            task_id__in=list(tasks),
            status__in=[AnnotationStatus.SUBMITTED, AnnotationStatus.ACCEPTED],
        )
        .select_related("annotator")
        .order_by("id")
    )
    template = run.config_snapshot.get("template") or {}
    judge_lo = float(run.judge_config.template.score_min)
    judge_hi = float(run.judge_config.template.score_max)
    project = run.project
    count = recorded = 0
    for annotation in annotations:
        count += 1
        task = tasks[annotation.task_id]
        item = items.get(task.source.get("item"))
        if item is None:
            continue
        ordered = sorted(task.task_completions.all(), key=lambda tc: tc.position)
        models = {tc.completion_id: tc.completion.model_name for tc in ordered}
        shown = [models.get(c) for c in annotation.display_order or []]
        rationale = annotation.payload.get("rationale", "")
        if task.kind == TaskKind.PAIRWISE:
            choice = annotation.payload.get("choice")
            # The payload names the winning completion; its model is the winner.
            winner = models.get(annotation.payload.get("winner")) or "tie"
            order = Order.BA if shown and shown[0] == item.model_b else Order.AB
            judgment = judgment_record(
                run=run,
                question_id=item.question.question_id,
                model_a=item.model_a,
                model_b=item.model_b,
                turn=item.turn,
                rater=annotation.annotator.get_username(),
                rater_group=RaterGroup.HUMAN,
                winner=winner,
                order=order,
                raw_output=json.dumps(
                    {
                        "choice": choice,
                        "strength": annotation.payload.get("strength"),
                        "rationale": rationale,
                    },
                    ensure_ascii=False,
                ),
            )
        else:
            scores = annotation.payload.get("scores", {}).get(str(ordered[0].completion_id), {})
            if not scores:
                continue
            dimensions = {k: float(v) for k, v in scores.items() if k != OVERALL}
            if task.rubric:
                # The judge's criteria and scale: the rater's overall is the score.
                score = scores.get(OVERALL, sum(scores.values()) / len(scores))
            else:
                # Tasks made before they carried the judge's rubric were scored by the
                # project's: their mean, mapped linearly onto the judge's scale.
                mean = sum(scores.values()) / len(scores)
                score = _rescale(
                    mean,
                    project.rubric_scale_min,
                    project.rubric_scale_max,
                    judge_lo,
                    judge_hi,
                )
            judgment = judgment_record(
                run=run,
                question_id=item.question.question_id,
                model_a=item.model_a,
                turn=item.turn,
                rater=annotation.annotator.get_username(),
                rater_group=RaterGroup.HUMAN,
                score=round(score, 4),
                dimension_scores=dimensions,
                raw_output=json.dumps(
                    {"scores": scores, "rationale": rationale, "template": template.get("name")},
                    ensure_ascii=False,
                ),
            )
        kept.add(judgment.pk)
        recorded += 1
    # Every human judgment on the tasks' items came from a collection; those not recorded just
    # now lost their annotation (rejected, reopened, or re-answered in the other order).
    task_items = {t.source.get("item") for t in tasks.values()}
    removed, _ = (
        Judgment.objects.filter(run=run, rater_group=RaterGroup.HUMAN, item_id__in=task_items)
        .exclude(pk__in=kept)
        .delete()
    )
    return Collected(tasks=len(tasks), annotations=count, recorded=recorded, removed=removed)
