from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import Assignment, AssignmentStatus, Task
from labeling.services import assignment_claim
from labeling.tasks import leases_expire
from tests.labeling.factories import make_tasks

pytestmark = pytest.mark.django_db


def test_leases_expire_task_returns_overdue_slots(project, labeler):
    (task,) = make_tasks(project)
    lease = assignment_claim(project=project, user=labeler, now=timezone.now() - timedelta(hours=2))
    assert leases_expire.call(project.pk) == 1
    lease.refresh_from_db()
    assert lease.status == AssignmentStatus.EXPIRED
    assert Task.objects.get(pk=task.pk).active_leases == 0
    assert leases_expire.call() == 0


@pytest.mark.parametrize(
    "model", ["project", "prompt", "task", "assignment", "annotation", "review"]
)
def test_admin_lists_open_for_staff(client, make_user, project, labeler, model):
    make_tasks(project)
    assignment_claim(project=project, user=labeler)
    client.force_login(make_user("root", superuser=True))
    response = client.get(f"/admin/labeling/{model}/")
    assert response.status_code == 200


def test_admin_action_expires_overdue_leases(client, make_user, project, labeler):
    make_tasks(project)
    lease = assignment_claim(project=project, user=labeler, now=timezone.now() - timedelta(hours=2))
    client.force_login(make_user("root", superuser=True))
    response = client.post(
        "/admin/labeling/assignment/",
        {"action": "expire_due", "_selected_action": [lease.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert Assignment.objects.get(pk=lease.pk).status == AssignmentStatus.EXPIRED
