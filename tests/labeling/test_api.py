"""The labeling REST API: every endpoint refuses strangers and anonymous callers, labelers
see only their own work, bad answers get a 400 that changes nothing, lists have pinned
query counts, and the OpenAPI schema documents it all."""

import pytest
from rest_framework.test import APIClient

from labeling.models import Annotation, AnnotationStatus, Prompt, Task, TaskStatus
from labeling.services import assignment_claim
from labeling.services import payloads as payload_errors
from tests.labeling.factories import answer_ids, make_tasks

pytestmark = pytest.mark.django_db


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def endpoints(project_id: int, task_id: int, annotation_id: int) -> list[tuple[str, str, dict]]:
    return [
        ("get", f"/api/projects/{project_id}/prompts/", {}),
        ("post", f"/api/projects/{project_id}/prompts/", {"prompts": []}),
        ("post", f"/api/projects/{project_id}/completions/", {"completions": []}),
        ("get", f"/api/projects/{project_id}/tasks/", {}),
        ("post", f"/api/projects/{project_id}/tasks/", {"tasks": []}),
        ("post", f"/api/projects/{project_id}/claim/", {}),
        ("get", f"/api/projects/{project_id}/annotations/", {}),
        ("get", f"/api/projects/{project_id}/quality/", {}),
        ("get", f"/api/projects/{project_id}/quality/annotators/", {}),
        ("post", f"/api/tasks/{task_id}/heartbeat/", {}),
        ("post", f"/api/tasks/{task_id}/submit/", {"ranking": []}),
        ("post", f"/api/tasks/{task_id}/skip/", {"reason": "x"}),
        ("get", f"/api/tasks/{task_id}/quality/", {}),
        ("post", f"/api/annotations/{annotation_id}/review/", {"decision": "accept"}),
    ]


@pytest.fixture
def submitted(project, labeler):
    (task,) = make_tasks(project, required=2)
    assignment_claim(project=project, user=labeler)
    response = api(labeler).post(
        f"/api/tasks/{task.pk}/submit/", {"ranking": answer_ids(task)}, format="json"
    )
    assert response.status_code == 200, response.json()
    return task, Annotation.objects.get()


def test_every_endpoint_refuses_anonymous_and_strangers(project, stranger, submitted):
    task, annotation = submitted
    before = (Prompt.objects.count(), Task.objects.count(), Annotation.objects.count())
    for method, url, body in endpoints(project.pk, task.pk, annotation.pk):
        anonymous = getattr(api(), method)(url, body, format="json")
        assert anonymous.status_code == 401, (url, anonymous.status_code)
        response = getattr(api(stranger), method)(url, body, format="json")
        assert response.status_code == 404, (url, response.status_code)
        assert "error" in response.json()
    assert (Prompt.objects.count(), Task.objects.count(), Annotation.objects.count()) == before


def test_labelers_may_not_create_review_or_read_quality(project, labeler, submitted):
    task, annotation = submitted
    researcher_only = [
        ("post", f"/api/projects/{project.pk}/prompts/", {"prompts": []}),
        ("post", f"/api/projects/{project.pk}/tasks/", {"tasks": []}),
        ("get", f"/api/projects/{project.pk}/tasks/", {}),
        ("get", f"/api/projects/{project.pk}/quality/", {}),
        ("get", f"/api/tasks/{task.pk}/quality/", {}),
        ("post", f"/api/annotations/{annotation.pk}/review/", {"decision": "accept"}),
    ]
    for method, url, body in researcher_only:
        response = getattr(api(labeler), method)(url, body, format="json")
        assert response.status_code == 403, (url, response.status_code)
    annotation.refresh_from_db()
    assert annotation.status == AnnotationStatus.SUBMITTED


