"""Compute and store a run's results (evaluation/results.py does the arithmetic)."""

from __future__ import annotations

from django.conf import settings

from evaluation.models import CandidateAnswer, EvalRun, Judgment
from evaluation.results import ItemRow, JudgmentRow, build_results


def eval_run_results_compute(*, run: EvalRun, n_resamples: int | None = None) -> dict:
    """Results over the judge's judgments of the run; stored on the run and returned."""
    n_resamples = n_resamples or getattr(settings, "FLYWHEEL_EVAL_BOOTSTRAP_RESAMPLES", 1000)
    models = [*run.candidate_models, *([run.baseline] if run.baseline else [])]
    answers = {
        (a["question_id"], a["model"]): a["turns"]
        for a in CandidateAnswer.objects.filter(
            question__eval_set=run.eval_set_id, model__in=models
        ).values("question_id", "model", "turns")
    }

    def length(question_pk: int, model: str, turn: int) -> int:
        turns = answers.get((question_pk, model)) or []
        return len(turns[turn - 1]) if len(turns) >= turn else 0

    items = [
        ItemRow(
            item_id=row["id"],
            question=row["question__question_id"],
            category=row["question__category"],
            model_a=row["model_a"],
            model_b=row["model_b"],
            turn=row["turn"],
            len_a=length(row["question_id"], row["model_a"], row["turn"]),
            len_b=length(row["question_id"], row["model_b"], row["turn"]) if row["model_b"] else 0,
        )
        for row in run.items.values(
            "id",
            "question_id",
            "question__question_id",
            "question__category",
            "model_a",
            "model_b",
            "turn",
        )
    ]
    judgments = [
        JudgmentRow(**row)
        for row in Judgment.objects.filter(run=run, rater=run.config_snapshot.get("model")).values(
            "item_id", "order", "trial", "status", "verdict", "winner", "score", "dimension_scores"
        )
    ]
    results = build_results(
        mode=run.mode, items=items, judgments=judgments, n_resamples=n_resamples
    )
    EvalRun.objects.filter(pk=run.pk).update(results=results)
    run.results = results
    return results
