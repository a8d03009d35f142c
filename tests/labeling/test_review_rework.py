"""Work a reviewer sent back: the author's page (and the claim API) starts from the rejected
answer; a claim that expired unanswered keeps its work area; and a reviewer who accepts the
earlier answer during the rework turns the author's next submit into a closed lease."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from labeling.models import (
    Annotation,
    AnnotationStatus,
    Assignment,
    AssignmentStatus,
    Draft,
    Task,
)
from labeling.services import (
    annotation_submit,
    assignment_claim,
    lease_expire_due,
    review_create,
)
from labeling.services.assignment import ERROR_LEASE_EXPIRED_TAKEN
from labeling.views.work import MESSAGE_ACCEPTED_MEANWHILE
from tests.labeling.factories import make_tasks

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def server_draft(response) -> dict | None:
    """The draft the page hands to task.js (the #server-draft JSON script)."""
    html = response.content.decode()
    start = html.find('<script id="server-draft" type="application/json">')
    if start < 0:
        return None
    start = html.index(">", start) + 1
    return json.loads(html[start : html.index("</script>", start)])


def rejected_then_reclaimed(project, user, reviewer, *, kind, answer, required=2, answers=2):
    """The user answers a task of `kind` (answer(order) builds the submit from the order they
    were shown), a reviewer rejects it, and the user claims it back. Returns (task, lease)."""
    (task,) = make_tasks(project, kind=kind, answers=answers, required=required)
    first = assignment_claim(project=project, user=user)
    annotation = annotation_submit(task=task, user=user, data=answer(first.display_order))
    review_create(annotation=annotation, reviewer=reviewer, decision="reject", comment="Redo.")
    again = assignment_claim(project=project, user=user)
    assert again.task_id == task.pk and again.pk != first.pk
    return task, again


def test_rework_page_starts_from_the_rejected_demonstration(project, labeler, reviewer):
    task, _lease = rejected_then_reclaimed(
        project,
        labeler,
        reviewer,
        kind="demonstration",
        answers=1,
        answer=lambda order: {"text": "My *first* try.", "draft_completion": order[0]},
    )
    response = client_for(labeler).get(reverse("labeling:task", args=[task.pk]))
    draft = server_draft(response)
    assert draft["source"] == "rejected"
    assert draft["state"]["kind"] == {"text": "My *first* try."}
    assert draft["state"]["at"] == 0  # an edit kept in the browser since wins
    assert "Redo." in response.content.decode()


def test_rework_page_prefers_a_newer_draft(project, labeler, reviewer):
    task, _lease = rejected_then_reclaimed(
        project,
        labeler,
        reviewer,
        kind="demonstration",
        answers=1,
        answer=lambda order: {"text": "First try."},
    )
    client = client_for(labeler)
    state = {"kind": {"text": "First try, fixed."}, "at": 5, "spent": 10}
    assert (
        client.put(reverse("labeling:draft", args=[task.pk]), json.dumps(state)).status_code == 200
    )
    draft = server_draft(client.get(reverse("labeling:task", args=[task.pk])))
    assert "source" not in draft and draft["state"]["kind"] == {"text": "First try, fixed."}


def test_rework_page_restores_a_ranking_with_tie_flags_ratings_and_rationale(
    project, labeler, reviewer
):
    project.answer_rating_max = 3
    project.save()

    def answer(order):
        return {
            "ranking": [[order[2]], [order[0], order[1]]],
            "flags": {str(order[1]): ["hallucination"]},
            "ratings": {str(order[2]): 3},
            "none_acceptable": True,
            "rationale": "C is the only correct one.",
        }

    task, _lease = rejected_then_reclaimed(
        project, labeler, reviewer, kind="ranking", answers=3, answer=answer
    )
    order = Assignment.objects.filter(user=labeler).order_by("pk").first().display_order
    state = server_draft(client_for(labeler).get(reverse("labeling:task", args=[task.pk])))["state"]
    assert state["kind"] == {
        "placed": {str(order[2]): 1, str(order[0]): 2, str(order[1]): 2},
        "flags": {str(order[1]): ["hallucination"]},
        "ratings": {str(order[2]): 3},
        "none": True,
    }
    assert state["rationale"] == "C is the only correct one."


def test_rework_pairwise_choice_follows_the_new_shown_order(project, labeler, reviewer):
    winners = []

    def answer(order):
        winners.append(order[1])
        return {"choice": "b", "strength": 2, "flags": {str(order[0]): ["refusal"]}}

    task, lease = rejected_then_reclaimed(
        project, labeler, reviewer, kind="pairwise", answer=answer
    )
    # Whatever order the new claim shows, the restored choice names the same answer.
    for display_order in (
        [winners[0], *[i for i in lease.display_order if i != winners[0]]],
        [*[i for i in lease.display_order if i != winners[0]], winners[0]],
    ):
        Assignment.objects.filter(pk=lease.pk).update(display_order=display_order)
        page = client_for(labeler).get(reverse("labeling:task", args=[task.pk]))
        kind = server_draft(page)["state"]["kind"]
        assert kind["choice"] == ("a" if display_order[0] == winners[0] else "b")
        assert kind["strength"] == "2"
        loser = next(i for i in display_order if i != winners[0])
        assert kind["flags"] == {str(loser): ["refusal"]}


def test_rework_page_restores_rubric_scores(project, labeler, reviewer):
    project.rubric = ["correctness", "style"]
    project.save()

    def answer(order):
        return {
            "scores": {
                str(order[0]): {"correctness": 4, "style": 2},
                str(order[1]): {"correctness": 1, "style": 5},
            },
            "rationale": "B is wrong.",
        }

    task, lease = rejected_then_reclaimed(project, labeler, reviewer, kind="rubric", answer=answer)
    order = lease.display_order
    page = client_for(labeler).get(reverse("labeling:task", args=[task.pk]))
    state = server_draft(page)["state"]
    assert state["rationale"] == "B is wrong."
    checked = set(state["kind"]["checked"])
    first = Assignment.objects.filter(user=labeler).order_by("pk").first().display_order
    assert checked == {
        f"score-{first[0]}-correctness=4",
        f"score-{first[0]}-style=2",
        f"score-{first[1]}-correctness=1",
        f"score-{first[1]}-style=5",
    }
    html = page.content.decode()
    for name in checked:  # each restored pair names a radio button the page has
        field, value = name.split("=")
        assert f'name="{field}" value="{value}"' in html
    assert set(order) == set(first)


def test_claim_api_carries_the_rejected_answer_in_submit_shape(project, labeler, reviewer):
    shown = []

    def answer(order):
        shown.extend(order)
        return {"choice": "a", "rationale": "A is right."}

    task, lease = rejected_then_reclaimed(
        project, labeler, reviewer, kind="pairwise", answer=answer
    )
    api = APIClient()
    api.force_authenticate(labeler)
    claim = api.post(f"/api/projects/{project.pk}/claim/").json()
    rejected = claim["task"]["rejected_answer"]
    assert rejected["choice"] == ("a" if lease.display_order[0] == shown[0] else "b")
    assert rejected["rationale"] == "A is right."
    # It can be sent back as it is (the rework may change only what the reviewer asked).
    response = api.post(f"/api/tasks/{task.pk}/submit/", rejected, format="json")
    assert response.status_code == 200, response.content
    assert Annotation.objects.get().payload["winner"] == shown[0]


def test_claim_api_has_no_rejected_answer_for_fresh_work(project, labeler):
    make_tasks(project)
    api = APIClient()
    api.force_authenticate(labeler)
    assert api.post(f"/api/projects/{project.pk}/claim/").json()["task"]["rejected_answer"] is None


# --- an expired claim ------------------------------------------------------------------


def expire(lease: Assignment) -> None:
    Assignment.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert lease_expire_due() == 1


def test_expired_unanswered_claim_keeps_its_work_area_and_draft(project, labeler):
    (task,) = make_tasks(project, kind="demonstration", answers=1)
    lease = assignment_claim(project=project, user=labeler)
    client = client_for(labeler)
    state = {"kind": {"text": "Half written"}, "at": 7, "spent": 1000}
    assert (
        client.put(reverse("labeling:draft", args=[task.pk]), json.dumps(state)).status_code == 200
    )
    expire(lease)
    response = client.get(reverse("labeling:task", args=[task.pk]))
    html = response.content.decode()
    assert f'data-task="{task.pk}"' in html and "data-heartbeat-url" not in html
    assert server_draft(response)["state"]["kind"] == {"text": "Half written"}
    assert "expired at" in html and "accepted while the task has a free slot" in html
    assert 'type="submit" disabled' not in html and "data-open-skip disabled" not in html
    # And the server takes the answer, as the page promises.
    data = {"answer": json.dumps({"text": "Finished."}), "time_spent_ms": "5"}
    saved = client.post(reverse("labeling:submit", args=[task.pk]), data, **HX)
    assert saved.status_code == 200
    assert Annotation.objects.get().payload["text"] == "Finished."
    assert json.loads(saved["HX-Trigger"])["annotationSaved"] == {"task": task.pk}


def test_expired_claim_whose_slot_was_taken_says_why_next_to_the_field(project, labeler, make_user):
    from labeling.models import Role
    from labeling.services import membership_set

    (task,) = make_tasks(project, kind="demonstration", answers=1, required=1)
    lease = assignment_claim(project=project, user=labeler)
    expire(lease)
    other = make_user("other")
    membership_set(project=project, user=other, role=Role.LABELER)
    assert assignment_claim(project=project, user=other).task_id == task.pk
    annotation_submit(task=task, user=other, data={"text": "Theirs."})
    client = client_for(labeler)
    page = client.get(reverse("labeling:task", args=[task.pk])).content.decode()
    assert f'data-task="{task.pk}"' in page  # still the work area; the server decides
    data = {"answer": json.dumps({"text": "Mine."})}
    refused = client.post(reverse("labeling:submit", args=[task.pk]), data, **HX)
    expected = ERROR_LEASE_EXPIRED_TAKEN.format(task=task.pk, expired=lease.expires_at)
    assert expected.split(" at ")[0] in refused.content.decode()
    assert refused["HX-Retarget"] == "#answer-error"
    assert not Annotation.objects.filter(annotator=labeler).exists()


def test_answered_claim_is_not_reopened(project, labeler):
    (task,) = make_tasks(project, kind="demonstration", answers=1)
    assignment_claim(project=project, user=labeler)
    annotation_submit(task=task, user=labeler, data={"text": "Done."})
    html = client_for(labeler).get(reverse("labeling:task", args=[task.pk])).content.decode()
    assert "data-task=" not in html and 'type="submit" disabled' in html


# --- accepted while the author reworks it ------------------------------------------------


def accepted_during_rework(project, labeler, reviewer):
    task, lease = rejected_then_reclaimed(
        project,
        labeler,
        reviewer,
        kind="demonstration",
        answers=1,
        required=3,
        answer=lambda order: {"text": "The first answer."},
    )
    annotation = Annotation.objects.get()
    review_create(annotation=annotation, reviewer=reviewer, decision="accept")
    return task, lease


def test_submit_after_accept_closes_the_lease_and_keeps_the_accepted_answer(
    project, labeler, reviewer
):
    task, lease = accepted_during_rework(project, labeler, reviewer)
    task.refresh_from_db()
    assert (task.submitted_count, task.active_leases) == (1, 1)
    client = client_for(labeler)
    state = {"kind": {"text": "The second answer."}, "at": 3}
    assert (
        client.put(reverse("labeling:draft", args=[task.pk]), json.dumps(state)).status_code == 200
    )

    result = annotation_submit(task=task, user=labeler, data={"text": "The second answer."})

    assert result.accepted_meanwhile is True
    annotation = Annotation.objects.get()
    assert annotation.status == AnnotationStatus.ACCEPTED
    assert annotation.payload["text"] == "The first answer."
    lease.refresh_from_db()
    task.refresh_from_db()
    assert lease.status == AssignmentStatus.SUBMITTED and lease.finished_at is not None
    assert (task.submitted_count, task.active_leases) == (1, 0)
    assert not Draft.objects.exists()
    # The next claim does not hand the same task back; a repeat submit is a plain repeat.
    assert assignment_claim(project=project, user=labeler) is None
    again = annotation_submit(task=task, user=labeler, data={"text": "The second answer."})
    assert not getattr(again, "accepted_meanwhile", False)
    assert Task.objects.get().active_leases == 0


def test_submit_and_next_after_accept_says_so_and_moves_on(project, labeler, reviewer):
    task, _lease = accepted_during_rework(project, labeler, reviewer)
    (other,) = make_tasks(project, kind="demonstration", answers=1, tag="next ")
    data = {"answer": json.dumps({"text": "The second answer."})}
    response = client_for(labeler).post(reverse("labeling:submit", args=[task.pk]), data, **HX)
    assert response.status_code == 200
    trigger = json.loads(response["HX-Trigger"])
    assert trigger["showToast"]["message"] == MESSAGE_ACCEPTED_MEANWHILE
    assert response["HX-Push-Url"] == reverse("labeling:task", args=[other.pk])
    assert Assignment.objects.get(user=labeler, status=AssignmentStatus.ACTIVE).task_id == other.pk
