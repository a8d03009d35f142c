"""Background task of snapshots: take the id, call the service."""

from __future__ import annotations

from django_tasks import task

from labeling.exports.build import snapshot_build
from labeling.models import DatasetSnapshot


@task(queue_name="default")
def snapshot_build_task(snapshot_id: int) -> str:
    snapshot = snapshot_build(snapshot=DatasetSnapshot.objects.get(pk=snapshot_id))
    return snapshot.status
