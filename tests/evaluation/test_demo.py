import io
import random

from evaluation.demo import (
    MODELS,
    PAIR_JUDGE,
    PAIR_RUN,
    SINGLE_MODELS,
    SINGLE_RUN,
    _scripted_judge,
    load_demo,
)
from evaluation.models import EvalRun, EvalSet, JudgeConfig, RunStatus
from evaluation.services.human import SOURCE_APP
from labeling.models import Task, TaskKind
from labeling.services import assignment_claim


def test_scripted_demo_judge_rule_is_what_it_says():
    prompt = (
        "[User question]\nq\n\n[The start of the reference answer]\nParis is the capital\n"
        "[The end of the reference answer]\n\n[The start of assistant A's answer]\nLyon\n"
        "[The end of assistant A's answer]\n\n[The start of assistant B's answer]\n"
        "Paris, the capital\n[The end of assistant B's answer]"
    )
    assert _scripted_judge({"messages": [{"role": "user", "content": prompt}]}).endswith("[[B]]")


def test_load_demo_builds_judged_runs_once(project, owner):
    out = io.StringIO()
    load_demo(project=project, users={"researcher": owner}, stdout=out)
    load_demo(project=project, users={"researcher": owner}, stdout=out)
    assert EvalSet.objects.get(project=project).question_count == 80
    runs = EvalRun.objects.filter(project=project)
    assert runs.count() == 2
    assert set(runs.values_list("status", flat=True)) == {RunStatus.SUCCEEDED}
    pairwise = runs.get(mode="baseline")
    assert pairwise.results["overall"]["pairs"][0]["n"] > 100
    assert "scripted demo judge" in JudgeConfig.objects.get(name=PAIR_JUDGE).name.lower()


def test_scripted_demo_judge_grades_the_last_reply_against_the_last_reference_turn():
    prompt = (
        "[The start of the reference conversation]\n### User:\nName a city\n\n"
        "### Reference answer:\nParis is a city\n\n### User:\nAnother one?\n\n"
        "### Reference answer:\nLisbon is another\n[The end of the reference conversation]\n\n"
        "[The start of the conversation]\n### User:\nName a city\n\n### Assistant:\n"
        "Paris is a city\n\n### User:\nAnother one?\n\n### Assistant:\nLisbon\n"
        "[The end of the conversation]"
    )
    # Anchor "Lisbon is another": two key words (lisbon, another), the reply has one; the
    # earlier turns and the reference conversation are not the answer. 1 + round(9 x 0.5) = 5.
    reply = _scripted_judge({"messages": [{"role": "user", "content": prompt}]})
    assert reply == "The answer covers 50% of the anchor's words.\n[[5]]"


def test_grading_run_scores_four_models_over_both_turns(project, owner):
    load_demo(project=project, users={"researcher": owner}, stdout=io.StringIO())
    single = EvalRun.objects.get(project=project, name=SINGLE_RUN)
    assert single.candidate_models == list(SINGLE_MODELS)
    items = single.items.all()
    assert set(items.values_list("turn", flat=True)) == {1, 2}
    assert set(items.values_list("model_a", flat=True)) == set(SINGLE_MODELS)


def test_demo_pairwise_run_is_in_the_labelers_queue_once(project, owner, labeler):
    out = io.StringIO()
    load_demo(project=project, users={"researcher": owner}, stdout=out)
    load_demo(project=project, users={"researcher": owner}, stdout=out)
    run = EvalRun.objects.get(project=project, name=PAIR_RUN)
    tasks = Task.objects.filter(project=project, source__app=SOURCE_APP, source__run=run.pk)
    # One pairwise task per judged item, two raters each, made once.
    assert tasks.count() == run.items.count() > 100
    assert set(tasks.values_list("kind", "required_annotations")) == {(TaskKind.PAIRWISE, 2)}
    assert out.getvalue().count("pairwise tasks of") == 1
    # The demo labeler is handed one: the two models' answers, names hidden on the page.
    assignment = assignment_claim(project=project, user=labeler, rng=random.Random(0))
    assert assignment.task.source["run"] == run.pk
    models = set(assignment.task.completions.values_list("model_name", flat=True))
    assert models == set(MODELS)
