"""Human evaluation of a judge run through the labeling services: tasks for the very items the
judge saw, raters submit, their answers come back as human judgments, and the report compares."""

from __future__ import annotations

import random

import pytest
from django.urls import reverse

from evaluation.models import AgreementReport, Judgment, RaterGroup
from evaluation.reports import agreement_report_build
from evaluation.services import eval_run_execute
from evaluation.services.human import (
    ERROR_EXISTS,
    ERROR_OVERLAP,
    human_judgments_collect,
    human_tasks_create,
)
from flywheel.errors import DomainError
from labeling.models import Annotation, Role, Task, TaskKind
from labeling.services import annotation_submit, assignment_claim, membership_set, review_create
from tests.conftest import PASSWORD
from tests.evaluation.test_runner import longer_judge, make_run


@pytest.fixture
def raters(make_user, project, labeler):
    second = make_user("rater2")
    membership_set(project=project, user=second, role=Role.LABELER)
    return [labeler, second]


def _answer_all(project, user, choose):
    """Claim and answer every task the user is handed; `choose(task, models)` -> payload."""
    answered = 0
    while (
        assignment := assignment_claim(project=project, user=user, rng=random.Random(answered))
    ) is not None:
        task = assignment.task
        models = {tc.completion_id: tc.completion.model_name for tc in task.task_completions.all()}
        annotation_submit(task=task, user=user, data=choose(task, models, assignment))
        answered += 1
    return answered


def _prefer(model):
    def choose(task, models, assignment):
        # The rater presses the letter of the answer as shown to them (their display order).
        shown = assignment.display_order
        return {
            "choice": "a" if models[shown[0]] == model else "b",
            "rationale": f"{model} is better",
        }

    return choose


def test_full_loop_judge_run_to_human_tasks_to_report(
    project, eval_set, make_config, llm_server, raters
):
    llm_server.respond_with(longer_judge)
    run = eval_run_execute(run_id=make_run(project, eval_set, make_config()).pk)
    tasks = human_tasks_create(run=run)

    # One pairwise task per item, same two answers, names hidden from the page but recorded.
    assert len(tasks) == run.items_total == 6
    task = Task.objects.get(pk=tasks[0].pk)
    assert task.kind == TaskKind.PAIRWISE and task.required_annotations == 2
    assert task.source == {"app": "evaluation", "run": run.pk, "item": task.source["item"]}
    assert sorted(task.meta["models"]) == ["alpha", "beta"]
    item = run.items.get(pk=task.source["item"])
    texts = [tc.completion.text for tc in task.task_completions.order_by("position")]
    assert texts == [
        item.question.answers.get(model="alpha").turns[0],
        item.question.answers.get(model="beta").turns[0],
    ]

    # The judge prefers the longer answer (alpha on writing, beta on math). Rater 1 agrees with
    # the judge on every item; rater 2 always prefers alpha.
    def like_judge(task, models, assignment):
        shown = assignment.display_order
        texts = {tc.completion_id: tc.completion.text for tc in task.task_completions.all()}
        longer = max(shown, key=lambda c: len(texts[c]))
        return {"choice": "a" if longer == shown[0] else "b"}

    assert _answer_all(project, raters[0], like_judge) == 6
    assert _answer_all(project, raters[1], _prefer("alpha")) == 6

    collected = human_judgments_collect(run=run)
    assert (collected.tasks, collected.annotations, collected.recorded) == (6, 12, 12)
    human = Judgment.objects.filter(run=run, rater_group=RaterGroup.HUMAN)
    assert human.count() == 12
    assert set(human.values_list("rater", flat=True)) == {raters[0].username, "rater2"}
    assert set(human.filter(rater="rater2").values_list("winner", flat=True)) == {"alpha"}
    # The order each rater saw is recorded as AB / BA.
    assert set(human.values_list("order", flat=True)) <= {"AB", "BA"}
    # Collecting again changes nothing.
    human_judgments_collect(run=run)
    assert Judgment.objects.filter(run=run, rater_group=RaterGroup.HUMAN).count() == 12

    report = agreement_report_build(run=run, group_a="judge", group_b="human").result
    # judge vs each human on 6 items: 6 agreements with rater 1, 4 with rater 2 (q1-q4,
    # where alpha is the longer answer).
    assert (report["with_ties"]["agree"], report["with_ties"]["n"]) == (10, 12)
    assert (report["without_ties"]["agree"], report["without_ties"]["n"]) == (10, 12)
    # The humans agree with each other on those 4 items.
    assert report["difference"]["reference"]["with_ties"] == {
        "agreement": 4 / 6,
        "agree": 4,
        "n": 6,
    }
    assert report["per_category"]["writing"]["with_ties"]["agreement"] == 1.0
    # Math: q4 (alpha longer) agrees twice, q5 and q6 only with rater 1.
    assert report["per_category"]["math"]["with_ties"]["agreement"] == 4 / 6
    # Disagreements name the real rater and link to the item.
    assert {d["rater_b"] for d in report["disagreements"]} == {"rater2"}
    assert all(d["ref_a"] == d["ref_b"] for d in report["disagreements"])
    assert report["leaderboards"]["judge"][0]["model"] in ("alpha", "beta")


