"""`generate` jobs: K completions per prompt from adapters on one loaded base, run by the job
machinery (child process, progress, cancel between prompts, retry without duplicates), with
their config validated on its fields like every other kind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from labeling.models import Completion, Task
from labeling.services import prompt_bulk_create
from training.config import ConfigError
from training.generate_config import (
    ERROR_ADAPTER_FULL,
    ERROR_ADAPTER_NOT_FOUND,
    ERROR_BASE_MISMATCH,
    ERROR_K,
    ERROR_MIXED_BASES,
    ERROR_NO_SOURCES,
    ERROR_RANKING_SIZE,
)
from training.models import Adapter, JobStatus, TrainingJob
from training.services import adapter_create, job_cancel, job_clone, job_create, job_launch
from training.testing import SAMPLE_ROWS, sample_conversations, snapshot_write

from .rl_helpers import preference_snapshot

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def lora_folders(tiny_model, tmp_path_factory) -> list[str]:
    """Two LoRA adapters of the tiny model with random (non-zero) weights: each answers
    differently from the base and from the other, which is all generation needs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    root = tmp_path_factory.mktemp("generate-adapters")
    paths = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        model = get_peft_model(
            AutoModelForCausalLM.from_pretrained(tiny_model),
            LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False),
        )
        model.save_pretrained(root / f"lora-{seed}")
        paths.append(str(root / f"lora-{seed}"))
    return paths


def adapter_rows(project, owner, sft_snapshot, *, base_model, paths, method="lora"):
    """Adapter rows as SFT jobs leave them (the jobs themselves need not run)."""
    adapters = []
    for path in paths:
        job = job_create(
            project=project, created_by=owner, kind="sft", base_model=base_model,
            snapshot=sft_snapshot, peft_method=method, name=f"policy {Path(path).name}",
        )  # fmt: skip
        adapters.append(adapter_create(job=job, path=path))
    return adapters


@pytest.fixture
def adapters(project, owner, sft_snapshot, tiny_model, lora_folders):
    return adapter_rows(project, owner, sft_snapshot, base_model=tiny_model, paths=lora_folders)


def prompts_snapshot(project, n=3):
    prompts = prompt_bulk_create(
        project=project,
        prompts=[
            {"messages": [{"role": "user", "content": r["q"]}], "task_type": "qa"}
            for r in SAMPLE_ROWS[:n]
        ],
    )
    rows = [
        {"prompt": p.messages, "task_type": p.task_type, "id": str(p.pk), "prompt_id": p.pk}
        for p in prompts
    ]
    return snapshot_write(project=project, train=rows, name="Prompts to answer", kind="prompts")


def generate_job(project, owner, base_model, snapshot, **settings):
    return job_create(
        project=project,
        created_by=owner,
        kind="generate",
        base_model=base_model,
        snapshot=snapshot,
        peft_method="lora",
        hyperparameters={"k": 2, "max_new_tokens": 4, "temperature": 1.0, **settings},
        name="Candidates for labelers",
    )


def run_in_process(job):
    from training.generate_job import train_generate
    from training.sft import run_job

    code = run_job(job_id=job.pk, train=train_generate)
    job.refresh_from_db()
    assert code == 0, job.error
    return job


# -------------------------------------------------------------------------- the job, run


