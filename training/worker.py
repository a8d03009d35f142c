"""The GPU worker's side of a job: claim it, run the training in a child process, and record
how the child ended. A crash or an out-of-memory kill takes down the child, never the worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from django.conf import settings

from .models import JobStatus, TrainingJob
from .services import job_claim, job_finish, job_reap_lost
from .services.jobs import JobNotClaimable, JobTransitionError

ERROR_CHILD_EXIT = "The training process exited with code {code} without finishing the job."
ERROR_CHILD_SIGNAL = (
    "The training process was killed by signal {name} ({hint}). Last lines of its log:\n{tail}"
)


def gpu_count() -> int:
    """GPUs this host gives a job, without importing torch in the worker process."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() not in ("", "-1")])
    gpus = Path("/proc/driver/nvidia/gpus")
    return len(list(gpus.iterdir())) if gpus.is_dir() else 0


def child_command(*, job_id: int, gpus: int) -> list[str]:
    """`python -m training.run JOB_ID`, under `accelerate launch` when the host has several GPUs."""
    if gpus > 1:
        return [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--num_processes",
            str(gpus),
            "-m",
            "training.run",
            str(job_id),
        ]
    return [sys.executable, "-m", "training.run", str(job_id)]


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def job_execute(*, job_id: int) -> dict:
    job_reap_lost()
    try:
        job = job_claim(job_id=job_id, pid=os.getpid())
    except JobNotClaimable as exc:
        return {"job": job_id, "skipped": str(exc)}
    out = Path(job.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / f"run-{job.attempts}.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            child_command(job_id=job_id, gpus=gpu_count()),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=settings.BASE_DIR,
            env=dict(os.environ),
        )
        code = proc.wait()
    job = TrainingJob.objects.get(pk=job_id)
    if job.status == JobStatus.RUNNING:
        if code < 0:
            name = signal.Signals(-code).name
            hint = "out of memory?" if name == "SIGKILL" else "stopped from outside"
            error = ERROR_CHILD_SIGNAL.format(name=name, hint=hint, tail=_tail(log_path))
        else:
            error = ERROR_CHILD_EXIT.format(code=code) + "\n" + _tail(log_path)
        try:
            job = job_finish(job_id=job_id, status=JobStatus.FAILED, error=error)
        except JobTransitionError:
            job.refresh_from_db()
    return {"job": job_id, "status": job.status, "exit_code": code, "log": str(log_path)}
