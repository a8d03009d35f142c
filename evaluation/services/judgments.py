"""Judgments from raters other than the run's judge: people, or verdicts imported from
elsewhere. They are the same kind of row as the judge's, addressed by (question_id, model
pair, turn), so agreement reports can set them side by side."""

from __future__ import annotations

from django.db import transaction

from evaluation.errors import EvaluationError
from evaluation.models import EvalItem, EvalRun, Judgment, JudgmentStatus, Order

ERROR_NO_ITEM = (
    "Run {run} has no item for question {question!r}, {model_a!r} vs {model_b!r}, turn {turn}."
)
ERROR_WINNER = "The winner must be one of the pair's models or 'tie'; got {winner!r}."
ERROR_RATER_IS_JUDGE = "That rater name is the run's judge; use another name."
ERROR_NOTHING = "Give a winner (pairwise) or a score (single grading)."


@transaction.atomic
def judgment_record(
    *,
    run: EvalRun,
    question_id: str,
    model_a: str,
    model_b: str = "",
    turn: int = 1,
    rater: str,
    rater_group: str,
    winner: str = "",
    score: float | None = None,
    order: str = "",
    trial: int = 0,
    raw_output: str = "",
    dimension_scores: dict[str, float] | None = None,
) -> Judgment:
    """Record (or replace) one rater's verdict on an item of the run."""
    if rater == run.config_snapshot.get("model"):
        raise EvaluationError(ERROR_RATER_IS_JUDGE)
    if not winner and score is None:
        raise EvaluationError(ERROR_NOTHING)
    item = EvalItem.objects.filter(
        run=run,
        question__question_id=str(question_id),
        model_a=model_a,
        model_b=model_b,
        turn=turn,
    ).first()
    if item is None:
        raise EvaluationError(
            ERROR_NO_ITEM.format(
                run=run.pk, question=question_id, model_a=model_a, model_b=model_b, turn=turn
            )
        )
    if winner and winner not in (model_a, model_b, "tie"):
        raise EvaluationError(ERROR_WINNER.format(winner=winner))
    shown_first = model_b if order == Order.BA else model_a
    verdict = (
        "" if not winner else "C" if winner == "tie" else "A" if winner == shown_first else "B"
    )
    judgment, _ = Judgment.objects.update_or_create(
        item=item,
        rater=rater,
        order=order,
        trial=trial,
        defaults={
            "run": run,
            "rater_group": rater_group,
            "status": JudgmentStatus.OK,
            "verdict": verdict,
            "winner": winner,
            "score": score,
            "dimension_scores": dict(dimension_scores or {}),
            "raw_output": raw_output,
        },
    )
    return judgment