def test_new_human_votes_make_a_new_report(project, eval_set, make_config, llm_server, raters):
    llm_server.respond_with(longer_judge)
    run = eval_run_execute(run_id=make_run(project, eval_set, make_config()).pk)
    human_tasks_create(run=run, overlap=1)
    assignment = assignment_claim(project=project, user=raters[0])
    annotation_submit(task=assignment.task, user=raters[0], data={"choice": "tie"})
    human_judgments_collect(run=run)
    first = agreement_report_build(run=run, group_a="judge", group_b="human")
    assert first.result["with_ties"]["n"] == 1
    assert agreement_report_build(run=run, group_a="judge", group_b="human").pk == first.pk
    assert _answer_all(project, raters[0], _prefer("beta")) == 5
    human_judgments_collect(run=run)
    second = agreement_report_build(run=run, group_a="judge", group_b="human")
    assert second.pk != first.pk and second.result["with_ties"]["n"] == 6
    assert AgreementReport.objects.filter(run=run).count() == 2


def _scores(**by_criterion):
    def choose(task, models, assignment):
        (cid,) = models
        return {"scores": {str(cid): dict(by_criterion)}}

    return choose


def test_single_grading_run_gives_rubric_tasks_on_the_judges_scale_not_the_projects(
    project, eval_set, make_config, llm_server, raters
):
    # The project's own rubric (1 to 5, two criteria) is not what the judge graded by.
    project.rubric = [{"name": "helpfulness"}, {"name": "honesty"}]
    project.rubric_scale_min, project.rubric_scale_max = 1, 5
    project.save()
    llm_server.respond_with(lambda request: "Rating: [[7]]")
    config = make_config(family="single")
    run = make_run(project, eval_set, config, mode="single", models=["alpha"], baseline="")
    run = eval_run_execute(run_id=run.pk)
    tasks = human_tasks_create(run=run)
    assert {t.kind for t in tasks} == {TaskKind.RUBRIC}
    references = {t.meta["question_id"]: t.reference for t in tasks}
    assert references["4"] == "4" and references["1"] == ""
    # The rating judge gives one score on 1..10: the raters give the same one.
    for task in tasks:
        assert task.rubric["scale"] == [1, 10]
        assert [c["name"] for c in task.rubric["criteria"]] == ["overall"]
    # The math questions were judged by the with-reference template, the others not.
    versions = {t.meta["question_id"]: t.meta["judge_template"] for t in tasks}
    assert versions["4"] == config.reference_template.version
    assert versions["1"] == config.template.version

    # A score on the project's criteria is refused: the task asks for the judge's.
    assignment = assignment_claim(project=project, user=raters[0])
    (cid,) = [tc.completion_id for tc in assignment.task.task_completions.all()]
    with pytest.raises(DomainError, match="Unknown criterion 'helpfulness'"):
        annotation_submit(
            task=assignment.task, user=raters[0], data={"scores": {str(cid): {"helpfulness": 4}}}
        )
    with pytest.raises(DomainError, match="off the scale 1 to 10"):
        annotation_submit(
            task=assignment.task, user=raters[0], data={"scores": {str(cid): {"overall": 11}}}
        )

    _answer_all(project, raters[0], _scores(overall=4))
    _answer_all(project, raters[1], _scores(overall=5))
    human_judgments_collect(run=run)
    scores = set(
        Judgment.objects.filter(run=run, rater_group="human").values_list("score", flat=True)
    )
    # Same scale as the judge's: no mapping.
    assert scores == {4.0, 5.0}
    report = agreement_report_build(run=run, group_a="judge", group_b="human").result
    assert report["kind"] == "scores"
    # The judge's 7 against 4 and 5 on every item.
    assert report["scores"]["mean_absolute_difference"] == pytest.approx((3.0 + 2.0) / 2)


