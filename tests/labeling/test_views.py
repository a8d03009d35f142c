"""The labeler and reviewer pages: full pages and htmx partials, the permission story
(anonymous -> login, stranger -> 404, labeler on review pages -> 403), submit and next in one
request, refused answers shown next to the field, and pinned query counts."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from labeling.models import (
    Annotation,
    AnnotationStatus,
    Assignment,
    AssignmentStatus,
    Review,
    Role,
    Task,
    TaskStatus,
)
from labeling.services import (
    annotation_submit,
    assignment_claim,
    membership_set,
    project_create,
    prompt_bulk_create,
    task_bulk_create,
)
from labeling.services import assignment as assignment_errors
from labeling.services import payloads as payload_errors
from labeling.services import review as review_errors
from labeling.views.work import MESSAGE_NO_WORK, MESSAGE_NOT_YOURS
from tests.labeling.factories import answer_ids, make_tasks

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def client_for(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def pages(project_id: int, task_id: int, annotation_id: int) -> list[tuple[str, str, dict]]:
    return [
        ("get", reverse("labeling:task", args=[task_id]), {}),
        ("post", reverse("labeling:start", args=[project_id]), {}),
        ("post", reverse("labeling:submit", args=[task_id]), {"answer": "{}"}),
        ("post", reverse("labeling:skip", args=[task_id]), {"reason": "x"}),
        ("post", reverse("labeling:heartbeat", args=[task_id]), {}),
        ("post", reverse("labeling:leave", args=[task_id]), {}),
        ("put", reverse("labeling:draft", args=[task_id]), '{"kind": {"text": "x"}}'),
        ("post", reverse("labeling:preview", args=[task_id]), {"text": "x"}),
        ("get", reverse("labeling:review_list", args=[project_id]), {}),
        ("get", reverse("labeling:review_task", args=[task_id]), {}),
        ("post", reverse("labeling:review_decide", args=[annotation_id]), {"decision": "accept"}),
    ]


@pytest.fixture
def submitted(project, labeler):
    (task,) = make_tasks(project, required=2)
    assignment_claim(project=project, user=labeler)
    annotation = annotation_submit(task=task, user=labeler, data={"ranking": answer_ids(task)})
    return task, annotation


def test_every_page_refuses_anonymous_and_strangers(project, stranger, submitted):
    task, annotation = submitted
    before = (Annotation.objects.count(), Assignment.objects.count(), Review.objects.count())
    for method, url, body in [*pages(project.pk, task.pk, annotation.pk)]:
        anonymous = getattr(client_for(), method)(url, body)
        assert anonymous.status_code == 302 and "/login/" in anonymous["Location"], url
        response = getattr(client_for(stranger), method)(url, body)
        assert response.status_code == 404, (url, response.status_code)
    assert client_for().get(reverse("labeling:queue")).status_code == 302
    after = (Annotation.objects.count(), Assignment.objects.count(), Review.objects.count())
    assert after == before


def test_labeler_is_refused_the_review_pages(project, labeler, submitted):
    task, annotation = submitted
    client = client_for(labeler)
    assert client.get(reverse("labeling:review_list", args=[project.pk])).status_code == 403
    assert client.get(reverse("labeling:review_task", args=[task.pk])).status_code == 403
    response = client.post(
        reverse("labeling:review_decide", args=[annotation.pk]), {"decision": "accept"}
    )
    assert response.status_code == 403
    annotation.refresh_from_db()
    assert annotation.status == AnnotationStatus.SUBMITTED


def test_queue_shows_progress_guidelines_and_start(project, labeler, submitted):
    (gold,) = make_tasks(
        project, is_gold=True, gold_answer=lambda ids: {"ranking": [[ids[0]], ids[1:]]}
    )
    gold.refresh_from_db()
    assignment = assignment_claim(project=project, user=labeler)
    annotation_submit(
        task=assignment.task, user=labeler, data={"ranking": answer_ids(assignment.task)}
    )
    response = client_for(labeler).get(reverse("labeling:queue"))
    html = response.content.decode()
    assert response.status_code == 200
    row = response.context["rows"][0]
    assert (row["today"], row["total"], row["gold_n"], row["gold_pct"]) == (2, 2, 1, 100)
    assert "<strong>correct</strong>" in html  # guidelines rendered as markdown
    assert reverse("labeling:start", args=[project.pk]) in html


def test_queue_query_count_does_not_grow_with_projects(
    project, labeler, make_user, django_assert_num_queries
):
    client = client_for(labeler)
    client.get(reverse("labeling:queue"))
    with django_assert_num_queries(6):
        client.get(reverse("labeling:queue"))
    for i in range(4):
        other = project_create(name=f"Other {i}", created_by=None)
        membership_set(project=other, user=labeler, role=Role.LABELER)
    with django_assert_num_queries(6):
        response = client.get(reverse("labeling:queue"))
    assert len(response.context["rows"]) == 5


def test_empty_queue_says_what_to_do(make_user):
    response = client_for(make_user("nobody")).get(reverse("labeling:queue"))
    assert "Ask a researcher to add you to a project" in response.content.decode()


def test_start_with_htmx_claims_and_answers_with_the_work_area(project, labeler):
    (task,) = make_tasks(project, answers=4)
    response = client_for(labeler).post(reverse("labeling:start", args=[project.pk]), **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="work"') and "<html" not in html
    assert response["HX-Push-Url"] == reverse("labeling:task", args=[task.pk])
    assignment = Assignment.objects.get(user=labeler)
    assert assignment.task_id == task.pk and assignment.status == AssignmentStatus.ACTIVE
    # Answers appear in the labeler's own shuffled order, with no model names.
    shown = [a["id"] for a in response.context["answers"]]
    assert shown == assignment.display_order
    assert "model-0" not in html


def test_start_without_htmx_redirects_to_the_task(project, labeler):
    (task,) = make_tasks(project)
    response = client_for(labeler).post(reverse("labeling:start", args=[project.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("labeling:task", args=[task.pk])


def test_start_with_no_work_shows_the_empty_state(project, labeler):
    response = client_for(labeler).post(reverse("labeling:start", args=[project.pk]), **HX)
    assert "No work left for you" in response.content.decode()
    assert json.loads(response["HX-Trigger"])["showToast"]["message"] == MESSAGE_NO_WORK.format(
        project=project.name
    )
    assert not Assignment.objects.exists()


@pytest.mark.parametrize("kind", ["demonstration", "ranking", "pairwise", "rubric"])
def test_task_page_full_and_partial_with_constant_queries(
    project, labeler, kind, django_assert_max_num_queries
):
    project.rubric = [{"name": "correctness", "description": "Facts are right."}, "style"]
    project.save()
    (task,) = make_tasks(project, kind=kind, answers=1 if kind == "demonstration" else 2)
    assignment_claim(project=project, user=labeler)
    client = client_for(labeler)
    url = reverse("labeling:task", args=[task.pk])
    # Constant in the task; one of them reads the server copy of the draft.
    with django_assert_max_num_queries(10):
        full = client.get(url)
    with django_assert_max_num_queries(10):
        partial = client.get(url, **HX)
    assert full.status_code == partial.status_code == 200
    assert "<html" in full.content.decode() and "<html" not in partial.content.decode()
    assert f'data-kind="{kind}"' in partial.content.decode()
    html = full.content.decode()
    if kind == "rubric":
        assert html.count('type="radio"') == 2 * 2 * 5  # answers x criteria x scale points
        assert "Facts are right." in html
    if kind == "demonstration":
        assert 'name="draft_completion"' in html and "answer 0 to 0" in html


def test_task_page_of_a_task_not_claimed_says_so(project, labeler):
    (task,) = make_tasks(project)
    response = client_for(labeler).get(reverse("labeling:task", args=[task.pk]))
    assert MESSAGE_NOT_YOURS in response.content.decode()


def test_model_html_is_shown_as_text(project, labeler):
    (prompt,) = prompt_bulk_create(
        project=project,
        prompts=[
            {
                "messages": [{"role": "user", "content": "<script>alert(1)</script> hi"}],
                "completions": [
                    {"text": "<img src=x onerror=alert(1)>", "model_name": "m"},
                    {"text": "fine", "model_name": "m"},
                ],
            }
        ],
    )
    ids = list(prompt.completions.values_list("pk", flat=True))
    (task,) = task_bulk_create(
        project=project, tasks=[{"kind": "pairwise", "prompt": prompt.pk, "completions": ids}]
    )
    assignment_claim(project=project, user=labeler)
    html = client_for(labeler).get(reverse("labeling:task", args=[task.pk])).content.decode()
    assert "<img src=x" not in html and "<script>alert" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_submit_saves_and_returns_the_next_task(project, labeler):
    make_tasks(project, n=2, answers=3)
    assignment = assignment_claim(project=project, user=labeler)
    ranking = [[assignment.display_order[0]], assignment.display_order[1:]]
    response = client_for(labeler).post(
        reverse("labeling:submit", args=[assignment.task_id]),
        {
            "answer": json.dumps({"ranking": ranking, "rationale": "A is precise."}),
            "time_spent_ms": "4200",
        },
        **HX,
    )
    assert response.status_code == 200
    annotation = Annotation.objects.get(task_id=assignment.task_id)
    assert annotation.payload["ranking"] == [sorted(t) for t in ranking]
    assert annotation.payload["rationale"] == "A is precise."
    assert annotation.time_spent_ms == 4200
    nxt = Assignment.objects.get(user=labeler, status=AssignmentStatus.ACTIVE)
    assert nxt.task_id != assignment.task_id
    assert response["HX-Push-Url"] == reverse("labeling:task", args=[nxt.task_id])
    triggers = json.loads(response["HX-Trigger"])
    assert triggers["annotationSaved"] == {"task": assignment.task_id}


def test_refused_submit_shows_the_message_next_to_the_field(project, labeler):
    project.allow_ties = False
    project.save()
    (task,) = make_tasks(project, answers=3)
    assignment_claim(project=project, user=labeler)
    ids = answer_ids(task)
    response = client_for(labeler).post(
        reverse("labeling:submit", args=[task.pk]),
        {"answer": json.dumps({"ranking": [ids[:2], ids[2:]]})},
        **HX,
    )
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#answer-error" and response["HX-Reswap"] == "innerHTML"
    assert payload_errors.ERROR_TIES_FORBIDDEN in response.content.decode()
    assert not Annotation.objects.exists()
    assert Assignment.objects.get().status == AssignmentStatus.ACTIVE


def test_refused_plain_submit_keeps_what_was_written(project, labeler):
    (task,) = make_tasks(project, kind="demonstration", answers=0)
    assignment_claim(project=project, user=labeler)
    response = client_for(labeler).post(
        reverse("labeling:submit", args=[task.pk]), {"answer": "not json"}
    )
    assert response.status_code == 400
    assert "could not read" in response.content.decode()
    response = client_for(labeler).post(reverse("labeling:submit", args=[task.pk]), {"text": " "})
    assert response.status_code == 400
    assert response.context["answer_error"] == payload_errors.ERROR_TEXT_REQUIRED
    assert not Annotation.objects.exists()


def test_plain_demonstration_submit_without_script(project, labeler):
    (task,) = make_tasks(project, kind="demonstration", answers=0)
    assignment_claim(project=project, user=labeler)
    response = client_for(labeler).post(
        reverse("labeling:submit", args=[task.pk]), {"text": "# Title\n\nBody"}
    )
    assert response.status_code == 302
    assert Annotation.objects.get().payload["text"] == "# Title\n\nBody"


def test_skip_needs_a_reason_then_moves_on(project, labeler):
    make_tasks(project, n=2)
    assignment = assignment_claim(project=project, user=labeler)
    url = reverse("labeling:skip", args=[assignment.task_id])
    refused = client_for(labeler).post(url, {"reason": "  "}, **HX)
    assert refused["HX-Retarget"] == "#skip-error"
    assert assignment_errors.ERROR_SKIP_REASON.split(":")[0] in refused.content.decode()
    response = client_for(labeler).post(
        url, {"reason": "Needs a lawyer", "time_spent_ms": 900}, **HX
    )
    skipped = Annotation.objects.get(task_id=assignment.task_id)
    assert (skipped.status, skipped.skip_reason, skipped.time_spent_ms) == (
        AnnotationStatus.SKIPPED,
        "Needs a lawyer",
        900,
    )
    assert response.context["task"].pk != assignment.task_id


def test_heartbeat_renews_and_says_when_the_lease_expired(project, labeler):
    (task,) = make_tasks(project)
    assignment = assignment_claim(project=project, user=labeler)
    Assignment.objects.filter(pk=assignment.pk).update(expires_at=assignment.claimed_at)
    client = client_for(labeler)
    url = reverse("labeling:heartbeat", args=[task.pk])
    assert client.post(url).status_code == 200
    assignment.refresh_from_db()
    assert assignment.expires_at > assignment.claimed_at
    Assignment.objects.filter(pk=assignment.pk).update(status=AssignmentStatus.EXPIRED)
    response = client.post(url)
    assert response.status_code == 409
    assert "expired" in response.content.decode()


def test_leave_releases_the_lease(project, labeler):
    (task,) = make_tasks(project)
    assignment = assignment_claim(project=project, user=labeler)
    response = client_for(labeler).post(reverse("labeling:leave", args=[task.pk]))
    assert response.status_code == 302
    assignment.refresh_from_db()
    task.refresh_from_db()
    assert assignment.status == AssignmentStatus.EXPIRED
    assert (task.active_leases, task.status) == (0, TaskStatus.OPEN)
    # Leaving twice changes nothing.
    client_for(labeler).post(reverse("labeling:leave", args=[task.pk]))
    task.refresh_from_db()
    assert task.active_leases == 0


def test_preview_renders_sanitized_markdown_and_the_diff(project, labeler):
    (task,) = make_tasks(project, kind="demonstration", answers=1)
    draft = answer_ids(task)[0]
    response = client_for(labeler).post(
        reverse("labeling:preview", args=[task.pk]),
        {"text": "**bold** <script>x</script>\nanswer 0 to 0", "draft_completion": draft},
        **HX,
    )
    html = response.content.decode()
    assert "<strong>bold</strong>" in html and "<script>" not in html
    assert 'class="diff-add"' in html and 'class="diff-del"' in html


def test_review_list_and_query_count(project, reviewer, make_user, django_assert_num_queries):
    labelers = [make_user(f"l{i}") for i in range(3)]
    for user in labelers:
        membership_set(project=project, user=user, role=Role.LABELER)
    make_tasks(project, n=3, required=3)
    client = client_for(reviewer)
    url = reverse("labeling:review_list", args=[project.pk])
    assert "Nothing waits for review" in client.get(url).content.decode()
    a = assignment_claim(project=project, user=labelers[0])
    annotation_submit(task=a.task, user=labelers[0], data={"ranking": a.display_order})
    with django_assert_num_queries(6):
        client.get(url)
    for user in labelers[1:]:
        a = assignment_claim(project=project, user=user)
        annotation_submit(task=a.task, user=user, data={"ranking": a.display_order})
    with django_assert_num_queries(6):
        response = client.get(url)
    assert [row["waiting"] for row in response.context["rows"]] == [3]
    assert f"#{a.task_id}" in response.content.decode()


def test_review_task_aligns_rankings_and_rejects_with_a_comment(
    project, labeler, reviewer, submitted, django_assert_max_num_queries
):
    task, annotation = submitted
    client = client_for(reviewer)
    with django_assert_max_num_queries(9):
        page = client.get(reverse("labeling:review_task", args=[task.pk]))
    ids = answer_ids(task)
    assert [row["cells"][0]["text"] for row in page.context["rows"]] == [
        str(i + 1) for i in range(len(ids))
    ]
    url = reverse("labeling:review_decide", args=[annotation.pk])
    refused = client.post(url, {"decision": "reject", "comment": ""}, **HX)
    assert review_errors.ERROR_REJECT_NEEDS_COMMENT in refused.content.decode()
    annotation.refresh_from_db()
    assert annotation.status == AnnotationStatus.SUBMITTED
    response = client.post(url, {"decision": "reject", "comment": "Rank B first."}, **HX)
    assert response.content.decode().lstrip().startswith('<div id="annotations">')
    annotation.refresh_from_db()
    task.refresh_from_db()
    assert annotation.status == AnnotationStatus.REJECTED
    assert task.submitted_count == 0 and task.status == TaskStatus.OPEN
    assert Review.objects.get().comment == "Rank B first."
    # The task returns to its author first, with the comment on the page.
    again = assignment_claim(project=project, user=labeler)
    assert again.task_id == task.pk
    html = client_for(labeler).get(reverse("labeling:task", args=[task.pk])).content.decode()
    assert "Rank B first." in html


def test_review_accept_without_htmx_redirects(project, reviewer, submitted):
    task, annotation = submitted
    response = client_for(reviewer).post(
        reverse("labeling:review_decide", args=[annotation.pk]), {"decision": "accept"}
    )
    assert response["Location"] == reverse("labeling:review_task", args=[task.pk])
    annotation.refresh_from_db()
    assert annotation.status == AnnotationStatus.ACCEPTED
    assert Task.objects.get().submitted_count == 1
