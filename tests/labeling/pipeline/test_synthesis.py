import json

import pytest

from flywheel.testing.openai_server import Reply, last_user_text
from labeling.pipeline import synthesis
from labeling.pipeline.records import ParsedPrompt, PipelineError
from labeling.pipeline.synthesis import (
    Generator,
    answers_candidates,
    answers_draft,
    rewrite_heuristic,
    rewrite_llm,
    self_instruct,
)
from labeling.pipeline.synthesis_base import Pricing

SEEDS = [
    "Write a Python function that checks whether a string is a palindrome.",
    "Write a SQL query that lists the ten most recent orders.",
    "Write a bash script that renames every .txt file to .md.",
]


def _prompt(text, **kwargs):
    return ParsedPrompt(messages=[{"role": "user", "content": text}], **kwargs)


@pytest.mark.parametrize("similarity", [synthesis.ROUGE_L, synthesis.MINHASH])
def test_self_instruct_keeps_new_prompts_and_drops_near_copies(llm_server, client, similarity):
    near_copy = "Write a Python function that checks whether a string is a palindrome or not."
    llm_server.script(
        json.dumps(
            {
                "prompts": [
                    "Implement binary search over a sorted list of integers in Go.",
                    near_copy,  # too close to a seed
                    "Write a JavaScript debounce helper with a configurable delay and tests.",
                ]
            }
        ),
        json.dumps(
            {
                "prompts": [
                    "Implement binary search over a sorted list of integers in Go.",  # repeat
                    "Explain and fix a race condition in a Java bank account class.",
                ]
            }
        ),
    )
    run = self_instruct(
        client,
        seeds=SEEDS,
        task_type="code",
        count=3,
        per_call=3,
        similarity=similarity,
        threshold=0.7,
        max_calls=2,
        pricing=Pricing(input_per_million=3.0),
    )

    assert [p.text for p in run.prompts] == [
        "Implement binary search over a sorted list of integers in Go.",
        "Write a JavaScript debounce helper with a configurable delay and tests.",
        "Explain and fix a race condition in a Java bank account class.",
    ]
    assert {p.task_type for p in run.prompts} == {"code"}
    assert {p.source for p in run.prompts} == {"synthesis:self_instruct"}
    dropped = {d.text: d.reason for d in run.dropped}
    assert dropped[near_copy].startswith("too similar to an existing prompt")
    assert dropped["Implement binary search over a sorted list of integers in Go."] in (
        synthesis.DROPPED_REPEATED,
    )
    assert run.usage.calls == 2
    assert run.usage.cost_usd == pytest.approx(run.usage.prompt_tokens * 3.0 / 1e6)
    first = llm_server.requests[0]["messages"]
    assert "'code'" in first[0]["content"]
    assert sum(seed in first[1]["content"] for seed in SEEDS) == 3


def test_self_instruct_reports_failed_calls_and_unreadable_replies(llm_server, client):
    llm_server.script(
        Reply(status=500), Reply(status=500), json.dumps({"items": []}), json.dumps({"prompts": []})
    )
    run = self_instruct(client, seeds=SEEDS, task_type="code", count=2, per_call=2, max_calls=3)
    assert run.prompts == []
    reasons = sorted(f.reason for f in run.failures)
    assert len(reasons) == 2  # the third call answered an empty list: nothing, but no failure
    assert any("failed 2 times" in r for r in reasons)
    assert synthesis.ERROR_NOT_A_LIST.format(key="prompts") in reasons
    assert run.usage.failures == 2


def test_self_instruct_refuses_unknown_similarity(client):
    with pytest.raises(PipelineError):
        self_instruct(client, seeds=SEEDS, task_type="code", count=1, similarity="cosine")