def test_multidimensional_run_gives_tasks_with_the_categorys_dimensions_and_the_anchors(
    project, eval_set, make_config, llm_server, raters
):
    from evaluation.judging.builtin import MULTIDIM_ANCHORS, MULTIDIM_DIMENSIONS

    llm_server.respond_with(lambda r: '{"overall": 6}')
    config = make_config(family="multidimensional")
    run = make_run(project, eval_set, config, mode="single", models=["alpha"], baseline="")
    run = eval_run_execute(run_id=run.pk)
    tasks = {t.meta["question_id"]: t for t in human_tasks_create(run=run, overlap=1)}
    for question_id, category in (("1", "writing"), ("4", "math")):
        rubric = tasks[question_id].rubric
        names = [c["name"] for c in rubric["criteria"]]
        assert names == [*MULTIDIM_DIMENSIONS[category], "overall"]
        assert rubric["scale"] == [1, 10]
        assert rubric["anchors"] == MULTIDIM_ANCHORS

    math = {name: 5 for name in MULTIDIM_DIMENSIONS["math"]}
    writing = {name: 8 for name in MULTIDIM_DIMENSIONS["writing"]}

    def choose(task, models, assignment):
        (cid,) = models
        scores = dict(math if task.meta["category"] == "math" else writing, overall=7)
        return {"scores": {str(cid): scores}}

    assert _answer_all(project, raters[0], choose) == 6
    human_judgments_collect(run=run)
    human = Judgment.objects.filter(run=run, rater_group="human")
    # The rater's overall is the score, as the judge's is; the dimensions are kept beside it.
    assert set(human.values_list("score", flat=True)) == {7.0}
    math_row = human.get(item__question__question_id="4")
    assert math_row.dimension_scores == {name: 5.0 for name in MULTIDIM_DIMENSIONS["math"]}


