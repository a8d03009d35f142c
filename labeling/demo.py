"""Demo data for labeling: prompts (some multi-turn), candidate answers and tasks of every
kind in the demo project, so a labeler has work as soon as the demo starts. Idempotent."""

from __future__ import annotations

from typing import Any, TextIO

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from labeling.models import Project, Task
from labeling.services import (
    annotation_submit,
    assignment_claim,
    prompt_bulk_create,
    task_bulk_create,
)

RUBRIC = [
    {
        "name": "correctness",
        "description": "Facts, code and arithmetic are right.",
        "anchors": {"1": "wrong on the main point", "3": "right, with a slip that matters"},
    },
    {"name": "helpfulness", "description": "It does what the user asked, fully."},
    {"name": "style", "description": "Clear, well organised, no padding."},
]
# The written anchor of each point of the 1-5 scale, shared by the criteria (correctness
# writes its own for 1 and 3).
RUBRIC_ANCHORS = {
    "1": "ignores the question",
    "2": "touches the question, misses most of it",
    "3": "partly answers",
    "4": "answers it, with small gaps",
    "5": "fully answers, no errors",
}

RUBRIC_INSTRUCTIONS = (
    "Read the whole answer before you score. Score each criterion on its own: a rude but "
    "correct answer is high on honesty and low on tone. Use the anchors; when an answer sits "
    "between two, pick the lower."
)

PROMPTS: list[dict[str, Any]] = [
    {
        "task_type": "qa",
        "messages": [{"role": "user", "content": "Why is the sky blue? One paragraph, please."}],
        "completions": [
            (
                "demo-small",
                "Sunlight scatters off air molecules, and short (blue) wavelengths "
                "scatter far more than long ones (Rayleigh scattering, ~1/λ⁴), so blue "
                "light reaches us from every direction of the sky.",
            ),
            ("demo-large", "Because the ocean reflects onto the sky."),
            (
                "demo-medium",
                "The sky looks blue because of **Rayleigh scattering**: molecules "
                "in the air scatter shorter wavelengths much more strongly. Violet scatters even "
                "more, but our eyes are less sensitive to it and some is absorbed high up.",
            ),
        ],
    },
    {
        "task_type": "code",
        "system": "You are a senior Python reviewer.",
        "messages": [
            {"role": "user", "content": "Write a function that returns the n-th Fibonacci number."},
            {"role": "assistant", "content": "def fib(n):\n    return fib(n-1) + fib(n-2)"},
            {"role": "user", "content": "That never stops. Fix it and make it fast."},
        ],
        "completions": [
            (
                "demo-small",
                "```python\ndef fib(n: int) -> int:\n    a, b = 0, 1\n    for _ in "
                "range(n):\n        a, b = b, a + b\n    return a\n```\n"
                "Linear time, constant memory.",
            ),
            (
                "demo-large",
                "```python\nfrom functools import cache\n\n@cache\ndef fib(n):\n    "
                "return n if n < 2 else fib(n - 1) + fib(n - 2)\n```",
            ),
            ("demo-medium", "Add a base case: `if n < 2: return n`."),
        ],
    },
    {
        "task_type": "math",
        "messages": [
            {
                "role": "user",
                "content": "A train leaves at 14:05 and arrives at 16:50. How long is the trip?",
            }
        ],
        "completions": [
            ("demo-small", "2 hours 45 minutes."),
            ("demo-large", "From 14:05 to 16:05 is 2 h, plus 45 min to 16:50: **2 h 45 min**."),
        ],
    },
    {
        "task_type": "creative",
        "messages": [{"role": "user", "content": "A haiku about debugging at night."}],
        "completions": [
            (
                "demo-small",
                "Cursor blinks, then stops—\none missing semicolon\nand the moon goes down.",
            ),
            (
                "demo-large",
                "Night. Bugs. Code. Coffee.\nI fixed it. No I did not.\nIt works on my box.",
            ),
        ],
    },
    {
        "task_type": "summarization",
        "messages": [
            {
                "role": "user",
                "content": "Summarise in one sentence: The committee met on "
                "Tuesday and agreed to move the launch from March to May, citing supplier delays; "
                "the budget is unchanged and the team will hire two testers.",
            },
        ],
        "completions": [
            (
                "demo-small",
                "The launch moves from March to May because of supplier delays, "
                "with the budget unchanged and two testers to be hired.",
            ),
            ("demo-large", "The committee met on Tuesday."),
            ("demo-medium", "Launch delayed to May; budget cut to pay for two testers."),
        ],
    },
    {
        "task_type": "qa",
        "messages": [
            {"role": "user", "content": "I'm planning a trip to Lisbon in April."},
            {"role": "assistant", "content": "Lovely! How can I help?"},
            {"role": "user", "content": "What should I pack, weather-wise?"},
        ],
        "completions": [
            (
                "demo-small",
                "April in Lisbon is mild (about 12 to 21 °C) with some rain: pack "
                "layers, a light waterproof jacket and comfortable shoes for the hills.",
            ),
            ("demo-large", "Pack for snow; Lisbon winters last until May."),
        ],
    },
    {
        "task_type": "code",
        "messages": [{"role": "user", "content": "How do I reverse a list in Python?"}],
        "completions": [
            (
                "demo-small",
                "Use `items.reverse()` to reverse in place, or `items[::-1]` for a reversed copy.",
            ),
            ("demo-large", "Python lists cannot be reversed."),
        ],
    },
    {
        "task_type": "math",
        "messages": [{"role": "user", "content": "Is 221 a prime number?"}],
        "completions": [
            ("demo-small", "No: 221 = 13 * 17."),
            ("demo-large", "Yes, 221 is prime."),
        ],
    },
]


