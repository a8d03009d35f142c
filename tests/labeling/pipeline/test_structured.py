import json

import pytest

from flywheel.testing.openai_server import Reply, last_user_text
from labeling.pipeline import structured
from labeling.pipeline.records import PipelineError
from labeling.pipeline.structured import (
    Document,
    Passage,
    check_call,
    function_calling_items,
    long_context_items,
    rag_items,
    validate_tools,
)

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer"},
            },
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}


def test_check_call_against_schema():
    tools = [WEATHER]
    assert check_call({"name": "get_weather", "arguments": {"city": "Oslo"}}, tools) is None
    assert (
        check_call({"name": "get_weather", "arguments": '{"city": "Oslo", "days": 3}'}, tools)
        is None
    )
    assert check_call({"name": "send_mail", "arguments": {}}, tools) == (
        structured.ERROR_UNKNOWN_TOOL.format(name="send_mail")
    )
    assert check_call({"name": "get_weather", "arguments": {}}, tools) == (
        structured.ERROR_MISSING_ARGS.format(names="city")
    )
    assert check_call({"name": "get_weather", "arguments": {"city": "Oslo", "zip": 1}}, tools) == (
        structured.ERROR_UNKNOWN_ARGS.format(names="zip")
    )
    assert check_call({"name": "get_weather", "arguments": {"city": 5}}, tools) == (
        structured.ERROR_ARG_TYPE.format(name="city", kind="string")
    )
    assert check_call({"name": "get_weather", "arguments": {"city": "Oslo", "days": True}}, tools)
    assert check_call(
        {"name": "get_weather", "arguments": {"city": "Oslo", "unit": "kelvin"}}, tools
    ) == structured.ERROR_ARG_ENUM.format(name="unit", values=["celsius", "fahrenheit"])


def test_tool_schemas_are_validated_first(client):
    with pytest.raises(PipelineError, match="tool 1 is not an OpenAI tool schema"):
        validate_tools([{"name": "get_weather"}])
    with pytest.raises(PipelineError, match="parameters must be a JSON schema"):
        function_calling_items(
            client, [{"type": "function", "function": {"name": "f", "parameters": []}}], count=1
        )


def test_function_calling_items_keep_tools_and_expected_call(llm_server, client):
    llm_server.script(
        json.dumps(
            {
                "items": [
                    {
                        "request": "Is it raining in Bergen right now?",
                        "call": {"name": "get_weather", "arguments": {"city": "Bergen"}},
                    },
                    {"request": "Email my boss", "call": {"name": "send_mail", "arguments": {}}},
                    {
                        "request": "Three-day forecast for Lyon in celsius",
                        "call": {
                            "name": "get_weather",
                            "arguments": '{"city": "Lyon", "unit": "celsius", "days": 3}',
                        },
                    },
                ]
            }
        )
    )
    run = function_calling_items(client, [WEATHER], count=3, per_call=3)

    assert [p.text for p in run.prompts] == [
        "Is it raining in Bergen right now?",
        "Three-day forecast for Lyon in celsius",
    ]
    second = run.prompts[1]
    assert second.task_type == "function_calling"
    assert second.meta["structure"]["tools"] == [WEATHER]
    assert second.meta["structure"]["expected_call"] == {
        "name": "get_weather",
        "arguments": {"city": "Lyon", "unit": "celsius", "days": 3},
    }
    assert json.loads(second.reference)["name"] == "get_weather"
    [failure] = run.failures
    assert failure.key == "call 1"
    reason = structured.ERROR_UNKNOWN_TOOL.format(name="send_mail")
    assert failure.reason == structured.ERROR_ITEM.format(index=2, reason=reason)
    assert "get_weather" in last_user_text(llm_server.requests[0])


def test_long_context_items_hold_document_and_question(llm_server, client):
    def answer(request):
        if "Broken" in last_user_text(request):
            return Reply(raw_body="{not json")
        return json.dumps(
            {"items": [{"question": "When was the bridge finished?", "answer": "1932"}]}
        )

    llm_server.respond_with(answer)
    document = Document(title="Harbour Bridge", text="The bridge was finished in 1932. " * 50)
    run = long_context_items(
        client, [document, Document(title="Broken", text="x")], questions_per_document=1
    )

    [item] = run.prompts
    assert item.task_type == "long_context"
    assert item.reference == "1932"
    assert item.text.startswith("The bridge was finished") and item.text.endswith(
        "Question: When was the bridge finished?"
    )
    assert item.meta["structure"]["document"] == document.text
    assert item.meta["structure"]["title"] == "Harbour Bridge"
    [failure] = run.failures
    assert failure.key == "Broken"
    assert "sent a reply Flywheel cannot read" in failure.reason


def test_rag_items_check_citations(llm_server, client):
    def answer(request):
        text = last_user_text(request)
        if "[p1]" in text:
            return json.dumps(
                {
                    "items": [
                        {
                            "question": "What is the capital of Norway?",
                            "answer": "Oslo [p1]",
                            "cited": ["p1"],
                        }
                    ]
                }
            )
        return json.dumps({"items": [{"question": "Where?", "answer": "?", "cited": ["p9"]}]})

    llm_server.respond_with(answer)
    passages = [
        Passage(id="p1", title="Norway", text="Oslo is the capital of Norway."),
        Passage(id="p2", text="Bergen is on the west coast."),
        Passage(id="p3", text="Lyon is in France."),
    ]
    run = rag_items(client, passages, passages_per_item=2)

    [item] = run.prompts
    assert item.task_type == "rag"
    assert item.meta["structure"]["cited"] == ["p1"]
    assert [p["id"] for p in item.meta["structure"]["passages"]] == ["p1", "p2"]
    assert "[p1] Norway\nOslo is the capital" in item.text
    assert item.reference == "Oslo [p1]"
    [failure] = run.failures
    assert failure.key == "passages p3"
    bad = structured.ERROR_BAD_CITATION.format(ids="p9")
    assert failure.reason == structured.ERROR_ITEM.format(index=1, reason=bad)
    assert run.usage.calls == 2
