import io

import pytest

from labeling.demo import load_demo
from labeling.models import Annotation, Prompt, Task, TaskKind
from labeling.services import annotation_submit, assignment_claim

pytestmark = pytest.mark.django_db


def test_demo_gives_a_labeler_work_of_every_kind_and_is_idempotent(
    project, owner, labeler, reviewer
):
    users = {"researcher": owner, "labeler": labeler, "reviewer": reviewer}
    out = io.StringIO()
    load_demo(project=project, users=users, stdout=out)
    assert "tasks of every kind" in out.getvalue()
    assert set(Task.objects.filter(project=project).values_list("kind", flat=True)) == set(
        TaskKind.values
    )
    assert sum(len(p.messages) > 1 for p in Prompt.objects.filter(project=project)) == 2
    assert Annotation.objects.filter(annotator=reviewer).count() == 2
    counts = (Prompt.objects.count(), Task.objects.count(), Annotation.objects.count())
    load_demo(project=project, users=users, stdout=io.StringIO())
    assert (Prompt.objects.count(), Task.objects.count(), Annotation.objects.count()) == counts
    # The labeler's first claim finishes a task the reviewer started (breadth-first).
    lease = assignment_claim(project=project, user=labeler)
    assert Task.objects.get(pk=lease.task_id).submitted_count == 1
    task = Task.objects.get(pk=lease.task_id)
    annotation_submit(task=task, user=labeler, data={"ranking": lease.display_order})
    task.refresh_from_db()
    assert task.status == "complete"