def test_heuristic_rewrites_are_linked_to_origin_and_reproducible():
    origin = _prompt("List the planets of the solar system.", task_type="qa")
    variants = rewrite_heuristic([origin])

    assert [v.meta["rewrite"] for v in variants] == [
        "markdown_table", "json_output", "length", "style", "persona",
    ]  # fmt: skip
    assert {v.meta["origin"] for v in variants} == {origin.content_hash}
    by_kind = {v.meta["rewrite"]: v for v in variants}
    assert by_kind["markdown_table"].text.endswith("as a Markdown table with a header row.")
    assert '"answer"' in by_kind["json_output"].text
    words = by_kind["length"].meta["words"]
    assert by_kind["length"].text.endswith(f"Answer in at most {words} words.")
    assert by_kind["style"].meta["style"] in synthesis.STYLES
    persona = by_kind["persona"]
    assert persona.text == origin.text and persona.system.startswith("You are ")
    assert all(v.task_type == "qa" and v.source == "synthesis:rewrite" for v in variants)
    assert len({v.content_hash for v in variants} | {origin.content_hash}) == 6
    again = rewrite_heuristic([origin])
    assert [v.content_hash for v in again] == [v.content_hash for v in variants]


def test_heuristic_rewrite_changes_only_the_last_user_turn():
    chat = ParsedPrompt(
        messages=[
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Compare cats and dogs."},
        ]
    )
    [variant] = rewrite_heuristic([chat], kinds=["markdown_table"])
    assert variant.messages[0]["content"] == "Hi"
    assert variant.messages[2]["content"].startswith("Compare cats and dogs.\n\n")
    assert chat.messages[2]["content"] == "Compare cats and dogs."
    with pytest.raises(PipelineError, match="unknown rewrite"):
        rewrite_heuristic([chat], kinds=["haiku"])


def test_llm_rewrites_are_linked_and_failures_listed(llm_server, client):
    def answer(request):
        text = last_user_text(request)
        if "planets" in text:
            return json.dumps({"prompt": "Name every planet that orbits the Sun."})
        return json.dumps({"text": "wrong key"})

    llm_server.respond_with(answer)
    good, bad = _prompt("List the planets."), _prompt("Tell me a joke.")
    run = rewrite_llm(client, [good, bad], instruction="Make it more formal.")

    [rewritten] = run.prompts
    assert rewritten.text == "Name every planet that orbits the Sun."
    assert rewritten.meta["origin"] == good.content_hash
    assert rewritten.meta["instruction"] == "Make it more formal."
    assert [(f.key, f.reason) for f in run.failures] == [
        (bad.content_hash, synthesis.ERROR_NO_PROMPT)
    ]


def test_draft_answer_per_prompt(llm_server, client):
    llm_server.respond_with(lambda request: "Draft: " + last_user_text(request))
    prompts = [_prompt("What is DNS?", system="Be brief."), _prompt("What is TCP?")]
    run = answers_draft(client, prompts, model="strong-model", max_tokens=300)

    assert {k: [c.text for c in v] for k, v in run.answers.items()} == {
        prompts[0].content_hash: ["Draft: What is DNS?"],
        prompts[1].content_hash: ["Draft: What is TCP?"],
    }
    completion = run.answers[prompts[0].content_hash][0]
    assert completion.model == "strong-model"
    assert completion.params["max_tokens"] == 300
    requests = {last_user_text(r): r for r in llm_server.requests}
    assert requests["What is DNS?"]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert requests["What is DNS?"]["model"] == "strong-model"


def test_k_candidates_from_several_generators_with_failures_reported(llm_server, client):
    def answer(request):
        if request["model"] == "flaky":
            return Reply(status=503)
        return f"{request['model']} t={request['temperature']} seed={request['seed']}"

    llm_server.respond_with(answer)
    prompt = _prompt("Explain recursion.")
    generators = [
        Generator(model="small", temperature=0.2),
        Generator(model="large", temperature=1.0, top_p=0.9),
        Generator(model="flaky"),
    ]
    run = answers_candidates(client, [prompt], generators=generators, k=4)

    texts = [c.text for c in run.answers[prompt.content_hash]]
    assert texts == ["small t=0.2 seed=0", "large t=1.0 seed=1", "small t=0.2 seed=3"]
    assert run.answers[prompt.content_hash][1].params["top_p"] == 0.9
    [failure] = run.failures
    assert failure.key == f"{prompt.content_hash}#2"
    assert "failed 2 times" in failure.reason
    assert run.usage.calls == 3 and run.usage.failures == 1
    with pytest.raises(PipelineError):
        answers_candidates(client, [prompt], generators=[], k=2)
