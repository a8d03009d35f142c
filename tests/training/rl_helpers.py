"""Data and a run helper for the reward, DPO and PPO tests: a preference set that is
separable by a keyword ("thank you") and the matching prompts."""

from __future__ import annotations

from training.services import job_create, job_launch
from training.testing import SAMPLE_ROWS, snapshot_write

KEYWORD = "Thank you!"


def preference_rows(*, repeat: int = 1, margin: float | None = None) -> list[dict]:
    rows = []
    for _ in range(repeat):
        for row in SAMPLE_ROWS:
            item = {
                "prompt": [{"role": "user", "content": row["q"]}],
                "chosen": [{"role": "assistant", "content": f"{row['a']} {KEYWORD}"}],
                "rejected": [{"role": "assistant", "content": row["a"]}],
                "task_type": row["task_type"],
            }
            if margin is not None:
                item["margin"] = margin
            rows.append(item)
    return rows


def prompt_rows() -> list[dict]:
    return [
        {"prompt": [{"role": "user", "content": r["q"]}], "task_type": r["task_type"], "id": str(i)}
        for i, r in enumerate(SAMPLE_ROWS)
    ]


def preference_snapshot(project, **kwargs):
    return snapshot_write(
        project=project,
        train=preference_rows(repeat=2, **kwargs),
        validation=preference_rows(**kwargs),
        name="Keyword preferences",
        kind="preference",
    )


def prompts_snapshot(project):
    return snapshot_write(project=project, train=prompt_rows(), name="Prompts", kind="prompts")


def make_rl_job(*, project, owner, kind, base_model, snapshot, peft_method="lora", **hp):
    hyper = {"per_device_train_batch_size": 6, "logging_steps": 1, **hp}
    return job_create(
        project=project,
        created_by=owner,
        kind=kind,
        base_model=base_model,
        snapshot=snapshot,
        peft_method=peft_method,
        peft_config={"r": 8, "lora_alpha": 16, "lora_dropout": 0.0},
        hyperparameters=hyper,
        name=f"{kind} test",
    )


def run(job, callbacks=None):
    from training.run import trainer_for
    from training.sft import run_job

    job_launch(job=job)
    code = run_job(job_id=job.pk, callbacks=callbacks, train=trainer_for(job.kind))
    job.refresh_from_db()
    assert code == 0, job.error
    return job
