"""Background tasks for training: they take ids and call a service."""

from __future__ import annotations

from django_tasks import task


@task(queue_name="gpu")
def training_job_run(job_id: int) -> dict:
    from .worker import job_execute

    return job_execute(job_id=job_id)


@task(queue_name="gpu")
def adapter_merge_run(adapter_id: int) -> dict:
    from .models import Adapter
    from .services import adapter_merge

    adapter = adapter_merge(adapter=Adapter.objects.get(pk=adapter_id))
    return {"adapter": adapter.pk, "merged_path": adapter.merged_path}