def _prompt_specs() -> list[dict[str, Any]]:
    return [
        {
            "messages": spec["messages"],
            "system": spec.get("system", ""),
            "task_type": spec["task_type"],
            "source": "demo",
            "completions": [
                {"model_name": model, "text": text, "params": {"temperature": 0.7}}
                for model, text in spec["completions"]
            ],
        }
        for spec in PROMPTS
    ]


@transaction.atomic
def load_demo(*, project: Project, users: dict[str, AbstractBaseUser], stdout: TextIO) -> None:
    """Prompts, answers and tasks of every kind; a few answers by the reviewer so that the
    labeler's first claims add overlap and the quality figures have something to show."""
    if Task.objects.filter(project=project, meta__demo=True).exists():
        stdout.write("Labeling demo data is there already.\n")
        return
    if not project.rubric:
        project.rubric, project.rubric_anchors = RUBRIC, RUBRIC_ANCHORS
        project.rubric_instructions = RUBRIC_INSTRUCTIONS
    project.answer_rating_max = project.answer_rating_max or 7
    demo_types = [spec["task_type"] for spec in PROMPTS]
    project.task_types = list(dict.fromkeys([*(project.task_types or []), *demo_types]))
    project.save(
        update_fields=[
            "rubric",
            "rubric_anchors",
            "rubric_instructions",
            "answer_rating_max",
            "task_types",
        ]
    )
    prompts = prompt_bulk_create(project=project, prompts=_prompt_specs())
    answers = {
        prompt.pk: list(prompt.completions.order_by("id").values_list("id", flat=True))
        for prompt in prompts
    }
    sky, fib, train, haiku, summary, lisbon, reverse, prime = prompts
    demo = {"demo": True}

    def spec(kind: str, prompt, ids=None, **extra) -> dict[str, Any]:
        return {
            "kind": kind,
            "prompt": prompt.pk,
            "completions": answers[prompt.pk] if ids is None else ids,
            "meta": demo,
            **extra,
        }

    tasks = task_bulk_create(
        project=project,
        tasks=[
            spec("ranking", sky, required_annotations=2),
            spec("ranking", fib, required_annotations=2),
            spec("ranking", summary, required_annotations=2),
            spec("pairwise", train),
            spec("pairwise", haiku, required_annotations=2),
            spec("demonstration", lisbon, ids=answers[lisbon.pk][:1]),
            spec("demonstration", fib, ids=[]),
            spec("rubric", sky, reference="Rayleigh scattering: blue scatters most."),
            spec("rubric", summary),
            # Gold tasks look like any other to a labeler.
            spec(
                "pairwise",
                reverse,
                is_gold=True,
                gold_answer={"choice": "a"},
            ),
            spec(
                "ranking",
                prime,
                is_gold=True,
                gold_answer={"ranking": answers[prime.pk]},
            ),
        ],
    )
    reviewer = users.get("reviewer")
    done = 0
    if reviewer is not None:
        for task in tasks[:2]:
            lease = assignment_claim(project=project, user=reviewer)
            if lease is None or lease.task_id != task.pk:
                break
            ids = answers[task.prompt_id]
            annotation_submit(
                task=task,
                user=reviewer,
                data={"ranking": [ids[0], ids[1:]], "time_spent_ms": 42_000},
            )
            done += 1
    stdout.write(
        f"Labeling demo: {len(prompts)} prompts, {len(tasks)} tasks of every kind "
        f"({done} already answered once by the reviewer).\n"
    )
