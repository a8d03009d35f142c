"""Evaluation fixtures: a small eval set with answers of known lengths, and judge configs
pointed at the scripted OpenAI-compatible server."""

from __future__ import annotations

import json
import re

import pytest

from evaluation.services import (
    candidates_import,
    eval_set_create,
    eval_set_import_questions,
    judge_config_create,
)

# Six questions in two categories; "alpha" is the longer answer on q1-q4, "beta" on q5-q6.
QUESTIONS = [
    {"question_id": 1, "category": "writing", "turns": ["Write a haiku.", "Now a limerick."]},
    {"question_id": 2, "category": "writing", "turns": ["Describe rain.", "Shorter."]},
    {"question_id": 3, "category": "writing", "turns": ["Name a colour.", "Another."]},
    {"question_id": 4, "category": "math", "turns": ["2+2?", "Times 3?"], "reference": ["4", "12"]},
    {"question_id": 5, "category": "math", "turns": ["3*3?", "Minus 1?"], "reference": ["9", "8"]},
    {"question_id": 6, "category": "math", "turns": ["10/2?", "Plus 5?"], "reference": ["5", "10"]},
]
LONG = "This is a long and detailed answer that goes on and on with many words. " * 2
SHORT = "Short answer."


def answers(model: str) -> list[str]:
    rows = []
    for q in QUESTIONS:
        longer = "alpha" if q["question_id"] <= 4 else "beta"
        text = LONG if model == longer else SHORT
        rows.append(
            json.dumps(
                {"question_id": q["question_id"], "model": model, "turns": [text, text + " (2)"]}
            )
        )
    return rows


_SECTION = re.compile(r"\[The start of assistant ([AB])'s answer\]\n(.*?)\n\[The end", re.DOTALL)


def shown(request: dict) -> dict[str, str]:
    """{"A": text, "B": text} as the judge saw them."""
    user = request["messages"][-1]["content"]
    return dict(_SECTION.findall(user))


@pytest.fixture
def eval_set(project, owner):
    eval_set = eval_set_create(project=project, name="Tiny set", created_by=owner)
    eval_set_import_questions(eval_set=eval_set, lines=[json.dumps(q) for q in QUESTIONS])
    candidates_import(eval_set=eval_set, lines=answers("alpha") + answers("beta"))
    return eval_set


@pytest.fixture
def make_config(project, llm_server):
    def make(**overrides):
        values = {
            "project": project,
            "name": "scripted judge",
            "base_url": llm_server.base_url,
            "model": "judge-1",
            "max_concurrency": 4,
            "timeout_s": 5,
        }
        values.update(overrides)
        return judge_config_create(**values)

    return make


@pytest.fixture(autouse=True)
def _fewer_bootstrap_resamples(settings):
    # Intervals are checked for shape, not precision; 200 resamples keep the suite fast.
    settings.FLYWHEEL_EVAL_BOOTSTRAP_RESAMPLES = 200


@pytest.fixture
def finished_run(project, eval_set, make_config, llm_server):
    """A finished baseline run (alpha vs beta) judged by a judge that prefers the longer answer."""
    from evaluation.services import eval_run_create, eval_run_execute
    from tests.evaluation.test_runner import longer_judge

    llm_server.respond_with(longer_judge)
    run = eval_run_create(
        project=project,
        eval_set=eval_set,
        judge_config=make_config(),
        name="alpha vs beta",
        mode="baseline",
        models=["alpha"],
        baseline="beta",
        start=False,
    )
    return eval_run_execute(run_id=run.pk)
