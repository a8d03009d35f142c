"""Demo data for evaluation: MT-Bench questions with GPT-4 gold references, the answers of the
six real models MT-Bench's human voters compared (so the agreement demo's disagreements show
both answers), a pairwise run of vicuna-13b-v1.2 against gpt-3.5-turbo and a single-answer
grading run of four of the models over both turns. The pairwise run's items are sent to human
raters, so the demo labeler's queue holds them as pairwise tasks.

The demo has no real LLM, so the judge is a *scripted demo judge*: a local
OpenAI-compatible server started only for the load, with a transparent rule — prefer the
answer that shares more words with the gold reference (with the question when there is no
reference). Its runs are stored like any other and the judge config says what it is.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TextIO

from evaluation.models import EvalRun, EvalSet, JudgeConfig
from evaluation.services import (
    candidates_import,
    eval_run_create,
    eval_run_execute,
    eval_set_create,
    eval_set_import_questions,
    eval_set_import_references,
    judge_config_create,
)
from evaluation.services.human import DEFAULT_OVERLAP, SOURCE_APP, human_tasks_create
from flywheel.testing.openai_server import OpenAICompatServer
from labeling.models import Task

DATA = Path(__file__).resolve().parent / "data" / "mt_bench"
SET_NAME = "MT-Bench (demo)"
PAIR_JUDGE = "Scripted demo judge: pairwise, prefers more reference words"
SINGLE_JUDGE = "Scripted demo judge: 1-10, share of reference words"
MODELS = ("vicuna-13b-v1.2", "gpt-3.5-turbo")
# Judged pairwise, then sent to the demo's labelers (their queue has its items as tasks).
PAIR_RUN = "vicuna-13b vs gpt-3.5-turbo (scripted demo judge)"
# Graded one answer at a time, both turns: four models from strong to weak, so that the score
# agreement demo (demo_agreement.py adds people's scores) has a leaderboard worth comparing.
SINGLE_RUN = "Single-answer grades (scripted demo judge)"
SINGLE_MODELS = ("gpt-4", "gpt-3.5-turbo", "vicuna-13b-v1.2", "llama-13b")
# 465 of the 480 (question, model) answers of the six models in MT-Bench's human judgments.
ANSWERS = "model_answers_6models.jsonl"
_WORD = re.compile(r"[a-z0-9]+")
_BLOCK = re.compile(r"\[The start of (?:the )?([^\]]+?)\]\n(.*?)\n\[The end of", re.DOTALL)
_USER_TURN = re.compile(r"### User:\n(.*?)\n\n###", re.DOTALL)
_REPLY = re.compile(r"### (?:Assistant(?: [AB])?|Reference answer):\n")
_QUESTION = re.compile(r"\[User question\]\n(.*?)\n\n\[", re.DOTALL)


def key_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if len(w) > 3}


def _last_reply(conversation: str) -> str:
    """The last assistant reply of a conversation rendered by ``judging.prompts``."""
    starts = [m.end() for m in _REPLY.finditer(conversation)]
    return conversation[starts[-1] :] if starts else conversation


def _scripted_judge(request: dict) -> str:
    """The demo rule, in the judge's own output format."""
    prompt = request["messages"][-1]["content"]
    blocks = _BLOCK.findall(prompt)

    def block(*needles: str) -> str:
        # "conversation" names the answer's block, not the "reference conversation".
        name, text = next(
            (
                (n, t)
                for n, t in blocks
                if all(x in n for x in needles) and ("reference" in needles or "reference" not in n)
            ),
            ("", ""),
        )
        # A conversation holds every turn, the user's too; the turn judged is the last reply.
        return _last_reply(text) if "conversation" in name else text

    question = _QUESTION.search(prompt)
    user_turns = _USER_TURN.findall(prompt)
    fallback = question.group(1) if question else (user_turns[-1] if user_turns else "")
    anchor = key_words(block("reference") or fallback)
    if block("assistant A"):
        a = len(anchor & key_words(block("assistant A")))
        b = len(anchor & key_words(block("assistant B")))
        verdict = "[[A]]" if a > b else "[[B]]" if b > a else "[[C]]"
        return f"Shared words with the anchor: A {a}, B {b}.\n{verdict}"
    answer = key_words(block("assistant's answer") or block("conversation"))
    share = len(anchor & answer) / len(anchor) if anchor else 0.0
    return f"The answer covers {share:.0%} of the anchor's words.\n[[{1 + round(9 * share)}]]"


