"""Background tasks for evaluation: ids in, a service call, nothing else."""

from __future__ import annotations

from django_tasks import task


@task(queue_name="default")
def eval_run_task(run_id: int) -> dict:
    from evaluation.services.runner import eval_run_execute

    run = eval_run_execute(run_id=run_id)
    return {"run_id": run.pk, "status": run.status, "calls_made": run.calls_made}
