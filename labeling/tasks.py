"""Background tasks of labeling: take ids, call a service."""

from __future__ import annotations

from django_tasks import task

from labeling.models import Project
from labeling.services import lease_expire_due


@task(queue_name="default")
def leases_expire(project_id: int | None = None) -> int:
    """Return overdue leases to the pool (claims do this too; this keeps counters honest for
    projects nobody is claiming in). Run it every minute or so."""
    project = Project.objects.get(pk=project_id) if project_id is not None else None
    return lease_expire_due(project=project)