@pytest.mark.training
@pytest.mark.slow
def test_generate_job_runs_in_the_child_and_sends_the_answers_to_labelers(
    subprocess_env, project, owner, tiny_model, adapters
):
    snapshot = prompts_snapshot(project)
    job = generate_job(
        project, owner, tiny_model, snapshot,
        adapters=[a.pk for a in adapters], include_base=True, create_ranking_tasks=True,
    )  # fmt: skip
    assert job.config["generate"]["adapters"] == [a.pk for a in adapters]
    job_launch(job=job)
    proc = subprocess.run(
        [sys.executable, "-m", "training.run", str(job.pk)],
        cwd=ROOT,
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    job.refresh_from_db()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert (job.step, job.total_steps) == (3, 3)
    assert job.heartbeat_at is not None and job.finished_at is not None

    mine = Completion.objects.filter(meta__generate_job_id=job.pk)
    assert mine.count() == 3 * 3 * 2  # prompts x (two adapters + base) x K
    for adapter in adapters:
        named = mine.filter(model_name=adapter.name)
        assert named.count() == 6
        assert {c.meta["adapter_id"] for c in named} == {adapter.pk}
    assert mine.filter(model_name=f"{tiny_model} (base)", meta__adapter_id=None).count() == 6
    assert all(c.params["k"] == 2 and c.params["max_new_tokens"] == 4 for c in mine)

    tasks = Task.objects.filter(project=project, kind="ranking")
    assert tasks.count() == 3
    for task in tasks:
        assert task.source["generate_job_id"] == job.pk
        assert set(task.completions.values_list("prompt_id", flat=True)) == {task.prompt_id}
        assert task.completions.count() == 6

    report = job.data_report["generate"]
    assert report["completions"] == 18 and report["tasks"] == 3 and report["prompts"] == 3
    assert [s["completions"] for s in report["per_source"]] == [6, 6, 6]
    assert [s["adapter_id"] for s in report["per_source"]] == [*(a.pk for a in adapters), None]


@pytest.mark.training
@pytest.mark.django_db(transaction=True)
def test_cancel_stops_between_prompts_and_retry_continues_without_duplicates(
    project, owner, tiny_model, adapters, monkeypatch
):
    import training.services as services
    import training.sft  # noqa: F401  (imported now, so its own job_progress is the real one)
    from training.services import job_retry

    snapshot = prompts_snapshot(project, n=4)
    job = generate_job(
        project, owner, tiny_model, snapshot,
        adapters=[adapters[0].pk], include_base=True, create_ranking_tasks=True,
    )  # fmt: skip
    real_progress = services.job_progress

    def cancel_after_the_first_prompt(**kwargs):
        if kwargs["step"] == 1:  # what a researcher pressing "cancel" does mid-run
            job_cancel(job=TrainingJob.objects.get(pk=job.pk))
        return real_progress(**kwargs)

    monkeypatch.setattr(services, "job_progress", cancel_after_the_first_prompt)
    job_launch(job=job)
    job = run_in_process(job)
    assert job.status == JobStatus.CANCELLED
    assert (job.step, job.total_steps) == (1, 4)
    assert Completion.objects.filter(meta__generate_job_id=job.pk).count() == 1 * 2 * 2
    assert Task.objects.filter(source__generate_job_id=job.pk).count() == 1
    assert job.data_report["generate"]["completions"] == 4

    monkeypatch.setattr(services, "job_progress", real_progress)
    job_retry(job=job)
    job = run_in_process(job)
    assert job.status == JobStatus.SUCCEEDED
    assert (job.step, job.total_steps, job.resumed_from_step) == (4, 4, 1)
    mine = Completion.objects.filter(meta__generate_job_id=job.pk)
    per_prompt = {}
    for prompt_id in mine.values_list("prompt_id", flat=True):
        per_prompt[prompt_id] = per_prompt.get(prompt_id, 0) + 1
    assert sorted(per_prompt.values()) == [4, 4, 4, 4]  # every prompt once: 2 sources x K=2
    assert Task.objects.filter(source__generate_job_id=job.pk).count() == 4
    report = job.data_report["generate"]
    assert (report["completions"], report["tasks"]) == (16, 4)
    assert report["this_attempt"] == {"completions": 12, "tasks": 3, "skipped_prompts": 1}


# -------------------------------------------------------------------------- validation


@pytest.fixture
def fake_adapters(project, owner, sft_snapshot, tmp_path):
    return adapter_rows(
        project, owner, sft_snapshot, base_model="/models/a",
        paths=[str(tmp_path / "x"), str(tmp_path / "y")],
    )  # fmt: skip


def refused(project, owner, snapshot, base_model="/models/a", **settings) -> ConfigError:
    with pytest.raises(ConfigError) as exc:
        generate_job(project, owner, base_model, snapshot, **settings)
    assert not TrainingJob.objects.filter(kind="generate").exists()
    return exc.value


@pytest.mark.django_db
def test_generate_needs_a_prompts_snapshot(project, owner, fake_adapters):
    error = refused(project, owner, preference_snapshot(project), adapters=[fake_adapters[0].pk])
    assert error.field == "snapshot"
    assert str(error) == "A Generate job needs a prompts snapshot; this one is preference."


@pytest.mark.django_db
@pytest.mark.parametrize("k", [0, 17, 2.5, "many"])
def test_k_out_of_range_is_refused_on_its_field(project, owner, fake_adapters, k):
    snapshot = prompts_snapshot(project, n=1)
    error = refused(project, owner, snapshot, adapters=[fake_adapters[0].pk], k=k)
    assert (error.field, str(error)) == ("k", ERROR_K)


@pytest.mark.django_db
def test_adapters_on_different_bases_are_refused(project, owner, sft_snapshot, fake_adapters):
    (other,) = adapter_rows(
        project, owner, sft_snapshot, base_model="/models/b", paths=["/adapters/b"]
    )
    snapshot = prompts_snapshot(project, n=1)
    error = refused(project, owner, snapshot, adapters=f"{fake_adapters[0].pk}, {other.pk}")
    assert error.field == "adapters"
    assert str(error) == ERROR_MIXED_BASES.format(bases="/models/a, /models/b")


@pytest.mark.django_db
def test_sources_are_checked(project, owner, sft_snapshot, fake_adapters):
    from labeling.services import project_create

    snapshot = prompts_snapshot(project, n=1)
    error = refused(project, owner, snapshot)
    assert (error.field, str(error)) == ("adapters", ERROR_NO_SOURCES)

    error = refused(
        project, owner, snapshot, base_model="/models/z", adapters=[fake_adapters[0].pk]
    )
    assert error.field == "base_model"
    assert str(error) == ERROR_BASE_MISMATCH.format(adapters_base="/models/a")

    elsewhere = project_create(name="Elsewhere", created_by=None)
    other_snapshot = snapshot_write(project=elsewhere, train=sample_conversations())
    (foreign,) = adapter_rows(
        elsewhere, None, other_snapshot, base_model="/models/a", paths=["/adapters/f"]
    )
    error = refused(project, owner, snapshot, adapters=[foreign.pk])
    assert str(error) == ERROR_ADAPTER_NOT_FOUND.format(pk=foreign.pk)

    (full,) = adapter_rows(
        project, owner, sft_snapshot, base_model="/models/a", paths=["/f"], method="full"
    )
    error = refused(project, owner, snapshot, adapters=[full.pk])
    assert str(error) == ERROR_ADAPTER_FULL.format(pk=full.pk)

    error = refused(
        project, owner, snapshot, adapters=[fake_adapters[0].pk], k=1, create_ranking_tasks=True
    )
    assert (error.field, str(error)) == ("k", ERROR_RANKING_SIZE.format(k=1, sources=1, n=1))


@pytest.mark.django_db
def test_valid_settings_are_resolved_and_a_clone_keeps_them(project, owner, fake_adapters):
    snapshot = prompts_snapshot(project, n=1)
    job = generate_job(
        project, owner, "/models/a", snapshot,
        adapters=f"{fake_adapters[1].pk},{fake_adapters[0].pk}", include_base="on", limit=5,
    )  # fmt: skip
    assert job.config["generate"] == {
        "adapters": [fake_adapters[1].pk, fake_adapters[0].pk],
        "include_base": True,
        "k": 2,
        "max_new_tokens": 4,
        "temperature": 1.0,
        "top_p": 1.0,
        "seed": 0,
        "create_ranking_tasks": False,
        "limit": 5,
    }
    clone = job_clone(job=job, created_by=owner)
    assert clone.kind == "generate"
    assert clone.config["generate"] == job.config["generate"]


@pytest.mark.django_db
def test_admin_form_puts_generate_errors_on_their_field_and_creates_the_job(
    client, owner, project, fake_adapters
):
    owner.is_superuser = True
    owner.save()
    client.force_login(owner)
    snapshot = prompts_snapshot(project, n=1)
    data = {
        "project": project.pk, "name": "candidates", "kind": "generate",
        "base_model": "/models/a", "snapshot": snapshot.pk, "peft_method": "lora",
        "learning_rate": "2e-4", "num_train_epochs": 1, "max_steps": -1,
        "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1, "max_length": 512,
        "warmup_ratio": 0, "weight_decay": 0, "lr_scheduler_type": "linear",
        "logging_steps": 1, "eval_steps": 0, "save_steps": 50, "seed": 7,
        "adapters": f"{fake_adapters[0].pk}", "k": 17, "create_ranking_tasks": "on",
    }  # fmt: skip
    response = client.post("/admin/training/trainingjob/add/", data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["k"] == [ERROR_K]
    assert not TrainingJob.objects.filter(kind="generate").exists()

    response = client.post("/admin/training/trainingjob/add/", {**data, "k": 3})
    assert response.status_code == 302
    job = TrainingJob.objects.get(kind="generate")
    assert job.config["generate"]["k"] == 3
    assert job.config["generate"]["seed"] == 7
    assert job.config["generate"]["create_ranking_tasks"] is True
    assert job.config["generate"]["include_base"] is False


# -------------------------------------------------------------------------- the page


def finished_generate_job(project, owner, fake_adapters):
    snapshot = prompts_snapshot(project, n=1)
    job = generate_job(
        project, owner, "/models/a", snapshot,
        adapters=[a.pk for a in fake_adapters], create_ranking_tasks=True,
    )  # fmt: skip
    per_source = [
        {"source": f"adapter-{a.pk}", "adapter_id": a.pk, "name": a.name, "job_id": a.job_id,
         "completions": 24}
        for a in fake_adapters
    ]  # fmt: skip
    TrainingJob.objects.filter(pk=job.pk).update(
        status=JobStatus.SUCCEEDED, step=12, total_steps=12,
        data_report={"generate": {"completions": 48, "tasks": 12, "prompts": 12,
                                  "per_source": per_source,
                                  "this_attempt": {"completions": 48, "tasks": 12,
                                                   "skipped_prompts": 0}}},
    )  # fmt: skip
    job.refresh_from_db()
    return job


@pytest.mark.django_db
def test_job_page_shows_what_was_generated_per_adapter(client, owner, project, fake_adapters):
    job = finished_generate_job(project, owner, fake_adapters)
    client.force_login(owner)
    html = client.get(f"/training/jobs/{job.pk}/").content.decode()
    assert 'id="generated-h"' in html
    for adapter in fake_adapters:
        assert adapter.name in html
        assert f"/training/jobs/{adapter.job_id}/" in html
    assert "48" in html and "12 ranking tasks" in html
    assert 'href="/queue/"' in html
    assert "Loss per task type" not in html  # nothing was trained


@pytest.mark.django_db(transaction=True)
def test_generate_job_page_in_the_browser(
    page, owner, project, fake_adapters, screenshot_dir, settings
):
    from tests.conftest import login

    job = finished_generate_job(project, owner, fake_adapters)
    login(page, owner.username)
    page.goto(f"/training/jobs/{job.pk}/")
    generated = page.locator("#generated")
    assert generated.is_visible()
    assert generated.locator("tbody tr").count() == 2
    page.screenshot(path=str(screenshot_dir / "training-generate-job.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(screenshot_dir / "training-generate-job-narrow.png"), full_page=True)


@pytest.mark.training
def test_an_adapter_deleted_after_the_job_was_made_fails_it_with_a_reason(
    project, owner, fake_adapters
):
    from training.generate_job import train_generate

    job = generate_job(project, owner, "/models/a", prompts_snapshot(project), adapters=[
        fake_adapters[0].pk, fake_adapters[1].pk,
    ])  # fmt: skip
    gone = fake_adapters[1].pk
    Adapter.objects.filter(pk=gone).delete()
    with pytest.raises(ConfigError, match=f"Adapter {gone} does not exist in this project."):
        train_generate(job)  # before any model is loaded
