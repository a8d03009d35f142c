"""Demo of the create-tasks stage, the pipeline's last step, through the same service the
pipeline page, the API and `manage.py create_tasks` start:

- pairwise tasks from prompts with two answers, balanced across task types, a quarter of them
  asked to be gold. HH-RLHF marks the preferred answer, but the first prompts of each type
  (oldest first) are mostly others, so the run makes fewer gold tasks than asked and says so,
  and it counts the prompts left out for want of a second answer;
- demonstration tasks (drafts where the synthesize run wrote one), balanced across every task
  type, structured ones included, whose gold comes from the references that MT-Bench and
  structured synthesis carry.

Runs after the other pipeline demos so that their prompts are there. A second load adds
nothing.
"""

from __future__ import annotations

from typing import Any, TextIO

from labeling.models import PipelineStage, Project, TaskKind
from labeling.services.pipeline import pipeline_run_execute, tasks_create_from_prompts

from .demo import run_done, run_line

# (kind, how many tasks, gold share)
RUNS = (
    (TaskKind.PAIRWISE, 16, 0.25),
    (TaskKind.DEMONSTRATION, 16, 0.25),
)


def load_demo(*, project: Project, users: dict[str, Any], stdout: TextIO) -> None:
    for kind, limit, gold_share in RUNS:
        if run_done(project, stage=PipelineStage.TASKS, params__kind=kind):
            continue
        run = pipeline_run_execute(
            run=tasks_create_from_prompts(
                project=project,
                kind=kind,
                limit=limit,
                gold_share=gold_share,
                created_by=users.get("researcher"),
                enqueue=False,
            )
        )
        by_type = ", ".join(f"{t} {n}" for t, n in sorted(run.counts["by_task_type"].items()))
        stdout.write(f"  tasks demo: {run_line(run)}\n  tasks demo:   by task type: {by_type}\n")
        for warning in run.warnings:
            stdout.write(f"  tasks demo:   warning: {warning['message']}\n")
