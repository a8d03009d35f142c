"""Training job lifecycle. Every status change goes through `_transition`, a conditional
UPDATE, so two workers (or a worker and a cancel) can never both win the same move."""

from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from flywheel.errors import DomainError
from labeling.models import DatasetSnapshot, Project

from ..config import config_resolve
from ..models import ENDED_STATUSES, JobStatus, TrainingJob

ERROR_ILLEGAL_TRANSITION = "A {status} job cannot be {action}."
ERROR_SNAPSHOT_PROJECT = "The snapshot belongs to another project."
ERROR_NOT_CLAIMABLE = "Job #{pk} is {status}, not queued: another worker has it or it ended."
ERROR_WORKER_LOST = "worker lost: no heartbeat for {seconds} s (the worker or its host stopped)."
ERROR_FINISH_STATUS = "A run can only end as succeeded, failed or cancelled."


class JobTransitionError(DomainError):
    pass


class JobNotClaimable(DomainError):
    pass


# What each status may become, and the word the error uses for the move.
_ALLOWED: dict[str, set[str]] = {
    JobStatus.DRAFT: {JobStatus.QUEUED, JobStatus.CANCELLED},
    JobStatus.QUEUED: {JobStatus.RUNNING, JobStatus.CANCELLED},
    JobStatus.RUNNING: {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED},
    JobStatus.FAILED: {JobStatus.QUEUED},
    JobStatus.CANCELLED: {JobStatus.QUEUED},
    JobStatus.SUCCEEDED: set(),
}
_ACTION = {
    JobStatus.QUEUED: "queued",
    JobStatus.RUNNING: "started",
    JobStatus.SUCCEEDED: "marked succeeded",
    JobStatus.FAILED: "marked failed",
    JobStatus.CANCELLED: "cancelled",
}


def _transition(
    *, job_id: int, to: str, froms: tuple[str, ...] | None = None, action: str = "", **fields: Any
) -> TrainingJob:
    """Move the job to `to` from one of `froms` (default: every status allowed to move there)
    in one conditional UPDATE; the status read back names the refusal."""
    allowed = [status for status, targets in _ALLOWED.items() if to in targets]
    froms = tuple(s for s in (froms or allowed) if s in allowed)
    updated = TrainingJob.objects.filter(pk=job_id, status__in=froms).update(status=to, **fields)
    job = TrainingJob.objects.get(pk=job_id)
    if not updated:
        raise JobTransitionError(
            ERROR_ILLEGAL_TRANSITION.format(
                status=job.status, action=action or _ACTION[JobStatus(to)]
            )
        )
    return job


def job_output_dir(*, job_id: int) -> Path:
    return Path(settings.FLYWHEEL_ARTIFACT_DIR) / "jobs" / str(job_id)


@transaction.atomic
def job_create(
    *,
    project: Project,
    created_by: AbstractBaseUser | None,
    kind: str,
    base_model: str,
    snapshot: DatasetSnapshot,
    peft_method: str,
    peft_config: dict[str, Any] | None = None,
    hyperparameters: dict[str, Any] | None = None,
    name: str = "",
    parent: TrainingJob | None = None,
) -> TrainingJob:
    """A draft job whose config is validated and resolved now, before anything is queued."""
    if snapshot.project_id != project.pk:
        raise JobTransitionError(ERROR_SNAPSHOT_PROJECT)
    config = config_resolve(
        kind=kind,
        base_model=base_model,
        snapshot=snapshot,
        peft_method=peft_method,
        peft_values=peft_config or {},
        hyperparameters=hyperparameters or {},
    )
    job = TrainingJob.objects.create(
        project=project,
        name=name,
        kind=kind,
        base_model=base_model,
        snapshot=snapshot,
        peft_method=peft_method,
        peft_config={k: v for k, v in config["peft"].items() if k != "method"},
        hyperparameters=config["training"],
        config=config,
        created_by=created_by,
        parent=parent,
        status=JobStatus.DRAFT,
    )
    job.output_dir = str(job_output_dir(job_id=job.pk))
    job.save(update_fields=["output_dir"])
    return job


def _enqueue(job_id: int) -> None:
    from ..tasks import training_job_run

    transaction.on_commit(lambda: training_job_run.enqueue(job_id=job_id))


@transaction.atomic
def job_launch(*, job: TrainingJob) -> TrainingJob:
    """Draft → queued, and hand the job to a GPU worker once the transaction commits."""
    job = _transition(
        job_id=job.pk,
        to=JobStatus.QUEUED,
        froms=(JobStatus.DRAFT,),
        action="launched",
        queued_at=timezone.now(),
    )
    _enqueue(job.pk)
    return job


@transaction.atomic
def job_retry(*, job: TrainingJob) -> TrainingJob:
    """Failed or cancelled → queued again; the run resumes from its last checkpoint."""
    job = _transition(
        job_id=job.pk,
        to=JobStatus.QUEUED,
        froms=(JobStatus.FAILED, JobStatus.CANCELLED),
        action="retried",
        queued_at=timezone.now(),
        cancel_requested=False,
        error="",
        finished_at=None,
        worker_host="",
        worker_pid=None,
    )
    _enqueue(job.pk)
    return job