def test_owner_creates_prompts_completions_and_tasks_in_bulk(project, owner):
    client = api(owner)
    response = client.post(
        f"/api/projects/{project.pk}/prompts/",
        {
            "prompts": [
                {
                    "messages": [
                        {"role": "system", "content": "Be brief."},
                        {"role": "user", "content": "What is 2+2?"},
                        {"role": "assistant", "content": "4"},
                        {"role": "user", "content": "And 3+3?"},
                    ],
                    "task_type": "qa",
                    "source": "unit test",
                    "completions": [
                        {"text": "6", "model_name": "m1", "params": {"temperature": 0.7}},
                        {"text": "Six.", "model_name": "m2"},
                    ],
                }
            ]
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    (prompt,) = response.json()
    stored = Prompt.objects.get(pk=prompt["id"])
    assert stored.system == "Be brief."
    assert [m["role"] for m in stored.messages] == ["user", "assistant", "user"]
    assert stored.completions.count() == 2
    ids = [c["id"] for c in prompt["completions"]]
    more = client.post(
        f"/api/projects/{project.pk}/completions/",
        {"completions": [{"prompt": prompt["id"], "text": "It is six."}]},
        format="json",
    )
    assert more.status_code == 201
    ids.append(more.json()[0]["id"])
    tasks = client.post(
        f"/api/projects/{project.pk}/tasks/",
        {
            "tasks": [
                {"kind": "ranking", "prompt": prompt["id"], "completions": ids},
                {
                    "kind": "pairwise",
                    "prompt": prompt["id"],
                    "completions": ids[:2],
                    "required_annotations": 3,
                    "source": {"app": "evaluation", "run": 7},
                },
                {"kind": "demonstration", "prompt": prompt["id"], "completions": ids[:1]},
            ]
        },
        format="json",
    )
    assert tasks.status_code == 201, tasks.json()
    ranking, pairwise, demo = Task.objects.order_by("id")
    assert answer_ids(ranking) == ids
    assert (pairwise.required_annotations, pairwise.source) == (3, {"app": "evaluation", "run": 7})
    assert demo.kind == "demonstration"
    # The same conversation again comes back as the same prompt, not a duplicate.
    again = client.post(
        f"/api/projects/{project.pk}/prompts/",
        {
            "prompts": [
                {
                    "system": "Be brief.",
                    "messages": stored.messages,
                    "task_type": "qa",
                }
            ]
        },
        format="json",
    )
    assert again.json()[0]["id"] == prompt["id"]
    assert Prompt.objects.count() == 1


def test_bulk_task_creation_is_all_or_nothing_with_a_clear_message(project, owner):
    (task,) = make_tasks(project)
    ids = answer_ids(task)
    response = api(owner).post(
        f"/api/projects/{project.pk}/tasks/",
        {
            "tasks": [
                {"kind": "ranking", "prompt": task.prompt_id, "completions": ids},
                {"kind": "pairwise", "prompt": task.prompt_id, "completions": ids},
            ]
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"error": "Task 1: a pairwise task needs 2 answers; it has 3."}
    assert Task.objects.count() == 1


def test_labeler_claims_sees_no_gold_or_model_and_submits(project, labeler):
    (task,) = make_tasks(project, is_gold=True, gold_answer=lambda ids: {"ranking": ids})
    client = api(labeler)
    response = client.post(f"/api/projects/{project.pk}/claim/")
    assert response.status_code == 200
    body = response.json()
    assert body["task"]["id"] == task.pk
    shown = [a["id"] for a in body["task"]["answers"]]
    assert sorted(shown) == sorted(answer_ids(task))
    text = response.content.decode()
    assert "gold" not in text and "model-" not in text
    beat = client.post(f"/api/tasks/{task.pk}/heartbeat/")
    assert beat.status_code == 200 and beat.json()["status"] == "active"
    submit = client.post(
        f"/api/tasks/{task.pk}/submit/",
        {"ranking": shown, "time_spent_ms": 4200, "flags": {str(shown[0]): ["hallucination"]}},
        format="json",
    )
    assert submit.status_code == 200, submit.json()
    annotation = Annotation.objects.get()
    assert annotation.display_order == shown
    assert annotation.flags == {str(shown[0]): ["hallucination"]}
    assert "gold_correct" not in submit.json()
    assert client.post(f"/api/projects/{project.pk}/claim/").status_code == 204


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"ranking": "first"}, payload_errors.ERROR_RANKING_SHAPE),
        ({"choice": "a"}, payload_errors.ERROR_CHOICE_WRONG_KIND.format(kind="ranking")),
        ({"ranking": [[1, 2]], "time_spent_ms": -5}, None),
    ],
)
def test_bad_answers_get_400_and_change_nothing(project, labeler, data, error):
    (task,) = make_tasks(project)
    assignment_claim(project=project, user=labeler)
    response = api(labeler).post(f"/api/tasks/{task.pk}/submit/", data, format="json")
    assert response.status_code == 400
    if error:
        assert response.json() == {"error": error}
    else:
        assert response.json()["error"].startswith("The ranking must contain each")
    task.refresh_from_db()
    assert (task.submitted_count, task.active_leases, task.status) == (0, 1, TaskStatus.FULL)
    assert not Annotation.objects.exists()


def test_ties_refused_in_a_project_that_forbids_them(project, labeler):
    project.allow_ties = False
    project.save()
    (task,) = make_tasks(project)
    assignment_claim(project=project, user=labeler)
    ids = answer_ids(task)
    response = api(labeler).post(
        f"/api/tasks/{task.pk}/submit/", {"ranking": [ids[:2], ids[2]]}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"error": payload_errors.ERROR_TIES_FORBIDDEN}
    assert not Annotation.objects.exists()


def test_skip_through_the_api(project, labeler):
    (task,) = make_tasks(project)
    assignment_claim(project=project, user=labeler)
    response = api(labeler).post(
        f"/api/tasks/{task.pk}/skip/", {"reason": "needs a lawyer"}, format="json"
    )
    assert response.status_code == 200
    assert Annotation.objects.get().skip_reason == "needs a lawyer"


