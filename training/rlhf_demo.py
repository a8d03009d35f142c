"""Demo data for the RLHF loop on the tiny model: a keyword preference snapshot, a finished
reward model, DPO and PPO jobs, and a generate job that sends candidates from the SFT and PPO
policies to labelers as ranking tasks. Builds on training.demo (the tiny model and its SFT
job). Safe to run again: each piece is made once (by name)."""

from __future__ import annotations

from labeling.models import Completion, DatasetSnapshot, Project, Prompt

from .models import Adapter, JobStatus, TrainingJob
from .services import job_create, job_launch
from .testing import SAMPLE_ROWS, snapshot_write

PREFERENCES = "Demo: keyword preferences"
PROMPTS = "Demo: prompts for PPO"
KEYWORD = "Thank you!"


def _preferences() -> list[dict]:
    return [
        {
            "prompt": [{"role": "user", "content": r["q"]}],
            "chosen": [{"role": "assistant", "content": f"{r['a']} {KEYWORD}"}],
            "rejected": [{"role": "assistant", "content": r["a"]}],
            "task_type": r["task_type"],
            "margin": 1.0,
        }
        for r in SAMPLE_ROWS
    ]


def _snapshot(project, name, kind, train, validation=None) -> DatasetSnapshot:
    found = DatasetSnapshot.objects.filter(project=project, name=name).first()
    return found or snapshot_write(
        project=project, train=train, validation=validation, name=name, kind=kind
    )


def _job(*, project, user, name, kind, base_model, snapshot, hp, stdout) -> TrainingJob:
    from .run import trainer_for
    from .sft import run_job

    done = TrainingJob.objects.filter(
        project=project, name=name, status=JobStatus.SUCCEEDED
    ).first()
    if done:
        return done
    job = job_create(
        project=project, created_by=user, kind=kind, base_model=base_model, snapshot=snapshot,
        peft_method="lora", peft_config={"r": 8, "lora_alpha": 16, "lora_dropout": 0.0},
        hyperparameters={"logging_steps": 1, "per_device_train_batch_size": 9, **hp}, name=name,
    )  # fmt: skip
    job_launch(job=job)
    run_job(job_id=job.pk, train=trainer_for(kind))  # in-process: no GPU worker needed
    job.refresh_from_db()
    done = "Generated with" if kind == "generate" else "Trained"
    stdout.write(f"{done} {job} ({job.status}) in {job.step} steps")
    return job


def load_demo(*, project: Project, users: dict, stdout) -> None:
    from labeling.services import prompt_bulk_create

    from . import demo as training_demo

    sft = training_demo.load_demo(project=project, users=users, stdout=stdout)
    user = users.get("researcher")
    base = sft.base_model
    prefs = _snapshot(project, PREFERENCES, "preference", _preferences() * 2, _preferences())
    reward = _job(
        project=project, user=user, name="Demo: reward model", kind="reward", base_model=base,
        snapshot=prefs, hp={"max_steps": 12, "learning_rate": 5e-3}, stdout=stdout,
    )  # fmt: skip
    _job(
        project=project, user=user, name="Demo: DPO", kind="dpo", base_model=base,
        snapshot=prefs, hp={"max_steps": 8, "learning_rate": 5e-3}, stdout=stdout,
    )  # fmt: skip
    prompts = prompt_bulk_create(
        project=project,
        prompts=[
            {"messages": [{"role": "user", "content": r["q"]}], "task_type": r["task_type"]}
            for r in SAMPLE_ROWS[:3]
        ],
    )
    rows = [
        {"prompt": p.messages, "task_type": p.task_type, "id": str(p.pk), "prompt_id": p.pk}
        for p in prompts
    ]
    prompt_snapshot = _snapshot(project, PROMPTS, "prompts", rows)
    ppo = _job(
        project=project, user=user, name="Demo: PPO", kind="ppo", base_model=base,
        snapshot=prompt_snapshot,
        hp={
            "max_steps": 6, "learning_rate": 3e-3, "policy_adapter": sft.adapters.get().pk,
            "reward_adapter": reward.adapters.get().pk, "response_length": 16,
            "temperature": 0.05, "mini_batch_size": 9, "num_ppo_epochs": 2, "sample_every": 2,
        },
        stdout=stdout,
    )  # fmt: skip
    for kind in ("grpo", "rloo"):  # TRL's online trainers against the same reward model
        _job(
            project=project, user=user, name=f"Demo: {kind.upper()}", kind=kind, base_model=base,
            snapshot=prompt_snapshot,
            hp={
                "max_steps": 6, "learning_rate": 1e-3, "per_device_train_batch_size": 4,
                "num_generations": 4, "response_length": 8,
                "policy_adapter": sft.adapters.get().pk, "reward_adapter": reward.adapters.get().pk,
            },
            stdout=stdout,
        )  # fmt: skip
    policy = Adapter.objects.filter(job=ppo).first()
    if policy is None:
        return
    if Completion.objects.filter(prompt__in=Prompt.objects.filter(project=project),
                                 meta__adapter_id=policy.pk).exists():  # fmt: skip
        return  # candidates from this policy are already with the labelers
    # The loop closes through a `generate` job, as a researcher would launch it.
    generate = _job(
        project=project, user=user, name="Demo: candidates for labelers", kind="generate",
        base_model=base, snapshot=prompt_snapshot,
        hp={
            "adapters": [sft.adapters.get().pk, policy.pk], "k": 2, "max_new_tokens": 16,
            "temperature": 0.7, "create_ranking_tasks": True,
        },
        stdout=stdout,
    )  # fmt: skip
    report = generate.data_report.get("generate", {})
    stdout.write(
        f"Generated {report.get('completions', 0)} candidates, "
        f"{report.get('tasks', 0)} ranking tasks"
    )
