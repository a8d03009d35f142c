"""Small builders for labeling tests: prompts with answers and tasks of each kind."""

from __future__ import annotations

from labeling.models import Project, Task
from labeling.services import prompt_bulk_create, task_bulk_create


def make_tasks(
    project: Project,
    *,
    kind: str = "ranking",
    n: int = 1,
    answers: int = 3,
    required: int | None = None,
    is_gold: bool = False,
    gold_answer: dict | None = None,
    tag: str = "",
) -> list[Task]:
    prompts = prompt_bulk_create(
        project=project,
        prompts=[
            {
                "messages": [{"role": "user", "content": f"{tag}{kind} question {i}?"}],
                "task_type": "qa",
                "completions": [
                    {"text": f"answer {j} to {i}", "model_name": f"model-{j}"}
                    for j in range(answers)
                ],
            }
            for i in range(n)
        ],
    )
    specs = []
    for prompt in prompts:
        ids = list(prompt.completions.order_by("id").values_list("id", flat=True))
        spec = {"kind": kind, "prompt": prompt.pk, "completions": ids, "is_gold": is_gold}
        if required:
            spec["required_annotations"] = required
        if gold_answer is not None:
            spec["gold_answer"] = gold_answer(ids) if callable(gold_answer) else gold_answer
        specs.append(spec)
    return task_bulk_create(project=project, tasks=specs)


def answer_ids(task: Task) -> list[int]:
    return list(task.task_completions.order_by("position").values_list("completion_id", flat=True))
