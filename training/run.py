"""`python -m training.run JOB_ID`: the child process that trains one job (or, for a
`generate` job, samples candidates from its adapters).

Started by the GPU worker (under `accelerate launch` on a multi-GPU host); it can also be run
by hand on a queued job. It writes heartbeat, progress and metrics to the database itself.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flywheel.settings")
    import django

    django.setup()
    from training.models import TrainingJob
    from training.sft import run_job

    job_id = int(argv[0])
    kind = TrainingJob.objects.values_list("kind", flat=True).get(pk=job_id)
    return run_job(job_id=job_id, train=trainer_for(kind))


def trainer_for(kind: str):
    """The train function of a job kind (SFT: training.sft.train_sft)."""
    if kind == "reward":
        from training.reward import train_reward

        return train_reward
    if kind == "dpo":
        from training.dpo import train_dpo

        return train_dpo
    if kind == "ppo":
        from training.ppo import train_ppo

        return train_ppo
    if kind == "generate":  # no training: K completions per prompt from adapters
        from training.generate_job import train_generate

        return train_generate
    if kind in ("grpo", "rloo"):
        from training.online import train_online

        return train_online
    from training.sft import train_sft

    return train_sft


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
