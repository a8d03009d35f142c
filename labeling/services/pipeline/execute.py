"""Running a queued stage to its end, from the worker or a management command."""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from flywheel.errors import DomainError
from labeling.models import (
    PipelineRun,
    PipelineStage,
    PipelineStatus,
)

from .runs import (
    ERROR_NOT_QUEUED,
    PipelineRunError,
    Progress,
    _fail,
)
from .stage_import import _filter, _import
from .stage_llm import _synthesize, _tag
from .stage_tasks import _tasks


def pipeline_run_execute(*, run: PipelineRun, on_progress: Progress | None = None) -> PipelineRun:
    """Run a queued stage to its end: succeeded, or failed with the error. A domain error (a bad
    file, all-or-nothing rejects) fails the run; anything else fails it and is raised."""
    with transaction.atomic():
        run = PipelineRun.objects.select_for_update().get(pk=run.pk)
        if run.status != PipelineStatus.QUEUED:
            raise PipelineRunError(ERROR_NOT_QUEUED.format(id=run.pk, status=run.status))
        run.status = PipelineStatus.RUNNING
        run.started_at = timezone.now()
        run.save(update_fields=["status", "started_at"])
    run.on_progress = on_progress  # the command prints it; the row is what pages poll
    from labeling.services.structured import structured_execute  # it builds on this module

    stages: dict[str, Callable[[PipelineRun], None]] = {
        PipelineStage.IMPORT: _import,
        PipelineStage.FILTER: _filter,
        PipelineStage.TAG: _tag,
        PipelineStage.SYNTHESIZE: _synthesize,
        PipelineStage.STRUCTURED: structured_execute,
        PipelineStage.TASKS: _tasks,
    }
    try:
        stages[run.stage](run)
    except DomainError as error:
        _fail(run, str(error))
    except Exception as error:
        _fail(run, f"{type(error).__name__}: {error}")
        raise
    else:
        run.status = PipelineStatus.SUCCEEDED
        run.finished_at = timezone.now()
        run.done = max(run.done, run.total)
        run.save()
    run.refresh_from_db()
    return run
