"""Demo data for agreement reports: the real MT-Bench expert/author votes and GPT-4 verdicts
imported as one judgment set in the demo project, with the headline reports computed ahead so
the pages open at once (turn 1, GPT-4 vs expert, and expert vs expert).

MT-Bench publishes no people's single-answer scores, so the score report is shown on the
evaluation demo's grading run with two *scripted demo raters* beside the scripted judge, each
with a rule it states in every rationale: one grades how much of the reference (or question)
the answer covers, on a 1-5 rubric; the other grades how thorough the answer is by its length,
and gives at most 2 to an answer that misses most of the key words.
Their scores go on the judge's 1-10 scale as collected rubric scores do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

from django.db import transaction
from django.urls import reverse

from evaluation.demo import SINGLE_RUN, key_words
from evaluation.models import CandidateAnswer, EvalItem, EvalRun, Judgment, JudgmentSet, RaterGroup
from evaluation.reports import agreement_report_build
from evaluation.services.imports import MTBENCH, judgments_import
from evaluation.services.judgments import judgment_record

DATA = Path(__file__).resolve().parent / "data" / "mt_bench_human_judgments"
SET_NAME = "MT-Bench: GPT-4 and human experts"
REPORTS = (("gpt4_pair", "expert", 1), ("expert", "expert", 1), ("gpt4_pair", "expert", None))
DEMO_RATERS = ("demo-rater-coverage", "demo-rater-thoroughness")
# The thoroughness rater: one rubric point per 60 words, from 1 to 5, but at most 2 when the
# answer covers less than a third of the key words.
WORDS_PER_POINT = 60
MISSES_THE_POINT = 1 / 3


def _rubric_to_judge(point: int) -> float:
    """A 1-5 rubric point on the judge's 1-10 scale (as human_judgments_collect maps it)."""
    return round(1 + (point - 1) * 9 / 4, 4)


def _demo_rating(rater: str, *, anchor: str, answer: str) -> tuple[int, str]:
    """(rubric point 1-5, rationale) by the rater's stated rule."""
    key = key_words(anchor)
    share = len(key & key_words(answer)) / len(key) if key else 0.0
    if rater == DEMO_RATERS[0]:
        point = 1 + round(4 * share)
        return point, f"Scripted demo rater: covers {share:.0%} of the key words, {point} of 5."
    words = len(answer.split())
    point = min(5, 1 + words // WORDS_PER_POINT)
    if share < MISSES_THE_POINT:
        point = min(point, 2)
        return point, f"Scripted demo rater: {words} words but off the point, {point} of 5."
    return point, f"Scripted demo rater: {words} words, {point} of 5 for thoroughness."


def rate_grading_run(*, project, stdout: TextIO) -> EvalRun | None:
    """Add the scripted demo raters' scores to the evaluation demo's grading run (once)."""
    run = EvalRun.objects.filter(project=project, name=SINGLE_RUN).first()
    if run is None:  # the evaluation demo was left out
        return None
    if Judgment.objects.filter(run=run, rater_group=RaterGroup.HUMAN).exists():
        return run
    answers = {
        (a.question_id, a.model): a.turns
        for a in CandidateAnswer.objects.filter(question__eval_set=run.eval_set_id)
    }
    count = 0
    with transaction.atomic():
        for item in EvalItem.objects.filter(run=run).select_related("question"):
            turns = answers.get((item.question_id, item.model_a)) or []
            if len(turns) < item.turn:
                continue
            question = item.question
            anchor = question.reference_for(item.turn) or question.turns[item.turn - 1]
            for rater in DEMO_RATERS:
                point, rationale = _demo_rating(rater, anchor=anchor, answer=turns[item.turn - 1])
                judgment_record(
                    run=run,
                    question_id=question.question_id,
                    model_a=item.model_a,
                    turn=item.turn,
                    rater=rater,
                    rater_group=RaterGroup.HUMAN,
                    score=_rubric_to_judge(point),
                    raw_output=json.dumps({"scores": {"overall": point}, "rationale": rationale}),
                )
                count += 1
    stdout.write(f"evaluation: {count} scores by the scripted demo raters on {run.name!r}\n")
    return run


def load_demo(*, project, users: dict, stdout: TextIO) -> None:
    """Import the set into `project` once (idempotent) and compute its headline reports."""
    researcher = users.get("researcher") or users.get("owner")
    judgment_set = JudgmentSet.objects.filter(name=SET_NAME).first()
    if judgment_set is None:
        judgment_set = judgments_import(
            sources=[DATA / "human.csv", DATA / "gpt4_pair.csv"],
            name=SET_NAME,
            project=project,
            format=MTBENCH,
            created_by=researcher,
        )
        stdout.write(
            f"evaluation: judgment set {SET_NAME!r} with {judgment_set.vote_count} votes\n"
        )
    for group_a, group_b, turn in REPORTS:
        report = agreement_report_build(
            judgment_set=judgment_set, group_a=group_a, group_b=group_b, turn=turn
        ).result
        stdout.write(
            f"evaluation: {group_a} vs {group_b}, turn {turn or 'all'}: "
            f"{100 * report['with_ties']['agreement']:.1f}% with ties "
            f"({report['with_ties']['agree']}/{report['with_ties']['n']}), "
            f"{100 * report['without_ties']['agreement']:.1f}% without "
            f"({report['without_ties']['agree']}/{report['without_ties']['n']})\n"
        )
    url = reverse("evaluation:set_report", args=[judgment_set.pk])
    stdout.write(f"evaluation: agreement report at {url}?a=gpt4_pair&b=expert&turn=1\n")

    run = rate_grading_run(project=project, stdout=stdout)
    if run is None:
        return
    scores = agreement_report_build(run=run, group_a="judge", group_b="human").result["scores"]
    reference = (scores["difference"] or {}).get("reference") or {}
    stdout.write(
        f"evaluation: judge vs human scores: Spearman {scores['spearman']:.2f} over "
        f"{scores['n']} pairs, human vs human {reference.get('spearman') or 0:.2f}\n"
    )
    url = reverse("evaluation:run_report", args=[run.pk])
    stdout.write(f"evaluation: score agreement report at {url}?a=judge&b=human\n")