def job_clone(*, job: TrainingJob, created_by: AbstractBaseUser | None) -> TrainingJob:
    """A new draft with the same model, snapshot, method and settings."""
    # The kind's own settings (adapters, beta, sampling...) were resolved out of the
    # hyperparameters into their config block; they go back in to be resolved again.
    config = job.config if isinstance(job.config, dict) else {}
    return job_create(
        project=job.project,
        created_by=created_by,
        kind=job.kind,
        base_model=job.base_model,
        snapshot=job.snapshot,
        peft_method=job.peft_method,
        peft_config=job.peft_config,
        hyperparameters={
            **job.hyperparameters,
            **config.get("rl", {}),
            **config.get("generate", {}),
        },
        name=f"{job.name or f'Job {job.pk}'} (clone)",
        parent=job,
    )


def job_cancel(*, job: TrainingJob) -> TrainingJob:
    """Draft or queued: cancelled at once. Running: the run stops at its next step, saves a
    checkpoint and marks itself cancelled (cooperative, so nothing is left half-written)."""
    if job.status in (JobStatus.DRAFT, JobStatus.QUEUED):
        try:
            return _transition(job_id=job.pk, to=JobStatus.CANCELLED, finished_at=timezone.now())
        except JobTransitionError:
            job.refresh_from_db()  # it started meanwhile: ask the run to stop
    if job.status == JobStatus.RUNNING:
        TrainingJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
            cancel_requested=True
        )
        job.refresh_from_db()
        return job
    raise JobTransitionError(ERROR_ILLEGAL_TRANSITION.format(status=job.status, action="cancelled"))


def job_claim(*, job_id: int, host: str | None = None, pid: int | None = None) -> TrainingJob:
    """Queued → running for exactly one worker; any other claimant gets JobNotClaimable."""
    now = timezone.now()
    updated = TrainingJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING,
        worker_host=host or socket.gethostname(),
        worker_pid=pid,
        heartbeat_at=now,
        started_at=now,
        attempts=F("attempts") + 1,
    )
    job = TrainingJob.objects.get(pk=job_id)
    if not updated:
        raise JobNotClaimable(ERROR_NOT_CLAIMABLE.format(pk=job_id, status=job.status))
    return job


def job_heartbeat(*, job_id: int, pid: int | None = None) -> bool:
    """The run is alive; returns whether a cancel was requested."""
    fields: dict[str, Any] = {"heartbeat_at": timezone.now()}
    if pid is not None:
        fields["worker_pid"] = pid
    TrainingJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(**fields)
    return bool(
        TrainingJob.objects.filter(pk=job_id).values_list("cancel_requested", flat=True).first()
    )


def job_progress(
    *, job_id: int, step: int, total_steps: int, seconds_per_step: float | None
) -> bool:
    """Step / total and ETA; doubles as a heartbeat. Returns whether a cancel was requested."""
    now = timezone.now()
    total = max(total_steps, step)
    eta = None
    if seconds_per_step is not None:
        eta = now + timedelta(seconds=seconds_per_step * (total - step))
    TrainingJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
        step=step, total_steps=total, eta_at=eta, heartbeat_at=now
    )
    return bool(
        TrainingJob.objects.filter(pk=job_id).values_list("cancel_requested", flat=True).first()
    )


_RECORDABLE = {
    "config",
    "data_report",
    "trainable_params",
    "total_params",
    "adapter_size_bytes",
    "full_model_size_bytes",
    "peak_memory_bytes",
    "hardware",
    "resumed_from_step",
    "total_steps",
}


def job_record(*, job_id: int, **fields: Any) -> None:
    """Facts the run learns about itself (data report, parameter counts, sizes, memory)."""
    unknown = set(fields) - _RECORDABLE
    if unknown:
        raise ValueError(f"Not recordable on a job: {sorted(unknown)}")
    TrainingJob.objects.filter(pk=job_id).update(**fields)


def job_finish(*, job_id: int, status: str, error: str = "") -> TrainingJob:
    """Running → succeeded, failed or cancelled."""
    if status not in ENDED_STATUSES:
        raise JobTransitionError(ERROR_FINISH_STATUS)
    fields: dict[str, Any] = {"finished_at": timezone.now(), "eta_at": None}
    if error:
        fields["error"] = error[-4000:]
    return _transition(job_id=job_id, to=status, **fields)


def job_reap_lost(*, job_id: int | None = None, timeout_seconds: int | None = None) -> list[int]:
    """Running jobs whose heartbeat is older than the timeout are failed as "worker lost";
    `job_id` limits it to one job."""
    seconds = timeout_seconds or settings.FLYWHEEL_WORKER_HEARTBEAT_TIMEOUT
    cutoff = timezone.now() - timedelta(seconds=seconds)
    stale = TrainingJob.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=cutoff)
    if job_id is not None:
        stale = stale.filter(pk=job_id)
    lost = list(stale.values_list("pk", flat=True))
    reaped = []
    for pk in lost:
        updated = TrainingJob.objects.filter(
            pk=pk, status=JobStatus.RUNNING, heartbeat_at__lt=cutoff
        ).update(
            status=JobStatus.FAILED,
            error=ERROR_WORKER_LOST.format(seconds=seconds),
            finished_at=timezone.now(),
            eta_at=None,
        )
        if updated:
            reaped.append(pk)
    return reaped


def job_check_alive(*, job: TrainingJob) -> TrainingJob:
    """The job as it stands, after failing it as "worker lost" if it is running without a
    heartbeat: what the job page and the API show, so that a job whose host died offers
    Retry (which resumes from its last checkpoint) instead of "Running" for ever."""
    if job.status == JobStatus.RUNNING and job_reap_lost(job_id=job.pk):
        job.refresh_from_db()
    return job