def test_labelers_see_only_their_own_annotations(project, make_user, labeler, owner):
    from labeling.models import Role
    from labeling.services import annotation_submit, membership_set

    other = make_user("other")
    membership_set(project=project, user=other, role=Role.LABELER)
    (task,) = make_tasks(project, required=2)
    for user in (labeler, other):
        assignment_claim(project=project, user=user)
        annotation_submit(task=task, user=user, data={"ranking": answer_ids(task)})
    mine = api(labeler).get(f"/api/projects/{project.pk}/annotations/").json()["results"]
    assert [a["annotator"] for a in mine] == ["labeler"]
    # Asking for someone else's work by filter gives nothing, not their answers.
    theirs = api(labeler).get(f"/api/projects/{project.pk}/annotations/?annotator={other.pk}")
    assert theirs.json()["results"] == []
    everyone = api(owner).get(f"/api/projects/{project.pk}/annotations/").json()["results"]
    assert sorted(a["annotator"] for a in everyone) == ["labeler", "other"]
    filtered = api(owner).get(f"/api/projects/{project.pk}/annotations/?annotator={other.pk}")
    assert [a["annotator"] for a in filtered.json()["results"]] == ["other"]


def test_reviewer_rejects_through_the_api(project, reviewer, submitted):
    task, annotation = submitted
    client = api(reviewer)
    refused = client.post(
        f"/api/annotations/{annotation.pk}/review/", {"decision": "reject"}, format="json"
    )
    assert refused.status_code == 400
    assert refused.json() == {"error": "Say what to fix: a rejection needs a comment."}
    response = client.post(
        f"/api/annotations/{annotation.pk}/review/",
        {"decision": "reject", "comment": "Answer 2 is wrong"},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["annotation_status"] == "rejected"
    annotation.refresh_from_db()
    task.refresh_from_db()
    assert annotation.status == AnnotationStatus.REJECTED
    assert task.submitted_count == 0


def test_rework_claim_shows_the_review_comment(project, labeler, reviewer, submitted):
    task, annotation = submitted
    api(reviewer).post(
        f"/api/annotations/{annotation.pk}/review/",
        {"decision": "reject", "comment": "Rank the safe answer first"},
        format="json",
    )
    claim = api(labeler).post(f"/api/projects/{project.pk}/claim/").json()
    assert claim["task"]["id"] == task.pk
    assert claim["task"]["review_comment"] == "Rank the safe answer first"


def _many_annotations(project, make_user, n_users=3):
    from labeling.models import Role
    from labeling.services import annotation_submit, membership_set

    tasks = make_tasks(project, n=4, required=n_users)
    for i in range(n_users):
        user = make_user(f"u{i}")
        membership_set(project=project, user=user, role=Role.LABELER)
        for _ in tasks:
            lease = assignment_claim(project=project, user=user)
            task = Task.objects.get(pk=lease.task_id)
            annotation_submit(task=task, user=user, data={"ranking": answer_ids(task)})


def test_annotation_list_query_count_does_not_grow(
    project, owner, make_user, django_assert_num_queries
):
    _many_annotations(project, make_user)
    client = api(owner)
    url = f"/api/projects/{project.pk}/annotations/"
    with django_assert_num_queries(4):
        response = client.get(url)
    assert len(response.json()["results"]) == 12
    with django_assert_num_queries(4):
        assert len(client.get(url + "?page_size=5").json()["results"]) == 5


def test_task_list_query_count_and_counters(project, owner, make_user, django_assert_num_queries):
    _many_annotations(project, make_user, n_users=2)
    client = api(owner)
    with django_assert_num_queries(4):
        response = client.get(f"/api/projects/{project.pk}/tasks/?status=complete")
    tasks = response.json()["results"]
    assert len(tasks) == 4
    assert {t["submitted_count"] for t in tasks} == {2}
    assert all(len(t["completions"]) == 3 for t in tasks)


def test_prompt_list_query_count(project, owner, django_assert_num_queries):
    make_tasks(project, n=5)
    with django_assert_num_queries(3):
        response = api(owner).get(f"/api/projects/{project.pk}/prompts/")
    assert len(response.json()["results"]) == 5


def test_quality_endpoints_answer_reviewers(project, reviewer, make_user):
    _many_annotations(project, make_user)
    client = api(reviewer)
    quality = client.get(f"/api/projects/{project.pk}/quality/").json()
    # Everyone ranked identically: full agreement over 4 tasks x 3 pairs of labelers x 3 pairs.
    assert quality["pairwise_agreement"] == {"value": 1.0, "n": 36}
    assert quality["kendall_tau_b"] == {"value": 1.0, "n": 12}
    annotators = client.get(f"/api/projects/{project.pk}/quality/annotators/").json()
    assert {a["username"] for a in annotators} == {"u0", "u1", "u2"}
    task = Task.objects.first()
    per_task = client.get(f"/api/tasks/{task.pk}/quality/").json()
    assert per_task["consensus"]["ranking"] == answer_ids(task)


def test_openapi_schema_documents_the_labeling_endpoints(owner):
    response = api(owner).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in [
        "/api/projects/{id}/claim/",
        "/api/projects/{id}/prompts/",
        "/api/projects/{id}/tasks/",
        "/api/projects/{id}/annotations/",
        "/api/projects/{id}/quality/",
        "/api/tasks/{id}/submit/",
        "/api/tasks/{id}/skip/",
        "/api/tasks/{id}/heartbeat/",
        "/api/annotations/{id}/review/",
    ]:
        assert path.replace("{id}", "{pk}") in paths or path in paths, path
