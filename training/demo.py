"""Demo data for training: the tiny local model, an SFT snapshot of sample conversations with
several task types, one finished tiny SFT LoRA job with its metrics and adapter, and one
finished prompt-tuning ensemble (three soft prompts on the frozen base) whose page compares
its members. Safe to run again: each piece is made once."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from labeling.models import DatasetSnapshot, Project

from .models import JobStatus, TrainingJob
from .services import job_create, job_launch
from .testing import sample_conversations, snapshot_write

DEMO_SNAPSHOT = "Demo: sample conversations (SFT)"
DEMO_JOB = "Demo: tiny SFT LoRA"
DEMO_ENSEMBLE_JOB = "Demo: prompt-tuning ensemble of 3"


def tiny_model_path() -> Path:
    return Path(settings.FLYWHEEL_ARTIFACT_DIR) / "models" / "tiny-llama"


def load_demo(*, project: Project, users: dict, stdout) -> TrainingJob:
    from .tiny import build_tiny_model

    model = tiny_model_path()
    if not (model / "config.json").is_file():
        build_tiny_model(model, size="tiny")
        stdout.write(f"Built the tiny Llama model at {model}")
    snapshot = DatasetSnapshot.objects.filter(project=project, name=DEMO_SNAPSHOT).first()
    if snapshot is None:
        snapshot = snapshot_write(
            project=project,
            train=sample_conversations(repeat=4),
            validation=sample_conversations(),
            name=DEMO_SNAPSHOT,
        )
    ensemble_demo(project=project, users=users, snapshot=snapshot, model=model, stdout=stdout)
    job = TrainingJob.objects.filter(
        project=project, name=DEMO_JOB, status=JobStatus.SUCCEEDED
    ).first()
    if job is not None:
        return job
    TrainingJob.objects.filter(project=project, name=DEMO_JOB).exclude(
        status=JobStatus.SUCCEEDED
    ).delete()
    job = job_create(
        project=project,
        created_by=users.get("researcher"),
        kind="sft",
        base_model=str(model),
        snapshot=snapshot,
        peft_method="lora",
        hyperparameters={
            "learning_rate": 5e-3,
            "max_steps": 24,
            "per_device_train_batch_size": 6,
            "logging_steps": 1,
            "eval_steps": 4,
            "save_steps": 24,
        },
        name=DEMO_JOB,
    )
    job_launch(job=job)
    # Run it here, in-process, so the demo shows a finished job without a GPU worker; the
    # queued task is then a no-op for the worker (the job is no longer queued).
    from .sft import run_job

    run_job(job_id=job.pk)
    job.refresh_from_db()
    stdout.write(f"Trained {job} ({job.status}) in {job.step} steps")
    return job


def ensemble_demo(*, project: Project, users: dict, snapshot, model: Path, stdout) -> None:
    """Three soft prompts for the same task (member 0 from a text, the others random, seeds
    42-44), trained one after another on the tiny model, in-process like the SFT job."""
    if TrainingJob.objects.filter(
        project=project, name=DEMO_ENSEMBLE_JOB, status=JobStatus.SUCCEEDED
    ).exists():
        return
    TrainingJob.objects.filter(project=project, name=DEMO_ENSEMBLE_JOB).delete()
    job = job_create(
        project=project,
        created_by=users.get("researcher"),
        kind="sft",
        base_model=str(model),
        snapshot=snapshot,
        peft_method="prompt_tuning",
        peft_config={
            "num_virtual_tokens": 8,
            "ensemble_size": 3,
            "ensemble_init_texts": ["Answer the question in one short sentence."],
        },
        hyperparameters={
            "learning_rate": 3e-2,
            "max_steps": 6,
            "per_device_train_batch_size": 6,
            "logging_steps": 1,
            "eval_steps": 3,
            "save_steps": 6,
        },
        name=DEMO_ENSEMBLE_JOB,
    )
    job_launch(job=job)
    from .sft import run_job

    run_job(job_id=job.pk)
    job.refresh_from_db()
    stdout.write(f"Trained {job} ({job.status}) in {job.step} steps")
