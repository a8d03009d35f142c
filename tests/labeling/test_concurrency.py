"""Many labelers claiming and submitting at once (threads, real transactions). On PostgreSQL
this exercises FOR UPDATE SKIP LOCKED; on SQLite the serialised IMMEDIATE transactions."""

import random
import threading
import time
from collections import Counter

import pytest
from django.db import connection

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
    annotation_skip,
    annotation_submit,
    assignment_claim,
    membership_set,
)
from tests.labeling.factories import answer_ids, make_tasks

THREADS = 8
TASKS = 15
OVERLAP = 2


@pytest.mark.postgres
def test_concurrent_claims_and_submits_respect_overlap_and_lose_nothing(
    transactional_db, make_user, project
):
    tasks = make_tasks(project, n=TASKS, required=OVERLAP)
    users = []
    for i in range(THREADS):
        user = make_user(f"worker{i}")
        membership_set(project=project, user=user, role=Role.LABELER)
        users.append(user)
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []
    done: Counter = Counter()

    def work(user, seed):
        rng = random.Random(seed)
        try:
            start.wait()
            while True:
                lease = assignment_claim(project=project, user=user, rng=rng)
                if lease is None:
                    # Nothing free now; a slot may still open when another labeler skips a
                    # task they hold, so stop only once nobody holds a lease.
                    if Assignment.objects.filter(
                        project=project, status=AssignmentStatus.ACTIVE
                    ).exists():
                        time.sleep(0.02)
                        continue
                    break
                task = Task.objects.select_related("project").get(pk=lease.task_id)
                if rng.random() < 0.15:
                    annotation_skip(task=task, user=user, reason="not my field")
                    done["skipped"] += 1
                else:
                    ids = answer_ids(task)
                    rng.shuffle(ids)
                    annotation_submit(task=task, user=user, data={"ranking": ids})
                    # A client retrying a submit must get the same row, not a second one.
                    annotation_submit(task=task, user=user, data={"ranking": ids})
                    done["submitted"] += 1
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(u, i)) for i, u in enumerate(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors

    submitted = Counter(
        Annotation.objects.filter(status=AnnotationStatus.SUBMITTED).values_list(
            "task_id", flat=True
        )
    )
    # Nothing lost: with 8 labelers and overlap 2 every task is finished, exactly.
    assert submitted == {task.pk: OVERLAP for task in tasks}
    assert sum(submitted.values()) == done["submitted"]
    assert Annotation.objects.filter(status=AnnotationStatus.SKIPPED).count() == done["skipped"]
    pairs = list(Annotation.objects.values_list("task_id", "annotator_id"))
    assert len(pairs) == len(set(pairs))
    for task in Task.objects.all():
        assert task.submitted_count == OVERLAP
        assert task.active_leases == 0
        assert task.status == TaskStatus.COMPLETE
    assert not Assignment.objects.filter(status=AssignmentStatus.ACTIVE).exists()
