"""The end of a reward/DPO/GRPO/RLOO/PPO run under `accelerate launch --num_processes N`: only
the main process (RANK 0) saves the adapter, registers it and finishes the job; the others
return without writing anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.models import Adapter, JobStatus, TrainingJob
from training.rl_common import adapter_finish, run_cancelled
from training.services import job_claim, job_launch

pytestmark = pytest.mark.django_db


class FakeTrainer:
    def __init__(self):
        self.saved: list[str] = []

    def save_model(self, folder: str) -> None:
        self.saved.append(folder)
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "adapter_model.safetensors").write_bytes(b"weights")


class FakeTokenizer:
    def save_pretrained(self, folder: str) -> None:
        (Path(folder) / "tokenizer.json").write_text("{}")


@pytest.fixture
def running_job(make_job, tmp_path):
    job = make_job()
    job_launch(job=job)
    job = job_claim(job_id=job.pk)
    TrainingJob.objects.filter(pk=job.pk).update(output_dir=str(tmp_path / "job"))
    job.refresh_from_db()
    return job


def finish(job, trainer):
    return adapter_finish(
        job=job, trainer=trainer, tokenizer=FakeTokenizer(), resolved={"kind": job.kind},
        method="lora", base_model=job.base_model,
    )  # fmt: skip


def test_a_process_that_is_not_the_main_one_creates_nothing(running_job, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    trainer = FakeTrainer()
    assert finish(running_job, trainer) == JobStatus.SUCCEEDED
    assert run_cancelled(job=running_job) == JobStatus.CANCELLED
    running_job.refresh_from_db()
    assert running_job.status == JobStatus.RUNNING  # the main process finishes it
    assert not Adapter.objects.exists()
    assert trainer.saved == []
    assert not Path(running_job.output_dir).exists()


def test_the_main_process_saves_registers_and_finishes_once(running_job, monkeypatch):
    monkeypatch.setenv("RANK", "0")
    trainer = FakeTrainer()
    assert finish(running_job, trainer) == JobStatus.SUCCEEDED
    running_job.refresh_from_db()
    assert running_job.status == JobStatus.SUCCEEDED
    adapter = Adapter.objects.get()
    assert adapter.job_id == running_job.pk
    assert trainer.saved == [str(Path(running_job.output_dir) / "adapter")]
    assert (Path(adapter.path) / "flywheel.json").is_file()
    assert running_job.adapter_size_bytes == adapter.size_bytes > 0


def test_a_cancel_is_recorded_by_the_main_process(running_job, monkeypatch):
    monkeypatch.setenv("RANK", "0")
    assert run_cancelled(job=running_job) == JobStatus.CANCELLED
    running_job.refresh_from_db()
    assert running_job.status == JobStatus.CANCELLED


def test_ppo_checkpoints_are_written_by_the_main_process_only(tmp_path):
    from types import SimpleNamespace

    from training.ppo import PPOTrainer

    # save() returns before touching a model or the optimizer on a process that is not main.
    PPOTrainer.save(SimpleNamespace(main_process=False), tmp_path / "checkpoint-1")
    assert not (tmp_path / "checkpoint-1").exists()


def test_ppo_models_go_to_the_gpu_of_the_local_rank(monkeypatch):
    from training.ppo import ppo_device

    monkeypatch.setenv("LOCAL_RANK", "3")
    assert ppo_device({"cuda": True}) == "cuda:3"
    assert ppo_device({"cuda": False}) == "cpu"
    monkeypatch.delenv("LOCAL_RANK")
    assert ppo_device({"cuda": True}) == "cuda:0"
