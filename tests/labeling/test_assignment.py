"""Handing out work: overlap, breadth-first order, leases, expiry, idempotent submit, skip,
gold mixing and review."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import (
    Annotation,
    AnnotationStatus,
    Assignment,
    AssignmentStatus,
    Role,
    Task,
    TaskStatus,
)
from labeling.services import (
    AssignmentError,
    PayloadError,
    ReviewError,
    annotation_skip,
    annotation_submit,
    assignment_claim,
    assignment_heartbeat,
    lease_expire_due,
    membership_set,
    review_create,
)
from labeling.services import assignment as assignment_module
from labeling.services import review as review_module
from tests.labeling.factories import answer_ids, make_tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def labelers(make_user, project):
    users = []
    for name in ("ann", "bob", "cat"):
        user = make_user(name)
        membership_set(project=project, user=user, role=Role.LABELER)
        users.append(user)
    return users


def rank(task, user, **extra):
    ids = answer_ids(task)
    return annotation_submit(task=task, user=user, data={"ranking": ids, **extra})


def test_claim_never_exceeds_overlap_and_never_gives_a_user_a_task_twice(project, labelers):
    first, second = make_tasks(project, n=2, required=2)
    ann, bob, cat = labelers
    assert assignment_claim(project=project, user=ann).task_id == first.pk
    assert assignment_claim(project=project, user=bob).task_id == first.pk
    # Both slots of the first task are leased: the third labeler gets the second task.
    assert assignment_claim(project=project, user=cat).task_id == second.pk
    first.refresh_from_db()
    assert (first.active_leases, first.submitted_count, first.status) == (2, 0, TaskStatus.FULL)
    rank(first, ann)
    # ann has done the first task; her next claim must be the second one, never the first.
    assert assignment_claim(project=project, user=ann).task_id == second.pk
    first.refresh_from_db()
    assert (first.active_leases, first.submitted_count) == (1, 1)


def test_claim_finishes_started_tasks_first(project, labelers):
    tasks = make_tasks(project, n=3, required=2)
    ann, bob, _ = labelers
    # Work starts on the last task; the next labeler is sent there before the fresh ones.
    Task.objects.filter(pk__in=[tasks[0].pk, tasks[1].pk]).update(status=TaskStatus.ARCHIVED)
    assert assignment_claim(project=project, user=ann).task_id == tasks[2].pk
    rank(tasks[2], ann)
    Task.objects.filter(pk__in=[tasks[0].pk, tasks[1].pk]).update(status=TaskStatus.OPEN)
    assert assignment_claim(project=project, user=bob).task_id == tasks[2].pk


def test_claim_again_returns_the_same_lease(project, labeler):
    make_tasks(project, n=2)
    first = assignment_claim(project=project, user=labeler)
    again = assignment_claim(project=project, user=labeler)
    assert again.pk == first.pk
    assert Assignment.objects.filter(user=labeler, status=AssignmentStatus.ACTIVE).count() == 1


def test_no_work_returns_none(project, labeler):
    assert assignment_claim(project=project, user=labeler) is None
    (task,) = make_tasks(project)
    assignment_claim(project=project, user=labeler)
    rank(task, labeler)
    assert assignment_claim(project=project, user=labeler) is None


def test_expired_lease_returns_the_task_to_the_pool(project, labelers):
    (task,) = make_tasks(project, required=1)
    ann, bob, _ = labelers
    start = timezone.now()
    lease = assignment_claim(project=project, user=ann, now=start)
    assert lease.expires_at == start + timedelta(minutes=project.claim_timeout_minutes)
    assert assignment_claim(project=project, user=bob, now=start) is None
    later = start + timedelta(minutes=project.claim_timeout_minutes, seconds=1)
    taken = assignment_claim(project=project, user=bob, now=later)
    assert taken.task_id == task.pk
    lease.refresh_from_db()
    task.refresh_from_db()
    assert lease.status == AssignmentStatus.EXPIRED
    assert (task.active_leases, task.status) == (1, TaskStatus.FULL)


def test_heartbeat_keeps_the_lease_alive(project, labelers):
    (task,) = make_tasks(project, required=1)
    ann, bob, _ = labelers
    start = timezone.now()
    assignment_claim(project=project, user=ann, now=start)
    beat = start + timedelta(minutes=project.claim_timeout_minutes - 1)
    renewed = assignment_heartbeat(task=task, user=ann, now=beat)
    assert renewed.expires_at == beat + timedelta(minutes=project.claim_timeout_minutes)
    assert assignment_claim(project=project, user=bob, now=start + timedelta(minutes=20)) is None


def test_heartbeat_after_expiry_says_so(project, labelers):
    (task,) = make_tasks(project)
    ann, _, _ = labelers
    start = timezone.now()
    assignment_claim(project=project, user=ann, now=start)
    assert lease_expire_due(project=project, now=start + timedelta(hours=1)) == 1
    with pytest.raises(AssignmentError, match="expired at"):
        assignment_heartbeat(task=task, user=ann)
    with pytest.raises(AssignmentError, match="have not claimed"):
        assignment_heartbeat(task=task, user=labelers[1])


def test_double_submit_returns_the_same_annotation(project, labeler):
    (task,) = make_tasks(project, required=2)
    assignment_claim(project=project, user=labeler)
    first = rank(task, labeler, time_spent_ms=1234)
    ids = answer_ids(task)
    second = annotation_submit(task=task, user=labeler, data={"ranking": list(reversed(ids))})
    assert second.pk == first.pk
    task.refresh_from_db()
    assert (task.submitted_count, task.active_leases) == (1, 0)
    assert Annotation.objects.get().payload == {"ranking": [[i] for i in ids]}
    assert Annotation.objects.get().time_spent_ms == 1234


def test_submit_on_an_expired_lease_succeeds_while_a_slot_is_free(project, labelers):
    (task,) = make_tasks(project, required=2)
    ann, _, _ = labelers
    start = timezone.now()
    assignment_claim(project=project, user=ann, now=start)
    lease_expire_due(project=project, now=start + timedelta(hours=1))
    annotation = rank(task, ann)
    task.refresh_from_db()
    assert annotation.status == AnnotationStatus.SUBMITTED
    assert (task.submitted_count, task.active_leases, task.status) == (1, 0, TaskStatus.OPEN)


def test_submit_on_an_expired_lease_whose_slot_was_taken_says_why_and_saves_nothing(
    project, labelers
):
    (task,) = make_tasks(project, required=1)
    ann, bob, _ = labelers
    start = timezone.now()
    assignment_claim(project=project, user=ann, now=start)
    later = start + timedelta(hours=1)
    assert assignment_claim(project=project, user=bob, now=later).task_id == task.pk
    with pytest.raises(AssignmentError) as error:
        rank(task, ann)
    assert "other labelers have since filled its slots" in str(error.value)
    assert not Annotation.objects.exists()
    rank(task, bob)
    task.refresh_from_db()
    assert (task.submitted_count, task.active_leases, task.status) == (1, 0, TaskStatus.COMPLETE)


def test_submit_without_a_claim_is_refused(project, labeler):
    (task,) = make_tasks(project)
    with pytest.raises(AssignmentError) as error:
        rank(task, labeler)
    assert str(error.value) == assignment_module.ERROR_NOT_CLAIMED.format(task=task.pk)


def test_invalid_answer_changes_nothing(project, labeler):
    (task,) = make_tasks(project, required=1)
    lease = assignment_claim(project=project, user=labeler)
    with pytest.raises(PayloadError):
        annotation_submit(task=task, user=labeler, data={"ranking": answer_ids(task)[:2]})
    task.refresh_from_db()
    lease.refresh_from_db()
    assert (task.submitted_count, task.active_leases) == (0, 1)
    assert lease.status == AssignmentStatus.ACTIVE
    assert not Annotation.objects.exists()


def test_skip_frees_the_slot_and_is_not_offered_again(project, labelers):
    first, second = make_tasks(project, n=2, required=1)
    ann, bob, _ = labelers
    assignment_claim(project=project, user=ann)
    with pytest.raises(AssignmentError, match="Say why"):
        annotation_skip(task=first, user=ann, reason=" ")
    skipped = annotation_skip(task=first, user=ann, reason="I cannot read Python")
    assert annotation_skip(task=first, user=ann, reason="again").pk == skipped.pk
    assert skipped.status == AnnotationStatus.SKIPPED
    first.refresh_from_db()
    assert (first.active_leases, first.submitted_count, first.status) == (0, 0, TaskStatus.OPEN)
    assert assignment_claim(project=project, user=ann).task_id == second.pk
    assert assignment_claim(project=project, user=bob).task_id == first.pk
    with pytest.raises(AssignmentError, match="You skipped task"):
        rank(first, ann)


def test_display_order_is_shuffled_per_labeler_and_kept_on_the_annotation(project, labelers):
    (task,) = make_tasks(project, answers=6, required=3)
    orders = []
    for seed, user in enumerate(labelers):
        lease = assignment_claim(project=project, user=user, rng=random.Random(seed))
        orders.append(lease.display_order)
        assert sorted(lease.display_order) == sorted(answer_ids(task))
        assert rank(task, user).display_order == lease.display_order
    assert len({tuple(order) for order in orders}) > 1


def test_gold_tasks_are_mixed_in_at_the_project_rate_and_scored(project, labelers):
    make_tasks(project, n=2, tag="plain ")
    (gold,) = make_tasks(
        project, is_gold=True, gold_answer=lambda ids: {"ranking": ids}, tag="gold "
    )
    ann, bob, _ = labelers
    project.gold_rate = 1.0
    project.save()
    assert assignment_claim(project=project, user=ann).task_id == gold.pk
    right = rank(gold, ann)
    assert right.gold_correct is True
    project.gold_rate = 0.0
    project.save()
    assert assignment_claim(project=project, user=bob).task_id != gold.pk


def test_gold_answer_that_disagrees_is_marked_wrong(project, labeler):
    (gold,) = make_tasks(project, is_gold=True, gold_answer=lambda ids: {"ranking": ids})
    assignment_claim(project=project, user=labeler)
    wrong = annotation_submit(
        task=gold, user=labeler, data={"ranking": list(reversed(answer_ids(gold)))}
    )
    assert wrong.gold_correct is False


def test_rejected_work_goes_back_to_its_author(project, labelers, reviewer):
    first, second = make_tasks(project, n=2, required=1)
    ann, bob, _ = labelers
    assignment_claim(project=project, user=ann)
    annotation = rank(first, ann)
    with pytest.raises(ReviewError) as error:
        review_create(annotation=annotation, reviewer=reviewer, decision="reject")
    assert str(error.value) == review_module.ERROR_REJECT_NEEDS_COMMENT
    review_create(
        annotation=annotation, reviewer=reviewer, decision="reject", comment="Tie 2 and 3"
    )
    annotation.refresh_from_db()
    first.refresh_from_db()
    assert annotation.status == AnnotationStatus.REJECTED
    assert (first.submitted_count, first.status) == (0, TaskStatus.OPEN)
    # The author's next claim is the rework, before the untouched second task.
    rework = assignment_claim(project=project, user=ann)
    assert rework.task_id == first.pk
    ids = answer_ids(first)
    again = annotation_submit(task=first, user=ann, data={"ranking": [ids[0], ids[1:]]})
    assert again.pk == annotation.pk
    assert again.status == AnnotationStatus.SUBMITTED
    assert again.payload["ranking"] == [[ids[0]], sorted(ids[1:])]
    review_create(annotation=again, reviewer=reviewer, decision="accept")
    again.refresh_from_db()
    first.refresh_from_db()
    assert again.status == AnnotationStatus.ACCEPTED
    assert (first.submitted_count, first.status) == (1, TaskStatus.COMPLETE)
    assert assignment_claim(project=project, user=bob).task_id == second.pk


def test_reviewer_cannot_review_own_or_skipped_work(project, reviewer, labeler):
    first, second = make_tasks(project, n=2)
    assignment_claim(project=project, user=reviewer)
    own = rank(first, reviewer)
    with pytest.raises(ReviewError, match="your own"):
        review_create(annotation=own, reviewer=reviewer, decision="accept")
    assignment_claim(project=project, user=labeler)
    skipped = annotation_skip(task=second, user=labeler, reason="unclear")
    with pytest.raises(ReviewError, match="skipped"):
        review_create(annotation=skipped, reviewer=reviewer, decision="accept")


def test_overlap_constraint_is_enforced_by_the_database(project):
    from django.db import IntegrityError, transaction

    (task,) = make_tasks(project, required=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.filter(pk=task.pk).update(submitted_count=1, active_leases=1)


def test_demonstration_that_edits_a_draft_keeps_original_edit_and_diff(project, labeler):
    (task,) = make_tasks(project, kind="demonstration", answers=1)
    (draft,) = answer_ids(task)
    assignment_claim(project=project, user=labeler)
    annotation = annotation_submit(
        task=task,
        user=labeler,
        data={"text": "answer 0 to 0, with a source", "draft_completion": draft},
    )
    annotation.refresh_from_db()
    assert annotation.payload["original"] == "answer 0 to 0"
    assert annotation.payload["text"] == "answer 0 to 0, with a source"
    assert "+answer 0 to 0, with a source" in annotation.payload["diff"]
