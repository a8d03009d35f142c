import pytest

from labeling.models import Role
from labeling.services import (
    annotation_submit,
    assignment_claim,
    membership_set,
    prompt_bulk_create,
    task_bulk_create,
)
from tests.labeling.factories import answer_ids


@pytest.fixture(autouse=True)
def _artifacts(settings, tmp_path):
    settings.FLYWHEEL_ARTIFACT_DIR = tmp_path / "artifacts"


@pytest.fixture
def coders(make_user, project):
    users = []
    for name in ("ann", "bob", "cat"):
        user = make_user(name)
        membership_set(project=project, user=user, role=Role.LABELER)
        users.append(user)
    return users


def tasks_for(project, *, kind, task_types, answers=3, required=1, tag=""):
    """One prompt and task per entry of `task_types`, each with `answers` candidate answers."""
    prompts = prompt_bulk_create(
        project=project,
        prompts=[
            {
                "messages": [{"role": "user", "content": f"{tag}{kind} question {i} ({t})?"}],
                "task_type": t,
                "completions": [
                    {"text": f"answer {j} to {i}", "model_name": f"m{j}"} for j in range(answers)
                ],
            }
            for i, t in enumerate(task_types)
        ],
    )
    return task_bulk_create(
        project=project,
        tasks=[
            {
                "kind": kind,
                "prompt": p.pk,
                "completions": list(p.completions.order_by("id").values_list("id", flat=True)),
                "required_annotations": required,
            }
            for p in prompts
        ],
    )


def answer(project, user, task, data):
    lease = assignment_claim(project=project, user=user)
    assert lease.task_id == task.pk
    if data.get("choice") in ("a", "b"):
        # Tests state pairwise choices in the task's order; the labeler presses the letter of
        # that answer as it was shown to them.
        wanted = answer_ids(task)["ab".index(data["choice"])]
        data = {**data, "choice": "ab"[lease.display_order.index(wanted)]}
    return annotation_submit(task=task, user=user, data=data)
