"""A task that kills its worker, to show that the task stays visible afterwards."""

import os

from django_tasks import task


@task(queue_name="default")
def die_mid_task() -> None:
    os._exit(3)
