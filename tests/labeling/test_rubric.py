"""Project rubrics with a written anchor per scale point: checked the same way by the service,
the API and the admin; a task's own rubric (the judge's, from an eval run) wins over the
project's when answers are checked and when the page and the claim API show it."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from labeling.models import Annotation, Project
from labeling.services import annotation_submit, assignment_claim, task_bulk_create
from labeling.services import rubric as rubric_module
from labeling.services.payloads import PayloadError
from labeling.services.rubric import (
    RubricError,
    project_rubric_set,
    rubric_clean,
    rubric_of_project,
    rubric_of_task,
)
from labeling.services.tasks import TaskError
from tests.labeling.factories import make_tasks

pytestmark = pytest.mark.django_db

CRITERIA = [
    {"name": "helpfulness", "description": "Answers what was asked."},
    {"name": "honesty", "anchors": {"1": "states falsehoods as facts"}},
    "tone",
]
ANCHORS = {"1": "ignores the question", "3": "partly answers", "5": "fully answers, no errors"}


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_criterions_own_anchor_wins_over_the_shared_one_and_gaps_stay_empty():
    rubric = rubric_clean(criteria=CRITERIA, anchors=ANCHORS, scale_min=1, scale_max=5)
    helpfulness, honesty, tone = rubric.criteria
    assert rubric.names == ["helpfulness", "honesty", "tone"]
    assert rubric.points == [1, 2, 3, 4, 5]
    assert rubric.anchor(honesty, 1) == "states falsehoods as facts"
    assert rubric.anchor(honesty, 3) == "partly answers"
    assert rubric.anchor(helpfulness, 1) == "ignores the question"
    assert rubric.anchor(tone, 2) == ""
    # The stored form: point keys as strings, a bare name as an object.
    stored = rubric.as_json()
    assert stored["criteria"][2] == {"name": "tone", "description": "", "anchors": {}}
    assert stored["anchors"] == ANCHORS and stored["scale"] == [1, 5]


@pytest.mark.parametrize(
    ("criteria", "anchors", "lo", "hi", "message"),
    [
        (CRITERIA, ANCHORS, 5, 1, rubric_module.ERROR_SCALE.format(max=11, lo=5, hi=1)),
        (CRITERIA, {}, 1, 20, rubric_module.ERROR_SCALE.format(max=11, lo=1, hi=20)),
        (
            CRITERIA,
            {"6": "too far"},
            1,
            5,
            rubric_module.ERROR_ANCHOR_POINT.format(where="Scale anchors", point="6", lo=1, hi=5),
        ),
        (
            CRITERIA,
            {"two": "x"},
            1,
            5,
            rubric_module.ERROR_ANCHOR_POINT.format(where="Scale anchors", point="two", lo=1, hi=5),
        ),
        (
            CRITERIA,
            {"2": "  "},
            1,
            5,
            rubric_module.ERROR_ANCHOR_TEXT.format(where="Scale anchors", point=2, max=300),
        ),
        (
            CRITERIA,
            ["ignores"],
            1,
            5,
            rubric_module.ERROR_ANCHORS_SHAPE.format(where="Scale anchors"),
        ),
        (
            [{"name": "honesty", "anchors": {"0": "x"}}],
            {},
            1,
            5,
            rubric_module.ERROR_ANCHOR_POINT.format(
                where="Criterion 'honesty'", point="0", lo=1, hi=5
            ),
        ),
        (
            ["tone", "tone"],
            {},
            1,
            5,
            rubric_module.ERROR_CRITERION_DUPLICATE.format(name="tone"),
        ),
        (
            [{"name": "tone", "scale": 3}],
            {},
            1,
            5,
            rubric_module.ERROR_CRITERION_KEYS.format(name="tone", keys="scale"),
        ),
        (
            [{"description": "x"}],
            {},
            1,
            5,
            rubric_module.ERROR_CRITERION_NAME.format(index=1, max=100),
        ),
        ({"tone": "x"}, {}, 1, 5, rubric_module.ERROR_CRITERIA_SHAPE),
    ],
)
def test_a_bad_rubric_is_refused_with_what_to_fix(criteria, anchors, lo, hi, message):
    with pytest.raises(RubricError) as caught:
        rubric_clean(criteria=criteria, anchors=anchors, scale_min=lo, scale_max=hi)
    assert str(caught.value) == message


def test_project_rubric_set_stores_the_normal_form_and_refuses_without_writing(project):
    project_rubric_set(
        project=project, criteria=CRITERIA, anchors={1: "ignores"}, scale_min=1, scale_max=5
    )
    project.refresh_from_db()
    assert project.rubric_anchors == {"1": "ignores"}
    assert [c["name"] for c in project.rubric] == ["helpfulness", "honesty", "tone"]
    with pytest.raises(RubricError):
        project_rubric_set(
            project=project, criteria=["x"], anchors={"9": "no"}, scale_min=1, scale_max=5
        )
    project.refresh_from_db()
    assert project.rubric_anchors == {"1": "ignores"}
    assert rubric_of_project(project).names == ["helpfulness", "honesty", "tone"]


def test_a_project_without_criteria_scores_overall(project):
    assert rubric_of_project(project).names == ["overall"]


def _rubric_task(project, rubric=None):
    (task,) = make_tasks(project, kind="rubric", answers=1)
    if rubric is not None:
        task.rubric = rubric
        task.save(update_fields=["rubric"])
    return task


def test_a_tasks_own_rubric_decides_what_an_answer_must_score(project, labeler):
    project_rubric_set(project=project, criteria=CRITERIA, anchors={}, scale_min=1, scale_max=5)
    prompt = make_tasks(project, kind="rubric", answers=1)[0].prompt
    completion = prompt.completions.get()
    judge = {
        "criteria": ["overall"],
        "scale": [1, 10],
        "anchors": {"8": "as good as the reference"},
    }
    (task,) = task_bulk_create(
        project=project,
        tasks=[
            {"kind": "rubric", "prompt": prompt.pk, "completions": [completion.pk], "rubric": judge}
        ],
    )
    assert task.rubric["scale"] == [1, 10]
    assert rubric_of_task(task).anchors == {8: "as good as the reference"}
    # The first task (the project's rubric) goes first; answer it, then the judge's one.
    first = assignment_claim(project=project, user=labeler).task
    annotation_submit(
        task=first,
        user=labeler,
        data={"scores": {str(completion.pk): {"helpfulness": 5, "honesty": 4, "tone": 3}}},
    )
    assert assignment_claim(project=project, user=labeler).task_id == task.pk
    with pytest.raises(PayloadError, match="this task scores overall"):
        annotation_submit(
            task=task, user=labeler, data={"scores": {str(completion.pk): {"helpfulness": 5}}}
        )
    annotation_submit(
        task=task, user=labeler, data={"scores": {str(completion.pk): {"overall": 9}}}
    )
    assert Annotation.objects.get(task=task).payload["scores"] == {
        str(completion.pk): {"overall": 9}
    }


def test_task_bulk_create_checks_a_tasks_rubric(project):
    prompt = make_tasks(project, kind="rubric", answers=1)[0].prompt
    completion = prompt.completions.get()
    base = {"prompt": prompt.pk, "completions": [completion.pk]}
    with pytest.raises(TaskError, match="Task 0: Scale anchors: '11' is not a point"):
        task_bulk_create(
            project=project,
            tasks=[
                {**base, "kind": "rubric", "rubric": {"scale": [1, 10], "anchors": {"11": "x"}}}
            ],
        )
    with pytest.raises(TaskError, match="only rubric tasks carry their own rubric"):
        task_bulk_create(
            project=project,
            tasks=[{**base, "kind": "demonstration", "rubric": {"scale": [1, 5]}}],
        )


def test_the_rubric_api_reads_for_members_and_writes_for_researchers(
    project, owner, labeler, stranger
):
    url = f"/api/projects/{project.pk}/rubric/"
    body = {"criteria": CRITERIA, "anchors": ANCHORS, "scale_min": 1, "scale_max": 5}
    assert api(stranger).get(url).status_code == 404
    assert api(stranger).put(url, body, format="json").status_code == 404
    assert api(labeler).put(url, body, format="json").status_code == 403
    response = api(owner).put(url, body, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["anchors"] == ANCHORS
    project.refresh_from_db()
    assert project.rubric[1]["anchors"] == {"1": "states falsehoods as facts"}
    assert api(labeler).get(url).json()["scale_max"] == 5

    bad = api(owner).put(url, {**body, "anchors": {"7": "beyond"}}, format="json")
    assert bad.status_code == 400
    assert "'7' is not a point of the scale 1 to 5" in str(bad.json())
    project.refresh_from_db()
    assert project.rubric_anchors == ANCHORS


def test_the_claim_api_sends_the_rubric_with_its_anchors(project, labeler):
    project_rubric_set(
        project=project, criteria=CRITERIA, anchors=ANCHORS, scale_min=1, scale_max=5
    )
    task = _rubric_task(project)
    response = api(labeler).post(f"/api/projects/{project.pk}/claim/", format="json")
    sent = response.json()["task"]
    assert sent["id"] == task.pk and sent["criteria"] == ["helpfulness", "honesty", "tone"]
    assert sent["rubric"]["anchors"] == ANCHORS
    assert sent["rubric"]["criteria"][1]["anchors"] == {"1": "states falsehoods as facts"}


def test_the_admin_refuses_a_bad_rubric_next_to_the_field_and_saves_a_good_one(
    client, make_user, project
):
    client.force_login(make_user("root", superuser=True))
    url = f"/admin/labeling/project/{project.pk}/change/"
    form = {
        "name": project.name,
        "slug": project.slug,
        "description": "",
        "guidelines": project.guidelines,
        "task_types": '["qa"]',
        "k_outputs": 2,
        "overlap": 1,
        "claim_timeout_minutes": 15,
        "gold_rate": 0,
        "allow_ties": "on",
        "rubric": '[{"name": "helpfulness"}]',
        "rubric_anchors": '{"9": "beyond the scale"}',
        "rubric_scale_min": 1,
        "rubric_scale_max": 5,
        "answer_rating_max": 0,
        "languages": "[]",
        "llm_price_prompt_per_mtok": 0,
        "llm_price_completion_per_mtok": 0,
        "show_quality_to_labelers": "on",
        "memberships-TOTAL_FORMS": 0,
        "memberships-INITIAL_FORMS": 0,
    }
    response = client.post(url, form)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["rubric_anchors"] == [
        rubric_module.ERROR_ANCHOR_POINT.format(where="Scale anchors", point="9", lo=1, hi=5)
    ]
    response = client.post(url, {**form, "rubric_anchors": '{"1": "ignores the question"}'})
    assert response.status_code == 302
    project = Project.objects.get(pk=project.pk)
    assert project.rubric_anchors == {"1": "ignores the question"}
    assert project.rubric == [{"name": "helpfulness", "description": "", "anchors": {}}]


def test_the_demo_project_has_an_anchor_for_every_point_of_its_scale(
    project, owner, labeler, reviewer
):
    import io

    from labeling.demo import load_demo

    users = {"researcher": owner, "labeler": labeler, "reviewer": reviewer}
    load_demo(project=project, users=users, stdout=io.StringIO())
    project.refresh_from_db()
    assert project.rubric_instructions.startswith("Read the whole answer before you score.")
    rubric = rubric_clean(
        criteria=project.rubric,
        anchors=project.rubric_anchors,
        scale_min=project.rubric_scale_min,
        scale_max=project.rubric_scale_max,
    )
    assert sorted(rubric.anchors) == rubric.points
    correctness = rubric.criteria[0]
    assert rubric.anchor(correctness, 1) == "wrong on the main point"
    assert rubric.anchor(correctness, 5) == "fully answers, no errors"


def test_rubric_instructions_reach_raters_the_claim_api_and_the_judge(
    client, project, owner, labeler
):
    from evaluation.judging.rubric import rubric_text
    from labeling.services.rubric import rubric_of_project

    url = f"/api/projects/{project.pk}/rubric/"
    body = {"criteria": CRITERIA, "anchors": ANCHORS, "scale_min": 1, "scale_max": 5}
    text = "Read the **whole** answer first; score each criterion on its own."
    response = api(owner).put(url, {**body, "instructions": text}, format="json")
    assert response.status_code == 200 and response.json()["instructions"] == text
    # Left out, they stay; too long, they are refused with what to fix.
    assert api(owner).put(url, body, format="json").json()["instructions"] == text
    bad = api(owner).put(url, {**body, "instructions": "x" * 5001}, format="json")
    assert bad.status_code == 400 and "at most 5000 characters" in str(bad.json())
    project.refresh_from_db()
    assert rubric_text(rubric_of_project(project)).startswith(f"Instructions: {text}\nScale:")

    task = _rubric_task(project)
    sent = api(labeler).post(f"/api/projects/{project.pk}/claim/", format="json").json()
    assert sent["task"]["id"] == task.pk and sent["task"]["rubric"]["instructions"] == text
    client.force_login(labeler)
    page = client.get(f"/tasks/{task.pk}/").content.decode()
    assert "How to score" in page and "<strong>whole</strong>" in page