def test_rubric_judge_reads_the_projects_anchors_and_raters_score_by_the_same_rubric(
    client, project, eval_set, make_config, llm_server, raters
):
    project.rubric = [
        {"name": "helpfulness", "description": "Does it answer what was asked?"},
        {"name": "honesty", "anchors": {"1": "states falsehoods as facts"}},
    ]
    project.rubric_anchors = {"1": "ignores the question", "3": "partly answers", "5": "fully"}
    project.rubric_scale_min, project.rubric_scale_max = 1, 5
    project.save()
    llm_server.respond_with(lambda r: '{"helpfulness": 4, "honesty": 5, "overall": 4}')
    config = make_config(family="rubric")
    assert config.template.rubric["anchors"] == project.rubric_anchors
    assert (config.template.score_min, config.template.score_max) == (1, 5)
    run = make_run(project, eval_set, config, mode="single", models=["alpha"], baseline="")
    run = eval_run_execute(run_id=run.pk)
    judged = Judgment.objects.filter(run=run, rater_group="judge")
    assert judged.count() == 6 and set(judged.values_list("score", flat=True)) == {4.0}

    # The judge read every criterion with its anchors (a criterion's own anchor first).
    prompt = llm_server.requests[0]["messages"][-1]["content"]
    assert "Scale: whole numbers from 1 to 5." in prompt
    assert "- helpfulness: Does it answer what was asked?\n    1 = ignores the question" in prompt
    assert "- honesty\n    1 = states falsehoods as facts\n    3 = partly answers" in prompt
    assert "- overall: " in prompt and "{rubric}" not in prompt

    # The raters' tasks carry the very same rubric; the page shows its anchors.
    tasks = human_tasks_create(run=run, overlap=1)
    rubric = tasks[0].rubric
    assert [c["name"] for c in rubric["criteria"]] == ["helpfulness", "honesty", "overall"]
    assert rubric["scale"] == [1, 5] and rubric["anchors"] == project.rubric_anchors
    assert client.login(username=raters[0].username, password=PASSWORD)
    assignment = assignment_claim(project=project, user=raters[0])
    html = client.get(reverse("labeling:task", args=[assignment.task_id])).content.decode()
    assert 'data-anchor="states falsehoods as facts"' in html
    assert 'data-criterion="overall" data-anchor="partly answers"' in html
    # A later change of the project's rubric makes a new judge version; this run keeps its own.
    project.rubric_anchors = {"1": "off topic"}
    project.save()
    assert make_config(family="rubric").template.pk != config.template.pk


def test_tasks_are_made_once_per_run_and_overlap_is_checked(
    project, eval_set, make_config, llm_server
):
    run = make_run(project, eval_set, make_config())
    with pytest.raises(DomainError) as caught:
        human_tasks_create(run=run, overlap=0)
    assert str(caught.value) == ERROR_OVERLAP
    human_tasks_create(run=run)
    with pytest.raises(DomainError) as caught:
        human_tasks_create(run=run)
    assert str(caught.value) == ERROR_EXISTS.format(n=6)
    assert human_judgments_collect(run=run).annotations == 0


def test_collect_removes_human_votes_a_reviewer_rejected_later(
    project, eval_set, make_config, llm_server, raters, reviewer
):
    llm_server.respond_with(longer_judge)
    run = eval_run_execute(run_id=make_run(project, eval_set, make_config()).pk)
    human_tasks_create(run=run, overlap=1)
    assert _answer_all(project, raters[0], _prefer("alpha")) == 6
    first = human_judgments_collect(run=run)
    assert (first.recorded, first.removed) == (6, 0)
    assert (
        agreement_report_build(run=run, group_a="judge", group_b="human").result["with_ties"]["n"]
        == 6
    )

    # Two votes are rejected after they were collected: the next collection drops them.
    rejected = list(
        Annotation.objects.filter(task__project=project, annotator=raters[0]).order_by("id")[:2]
    )
    for annotation in rejected:
        review_create(
            annotation=annotation, reviewer=reviewer, decision="reject", comment="Read both."
        )
    second = human_judgments_collect(run=run)
    assert (second.annotations, second.recorded, second.removed) == (4, 4, 2)
    human = Judgment.objects.filter(run=run, rater_group=RaterGroup.HUMAN)
    assert human.count() == 4
    rejected_items = {a.task.source["item"] for a in rejected}
    assert not human.filter(item_id__in=rejected_items).exists()
    report = agreement_report_build(run=run, group_a="judge", group_b="human").result
    assert report["with_ties"]["n"] == 4

    # The rater answers the rejected tasks again; their new votes come back, nothing else goes.
    assert _answer_all(project, raters[0], _prefer("beta")) == 2
    third = human_judgments_collect(run=run)
    assert (third.recorded, third.removed) == (6, 0)
    assert set(human.filter(item_id__in=rejected_items).values_list("winner", flat=True)) == {
        "beta"
    }
    # The judge's own judgments are never touched by collecting.
    assert Judgment.objects.filter(run=run, rater_group=RaterGroup.JUDGE).count() == 12


