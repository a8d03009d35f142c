"""The scripted demo model answers each pipeline stage, through the real client and the stage's
own prompts, the way labeling/pipeline/demo_llm.py says it does."""

import json

import pytest

from flywheel.llm import LLMClient, LLMConfig
from labeling.pipeline.demo import DEMO_LOG
from labeling.pipeline.demo_llm import (
    CANDIDATE_MODELS,
    FALLBACK_ANSWER,
    SCRIPTED_NOTE,
    WRITER_MODEL,
    script,
    scripted_model,
    structured_data,
)
from labeling.pipeline.records import ParsedPrompt
from labeling.pipeline.structured import Passage, function_calling_items, rag_items
from labeling.pipeline.synthesis import Generator, answers_candidates, rewrite_llm, self_instruct
from labeling.pipeline.tagging import tag_llm


@pytest.fixture
def scripted():
    with scripted_model() as server:
        config = LLMConfig(base_url=server.base_url, model=WRITER_MODEL, max_retries=0)
        yield LLMClient(config, sleep=lambda seconds: None)


def _prompt(text):
    return ParsedPrompt(messages=[{"role": "user", "content": text}])


def test_tagger_follows_the_rules_except_on_the_planted_prompts(scripted):
    run = tag_llm(
        scripted,
        [
            ("sql", "Write a SQL query that lists the ten most recent orders."),
            ("threads", "Explain the difference between a process and a thread."),
            ("bakery", "Brainstorm ten names for a bakery that only sells sourdough bread."),
        ],
        labels=["qa", "code", "creative"],
    )
    assert {t.key: t.task_type for t in run.tags} == {"sql": "code", "threads": "code"}
    [failure] = run.failures
    assert failure.key == "bakery"
    assert failure.reason == "the model answered 'brainstorming', which is not one of the labels"


def test_llm_rewrite_adds_the_requirement_of_the_prompts_task_type(scripted):
    run = rewrite_llm(scripted, [_prompt("Solve for x: 2x + 1 = 9")], instruction="Harder.")
    [rewritten] = run.prompts
    assert rewritten.messages[-1]["content"] == (
        "Solve for x: 2x + 1 = 9. " + script()["harder"]["math"]
    )
    assert rewritten.meta["generator"] == WRITER_MODEL


def test_self_instruct_repeats_an_example_that_the_stage_drops_as_too_similar(scripted):
    run = self_instruct(
        scripted, seeds=["Is 221 a prime number?"], task_type="math", count=2, per_call=5
    )
    assert [p.text for p in run.prompts] == script()["self_instruct"]["math"][:2]
    [dropped] = run.dropped
    assert dropped.text == "Is 221 a prime number? Please answer briefly."
    assert dropped.reason.startswith("too similar to an existing prompt (ROUGE-L")


def test_answers_differ_by_model_and_say_they_are_scripted(scripted):
    generators = [Generator(model=WRITER_MODEL), *(Generator(model=m) for m in CANDIDATE_MODELS)]
    run = answers_candidates(
        scripted, [_prompt("Solve for x: 3x + 5 = 20")], generators=generators, k=3
    )
    [answers] = run.answers.values()
    assert [a.model for a in answers] == [WRITER_MODEL, *CANDIDATE_MODELS]
    assert len({a.text for a in answers}) == 3
    assert all(a.text.endswith("\n\n" + SCRIPTED_NOTE) for a in answers)
    assert answers[2].text == "x = 5\n\n" + SCRIPTED_NOTE


def test_a_prompt_the_script_does_not_know_gets_an_answer_that_says_so(scripted):
    run = answers_candidates(
        scripted, [_prompt("What is the capital of Peru?")], generators=[Generator()], k=1
    )
    [[answer]] = run.answers.values()
    assert answer.text == f"{FALLBACK_ANSWER}\n\n{SCRIPTED_NOTE}"


def test_structured_items_come_with_the_planted_mistakes(scripted):
    tools = structured_data()["function_calling"]["tools"]
    calls = function_calling_items(scripted, tools, count=4)
    assert [p.meta["structure"]["expected_call"]["name"] for p in calls.prompts] == [
        "book_meeting_room",
        "get_weather",
        "book_meeting_room",
        "get_weather",
    ]
    assert [f.reason for f in calls.failures] == ["item 2: misses required argument(s) minutes"]
    passages = [Passage(**p) for p in structured_data()["rag"]["passages"]]
    rag = rag_items(scripted, passages, passages_per_item=3, questions_per_group=2)
    assert [p.meta["structure"]["cited"] for p in rag.prompts] == [["d1", "d3"], ["d2", "d3"]]
    assert [f.reason for f in rag.failures] == ["item 2: cites passage(s) d4 that were not given"]


def test_every_canned_answer_has_three_different_styles_and_each_planted_tag_a_log_prompt():
    for entry in script()["answers"]:
        texts = [entry["large"], entry["medium"], entry["small"]]
        assert len(set(texts)) == 3, entry["match"]
    rows = [json.loads(line) for line in DEMO_LOG.read_text(encoding="utf-8").splitlines()]
    prompts = [row["prompt"].lower() for row in rows if "prompt" in row]
    for planted in script()["tags"]:
        assert any(planted["match"] in prompt for prompt in prompts), planted["match"]
