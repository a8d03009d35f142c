"""The RLHF demo loader: reward, DPO, PPO, GRPO, RLOO and a generate job that makes ranking tasks; a
second load adds nothing."""

from __future__ import annotations

import io

import pytest

from labeling.models import Task
from training.models import JobStatus, TrainingJob

pytestmark = [pytest.mark.training, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_demo_closes_the_loop_once(project, owner, settings, tmp_path):
    from training.rlhf_demo import load_demo

    settings.FLYWHEEL_ARTIFACT_DIR = str(tmp_path)
    load_demo(project=project, users={"researcher": owner}, stdout=io.StringIO())
    kinds = dict(TrainingJob.objects.filter(project=project).values_list("kind", "status"))
    assert kinds == {
        k: JobStatus.SUCCEEDED for k in ("sft", "reward", "dpo", "ppo", "grpo", "rloo", "generate")
    }
    tasks = Task.objects.filter(project=project, kind="ranking").count()
    assert tasks == 3
    generate = TrainingJob.objects.get(project=project, kind="generate")
    assert Task.objects.filter(source__generate_job_id=generate.pk).count() == 3
    assert generate.data_report["generate"]["completions"] == 3 * 2 * 2
    load_demo(project=project, users={"researcher": owner}, stdout=io.StringIO())
    # Seven RLHF-loop jobs and the prompt-tuning ensemble of training/demo.py.
    assert TrainingJob.objects.filter(project=project).count() == 8
    assert Task.objects.filter(project=project, kind="ranking").count() == tasks
