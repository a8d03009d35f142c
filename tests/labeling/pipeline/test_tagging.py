import json

import pytest

from flywheel.testing.openai_server import Reply, last_user_text
from labeling.pipeline import tagging
from labeling.pipeline.readers import read_prompts
from labeling.pipeline.synthesis_base import Pricing
from labeling.pipeline.tagging import tag_disagreements, tag_llm, tag_rules

from .test_formats import DATA


@pytest.mark.parametrize(
    ("text", "task_type"),
    [
        ("Write a Python function that reverses a linked list.", "code"),
        ("Why does this raise a KeyError?\n```python\nd = {}\nd['x']\n```", "code"),
        ("Solve for x: 3x + 5 = 20", "math"),
        ("Summarize this article in three bullet points: The council met...", "summarization"),
        ("Who was the first person to walk on the moon?", "qa"),
        ("Extract all the dates and names from this email: Hi Bob, on 3 May...", "extraction"),
        ("Classify the sentiment of this review as positive or negative: Great!", "classification"),
        ("Rewrite this paragraph to sound more formal: hey guys, meeting's off", "rewriting"),
        ("Brainstorm 10 names for a coffee shop run by cats.", "brainstorming"),
        ("Write a short story about a lighthouse keeper who befriends a whale.", "creative"),
        (
            'Use the available tools to book a table. "tools": [{"type": "function"}]',
            "function_calling",
        ),
        ("Based on the following passages, answer the question. [1] Paris is...", "rag"),
        (
            "Please read this report. " + "The quarterly numbers went up. " * 700 + "Any risks?",
            "long_context",
        ),
    ],
)
def test_rules_tag_each_task_type(text, task_type):
    assert tag_rules(text).task_type == task_type


def test_rules_fall_back_and_respect_the_label_set():
    assert tag_rules("hello there").task_type == "qa"
    assert tag_rules("hello there").scores == {}
    # Code is not a label of these projects: qa when it is one, else the first label.
    tag = tag_rules("Write a Python function to add numbers", labels=["creative", "qa"])
    assert tag.task_type == "qa"
    assert "code" not in tag.scores
    tag = tag_rules("Write a Python function to add numbers", labels=["creative", "math"])
    assert tag.task_type == "creative"


def test_rules_agree_with_mt_bench_categories_on_most_real_questions():
    prompts = [p for p in read_prompts(DATA / "mt_bench_question.jsonl")]
    agree = sum(tag_rules(p.text).task_type == p.task_type for p in prompts)
    # Categories are not task types (a "reasoning" riddle is qa here), so not all can agree.
    assert agree / len(prompts) >= 0.65


def test_llm_tagger_is_constrained_to_labels_and_reports_failures(llm_server, client):
    def answer(request):
        text = last_user_text(request)
        if "poem" in text:
            return json.dumps({"task_type": "Creative"})
        if "invoice" in text:
            return json.dumps({"task_type": "accounting"})
        if "broken" in text:
            return Reply(status=400, error_message="bad request")
        return '```json\n{"task_type": "qa"}\n```'

    llm_server.respond_with(answer)
    prompts = [
        ("p1", "Write a poem about rain"),
        ("p2", "Why is the sky blue?"),
        ("p3", "Categorize this invoice"),
        ("p4", "this one is broken"),
    ]
    run = tag_llm(client, prompts, labels=["qa", "creative", "code"], pricing=Pricing(1.0, 2.0))

    assert sorted((t.key, t.task_type) for t in run.tags) == [("p1", "creative"), ("p2", "qa")]
    failures = {f.key: f.reason for f in run.failures}
    assert failures["p3"] == tagging.ERROR_LABEL_NOT_ALLOWED.format(label="accounting")
    assert "refused the request (400)" in failures["p4"]
    assert run.usage.calls == 3 and run.usage.failures == 2
    assert run.usage.prompt_tokens > 0 and run.usage.completion_tokens > 0
    expected = (run.usage.prompt_tokens * 1.0 + run.usage.completion_tokens * 2.0) / 1e6
    assert run.usage.cost_usd == pytest.approx(expected)
    system = llm_server.requests[0]["messages"][0]["content"]
    assert "exactly one of: qa, creative, code" in system
    assert llm_server.requests[0]["response_format"] == {"type": "json_object"}


def test_disagreements_list_prompts_where_rules_and_llm_differ(llm_server, client):
    llm_server.respond_with(lambda request: json.dumps({"task_type": "qa"}))
    prompts = [("a", "Write a haiku about spring"), ("b", "Who wrote Hamlet?")]
    run = tag_llm(client, prompts)
    rules = {key: tag_rules(text).task_type for key, text in prompts}
    [disagreement] = tag_disagreements(rules, run.tags)
    assert (disagreement.key, disagreement.rule, disagreement.llm) == ("a", "creative", "qa")
