"""Background task of the data pipeline: take the run's id, call the service."""

from __future__ import annotations

from django_tasks import task

from labeling.models import PipelineRun
from labeling.services.pipeline import pipeline_run_execute


@task(queue_name="default")
def pipeline_run_task(run_id: int) -> str:
    run = pipeline_run_execute(run=PipelineRun.objects.get(pk=run_id))
    return run.status