def _reference_block(html: str) -> str | None:
    """The text of the page's gold-reference block, or None when the page has none."""
    if "Gold reference answer" not in html:
        return None
    block = html.split("Gold reference answer", 1)[1].split("</details>", 1)[0]
    return block


def test_pairwise_tasks_carry_the_reference_and_the_page_shows_it(
    client, project, eval_set, make_config, llm_server, labeler
):
    llm_server.respond_with(longer_judge)
    run = eval_run_execute(run_id=make_run(project, eval_set, make_config()).pk)
    tasks = human_tasks_create(run=run, overlap=1)
    assert {t.kind for t in tasks} == {TaskKind.PAIRWISE}
    # The math questions have a reference (as the judge's pairwise-with-reference prompt
    # shows); the writing ones have none.
    assert {t.meta["question_id"]: t.reference for t in tasks} == {
        "1": "",
        "2": "",
        "3": "",
        "4": "4",
        "5": "9",
        "6": "5",
    }

    assert client.login(username=labeler.username, password=PASSWORD)
    shown = {}
    while (assignment := assignment_claim(project=project, user=labeler)) is not None:
        task = assignment.task
        page = client.get(reverse("labeling:task", args=[task.pk]))
        assert page.status_code == 200
        block = _reference_block(page.content.decode())
        shown[task.meta["question_id"]] = block
        annotation_submit(task=task, user=labeler, data={"choice": "tie"})
    assert len(shown) == 6
    for question_id in ("1", "2", "3"):
        assert shown[question_id] is None
    for question_id, reference in (("4", "4"), ("5", "9"), ("6", "5")):
        assert f"<p>{reference}</p>" in shown[question_id]


def test_human_evaluation_votes_stay_out_of_training_snapshots_unless_asked(
    project, eval_set, make_config, llm_server, raters
):
    # The eval questions are held out: a preference snapshot of the project must not train
    # on them, unless the recipe says so.
    from labeling.exports.build import recipe_check
    from labeling.exports.recipe import RecipeError
    from tests.labeling.factories import make_tasks

    llm_server.respond_with(longer_judge)
    run = eval_run_execute(run_id=make_run(project, eval_set, make_config()).pk)
    human_tasks_create(run=run, overlap=1)
    assert _answer_all(project, raters[0], _prefer("beta")) == 6
    with pytest.raises(RecipeError, match="not human-evaluation tasks"):
        recipe_check(project=project, recipe={"kind": "preference"})

    _, funnel = recipe_check(
        project=project, recipe={"kind": "preference", "include_evaluation_tasks": True}
    )
    assert funnel[-1]["count"] == 6

    # An ordinary pairwise task of the project is still used.
    (task,) = make_tasks(project, kind="pairwise", answers=2, tag="training ")
    assignment = assignment_claim(project=project, user=raters[1])
    assert assignment.task_id == task.pk
    annotation_submit(task=task, user=raters[1], data={"choice": "a"})
    _, funnel = recipe_check(project=project, recipe={"kind": "preference"})
    counts = {stage["filter"]: stage["count"] for stage in funnel}
    assert counts["not human-evaluation tasks (include_evaluation_tasks)"] == 1
    assert funnel[-1]["count"] == 1
    # Prompt snapshots (for RL and evaluation) leave the eval questions out too.
    _, funnel = recipe_check(project=project, recipe={"kind": "prompts"})
    assert funnel[-1]["count"] == 1
    _, funnel = recipe_check(
        project=project, recipe={"kind": "prompts", "include_evaluation_tasks": True}
    )
    assert funnel[-1]["count"] == 1 + len(eval_set.questions.all())