def load_demo(*, project, users: dict, stdout: TextIO) -> None:
    """Add the evaluation demo to `project` (idempotent: existing demo rows are kept)."""
    researcher = users.get("researcher") or users.get("owner")
    eval_set = EvalSet.objects.filter(project=project, name=SET_NAME).first()
    if eval_set is None:
        eval_set = eval_set_create(
            project=project,
            name=SET_NAME,
            source="lm-sys/FastChat MT-Bench; answers from lmsys/mt_bench_human_judgments",
            created_by=researcher,
        )
        with (DATA / "question.jsonl").open() as f:
            eval_set_import_questions(eval_set=eval_set, lines=f)
        with (DATA / "reference_answer_gpt-4.jsonl").open() as f:
            eval_set_import_references(eval_set=eval_set, lines=f)
        with (DATA / ANSWERS).open() as f:
            candidates_import(eval_set=eval_set, lines=f)
        stdout.write(
            f"evaluation: eval set {SET_NAME!r} with {eval_set.question_count} questions\n"
        )
    if not EvalRun.objects.filter(project=project, eval_set=eval_set).exists():
        _judge_runs(project=project, eval_set=eval_set, researcher=researcher, stdout=stdout)
    send_to_raters(project=project, stdout=stdout)


def send_to_raters(*, project, stdout: TextIO) -> None:
    """The pairwise run's items in the labelers' queue as pairwise tasks, two raters each,
    through the same service as the run report's button (once)."""
    run = EvalRun.objects.filter(project=project, name=PAIR_RUN).first()
    if (
        run is None
        or Task.objects.filter(project=project, source__app=SOURCE_APP, source__run=run.pk).exists()
    ):
        return
    tasks = human_tasks_create(run=run, overlap=DEFAULT_OVERLAP)
    stdout.write(
        f"evaluation: {len(tasks)} pairwise tasks of {run.name!r} in the labelers' queue, "
        f"{DEFAULT_OVERLAP} raters each\n"
    )


def _judge_runs(*, project, eval_set, researcher, stdout: TextIO) -> None:
    with OpenAICompatServer(_scripted_judge) as server:
        pair = JudgeConfig.objects.filter(project=project, name=PAIR_JUDGE).first()
        pair = pair or judge_config_create(
            project=project,
            name=PAIR_JUDGE,
            base_url=server.base_url,
            model="scripted-demo-judge",
            family="pairwise",
            created_by=researcher,
        )
        single = JudgeConfig.objects.filter(project=project, name=SINGLE_JUDGE).first()
        single = single or judge_config_create(
            project=project,
            name=SINGLE_JUDGE,
            base_url=server.base_url,
            model="scripted-demo-judge",
            family="single",
            trials=2,
            created_by=researcher,
        )
        runs = [
            eval_run_create(
                project=project,
                eval_set=eval_set,
                judge_config=pair,
                name=PAIR_RUN,
                mode="baseline",
                models=[MODELS[0]],
                baseline=MODELS[1],
                turns=[1, 2],
                created_by=researcher,
                start=False,
            ),
            eval_run_create(
                project=project,
                eval_set=eval_set,
                judge_config=single,
                name=SINGLE_RUN,
                mode="single",
                models=list(SINGLE_MODELS),
                turns=[1, 2],
                created_by=researcher,
                start=False,
            ),
        ]
        for run in runs:
            run = eval_run_execute(run_id=run.pk)
            stdout.write(f"evaluation: run {run.name!r} {run.status}, {run.calls_done} judgments\n")
