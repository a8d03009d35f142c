"""The server copy of a labeler's draft: one per task and labeler, last write wins, size
limited, written only by the labeler whose lease it is, cleared by submit and skip, and
handed to the task page so that another browser restores it."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from labeling.models import Draft, Role
from labeling.services import (
    annotation_skip,
    annotation_submit,
    assignment_claim,
    draft_save,
    lease_expire_due,
    membership_set,
)
from labeling.services import drafts as draft_errors
from labeling.services.leases import assignment_release
from tests.labeling.factories import answer_ids, make_tasks

pytestmark = pytest.mark.django_db
STATE = {"kind": {"text": "Walk **Alfama** early."}, "spent": 5000, "at": 1700000000000}


@pytest.fixture
def claimed(project, labeler):
    (task,) = make_tasks(project, kind="demonstration", answers=0, required=2)
    assignment_claim(project=project, user=labeler)
    return task


@pytest.fixture
def colleague(make_user, project):
    user = make_user("colleague")
    membership_set(project=project, user=user, role=Role.LABELER)
    return user


def client_for(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def put(client, task, body):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.put(
        reverse("labeling:draft", args=[task.pk]), data, content_type="application/json"
    )


# --- the service ----------------------------------------------------------------------------


def test_last_write_wins_one_draft_per_task_and_labeler(claimed, labeler):
    draft_save(task=claimed, user=labeler, state=STATE)
    later = {**STATE, "kind": {"text": "Then Belém."}, "at": STATE["at"] + 1}
    draft = draft_save(task=claimed, user=labeler, state=later)
    assert Draft.objects.count() == 1
    draft.refresh_from_db()
    assert draft.state == later
    assert draft.size == len(json.dumps(later, ensure_ascii=False, separators=(",", ":")).encode())


def test_a_draft_over_the_limit_is_refused_with_its_size(claimed, labeler):
    state = {"kind": {"text": "é" * draft_errors.DRAFT_MAX_BYTES}}
    with pytest.raises(draft_errors.DraftError) as error:
        draft_save(task=claimed, user=labeler, state=state)
    assert str(error.value) == draft_errors.ERROR_DRAFT_TOO_LARGE.format(size=513, limit=256)
    assert not Draft.objects.exists()
    with pytest.raises(draft_errors.DraftError, match="must be a JSON object"):
        draft_save(task=claimed, user=labeler, state=["not", "an", "object"])


def test_only_the_lease_holder_may_write(claimed, labeler, colleague, reviewer):
    for user in (colleague, reviewer):  # members of the project, no claim on this task
        with pytest.raises(draft_errors.DraftError) as error:
            draft_save(task=claimed, user=user, state=STATE)
        assert str(error.value) == draft_errors.ERROR_DRAFT_NOT_HELD.format(task=claimed.pk)
    assert not Draft.objects.exists()


def test_an_expired_or_released_lease_may_still_keep_its_draft(project, claimed, labeler):
    # Its answer may still be submitted while a slot is free, so the work is worth keeping.
    assert lease_expire_due(project=project, now=timezone.now() + timedelta(days=1)) == 1
    draft_save(task=claimed, user=labeler, state=STATE)
    assignment_claim(project=project, user=labeler)
    assignment_release(task=claimed, user=labeler)
    draft_save(task=claimed, user=labeler, state={**STATE, "at": 2})
    assert Draft.objects.get().state["at"] == 2


def test_submit_and_skip_clear_the_draft_and_later_writes_are_refused(project, labeler, colleague):
    demo, other = make_tasks(project, kind="demonstration", n=2, answers=0, required=2)
    assignment_claim(project=project, user=labeler)
    assignment_claim(project=project, user=colleague)
    draft_save(task=demo, user=labeler, state=STATE)
    draft_save(task=demo, user=colleague, state=STATE)
    annotation_submit(task=demo, user=labeler, data={"text": "Done."})
    assert list(Draft.objects.values_list("user__username", flat=True)) == ["colleague"]
    with pytest.raises(draft_errors.DraftError):
        draft_save(task=demo, user=labeler, state=STATE)
    annotation_skip(task=demo, user=colleague, reason="cannot tell")
    assert not Draft.objects.exists()
    assert assignment_claim(project=project, user=labeler).task_id == other.pk


def test_the_submit_that_completes_a_task_removes_drafts_left_by_expired_claims(
    project, make_user, labeler, colleague
):
    (task,) = make_tasks(project, kind="demonstration", answers=0, required=2)
    third = make_user("third")
    membership_set(project=project, user=third, role=Role.LABELER)
    assignment_claim(project=project, user=labeler)
    draft_save(task=task, user=labeler, state=STATE)
    # The labeler walks away: the claim expires, the draft stays (a free slot may still take it).
    assert lease_expire_due(project=project, now=timezone.now() + timedelta(days=1)) == 1
    for user in (colleague, third):
        assert assignment_claim(project=project, user=user).task_id == task.pk
        draft_save(task=task, user=user, state=STATE)
    annotation_submit(task=task, user=colleague, data={"text": "One."})
    assert sorted(Draft.objects.values_list("user__username", flat=True)) == ["labeler", "third"]
    annotation_submit(task=task, user=third, data={"text": "Two."})  # the last slot
    assert not Draft.objects.exists()


# --- the views ------------------------------------------------------------------------------


def test_put_keeps_the_draft_and_the_task_page_hands_it_back(claimed, labeler):
    client = client_for(labeler)
    response = put(client, claimed, STATE)
    assert response.status_code == 200
    assert response.json()["size"] == Draft.objects.get().size
    assert Draft.objects.get(task=claimed, user=labeler).state == STATE
    page = client.get(reverse("labeling:task", args=[claimed.pk]))
    assert page.context["server_draft"]["state"] == STATE
    html = page.content.decode()
    assert 'id="server-draft"' in html and "Walk **Alfama** early." in html
    assert f'data-draft-url="{reverse("labeling:draft", args=[claimed.pk])}"' in html


def test_refused_puts_answer_400_with_the_message_and_store_nothing(
    claimed, labeler, colleague, settings
):
    response = put(client_for(colleague), claimed, STATE)
    assert response.status_code == 400
    assert response.json()["error"] == draft_errors.ERROR_DRAFT_NOT_HELD.format(task=claimed.pk)
    response = put(client_for(labeler), claimed, "{not json")
    assert (response.status_code, response.json()["error"]) == (
        400,
        draft_errors.ERROR_DRAFT_SHAPE,
    )
    big = {"kind": {"text": "x" * (draft_errors.DRAFT_MAX_BYTES + 10)}}
    response = put(client_for(labeler), claimed, big)
    assert response.status_code == 400
    assert response.json()["error"].startswith("This draft is 257 KB")
    # A body over Django's own upload limit gets the same message, not a bare 400.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = put(client_for(labeler), claimed, {"kind": {"text": "y" * 2000}})
    assert response.status_code == 400
    assert "the server keeps drafts up to 256 KB" in response.json()["error"]
    assert not Draft.objects.exists()


def test_strangers_anonymous_and_other_methods_are_refused(claimed, labeler, stranger):
    url = reverse("labeling:draft", args=[claimed.pk])
    assert put(client_for(stranger), claimed, STATE).status_code == 404
    anonymous = put(client_for(), claimed, STATE)
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    assert client_for(labeler).get(url).status_code == 405
    assert client_for(labeler).post(url, {}).status_code == 405
    assert not Draft.objects.exists()


def test_a_labeler_never_gets_another_labelers_draft(project, claimed, labeler, colleague):
    draft_save(task=claimed, user=labeler, state=STATE)
    assert assignment_claim(project=project, user=colleague).task_id == claimed.pk
    page = client_for(colleague).get(reverse("labeling:task", args=[claimed.pk]))
    assert page.context["server_draft"] is None
    assert "Alfama" not in page.content.decode()


def test_submit_view_clears_the_server_draft(project, labeler):
    (task,) = make_tasks(project, kind="ranking")
    assignment_claim(project=project, user=labeler)
    client = client_for(labeler)
    assert put(client, task, {"kind": {"ranking": [answer_ids(task)]}}).status_code == 200
    response = client.post(
        reverse("labeling:submit", args=[task.pk]),
        {"answer": json.dumps({"ranking": answer_ids(task)})},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert not Draft.objects.exists()
