"""Specialized synthetic data with its own structure: long-context (document + question),
function calling (OpenAI `tools` schemas + the expected call) and RAG (passages + question).

Each item is a `ParsedPrompt` whose `messages` hold what the model will see and whose
`meta["structure"]` holds the parts separately, so labeler pages can render the document, the
tool schemas or the passages on their own. Items the model got wrong (a call to an unknown
tool, a missing required argument, a citation of a passage it was not given) are failures with
the reason, not items. `on_item` is called as each model call comes back (progress).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flywheel.llm import LLMClient, LLMError

from .records import ParsedPrompt, PipelineError
from .synthesis_base import Pricing, RunUsage, SynthesisRun, parallel_map

LONG_CONTEXT = "long_context"
FUNCTION_CALLING = "function_calling"
RAG = "rag"

ERROR_BAD_TOOL = "tool {index} is not an OpenAI tool schema: {reason}"
ERROR_NOT_A_LIST = "the reply has no list under {key!r}"
ERROR_ITEM = "item {index}: {reason}"
ERROR_UNKNOWN_TOOL = "calls {name!r}, which is not among the tools"
ERROR_MISSING_ARGS = "misses required argument(s) {names}"
ERROR_UNKNOWN_ARGS = "passes argument(s) {names} the schema does not have"
ERROR_ARG_TYPE = "argument {name!r} should be {kind}"
ERROR_ARG_ENUM = "argument {name!r} must be one of {values}"
ERROR_NO_TEXT = "no {field!r} text"
ERROR_BAD_CITATION = "cites passage(s) {ids} that were not given"

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}

LONG_CONTEXT_SYSTEM = (
    "You write reading-comprehension questions about a long document for training an "
    "assistant. Each question must need the document to answer (facts from more than one place "
    'when possible). Reply with a JSON object {"items": [{"question": "...", "answer": "..."}]} '
    "with {n} items."
)
FUNCTION_CALLING_SYSTEM = (
    "You write realistic user requests that an assistant should answer by calling one of the "
    "given tools, with the exact call it should make. Reply with a JSON object "
    '{"items": [{"request": "...", "call": {"name": "...", "arguments": {...}}}]} with {n} items.'
)
RAG_SYSTEM = (
    "You write questions that can be answered only from the given passages, with the answer "
    "and the ids of the passages it uses. Reply with a JSON object "
    '{"items": [{"question": "...", "answer": "...", "cited": ["id", ...]}]} with {n} items.'
)


@dataclass(frozen=True)
class Document:
    title: str
    text: str


@dataclass(frozen=True)
class Passage:
    id: str
    text: str
    title: str = ""


def _items(data: Any) -> list[Any] | None:
    items = data.get("items") if isinstance(data, dict) else None
    return items if isinstance(items, list) else None


def _system(template: str, n: int) -> str:
    # The templates hold JSON braces, so the count goes in by replacement, not format().
    return template.replace("{n}", str(n))


# -- long context ------------------------------------------------------------------------------


def long_context_items(
    client: LLMClient,
    documents: Sequence[Document],
    *,
    questions_per_document: int = 2,
    pricing: Pricing | None = None,
    on_item: Callable[[], None] | None = None,
) -> SynthesisRun:
    """Questions about each whole document; the answer becomes the item's reference."""
    run = SynthesisRun(usage=RunUsage(pricing=pricing))

    def one(document: Document) -> tuple[Document, Any]:
        messages = [
            {"role": "system", "content": _system(LONG_CONTEXT_SYSTEM, questions_per_document)},
            {"role": "user", "content": f"# {document.title}\n\n{document.text}"},
        ]
        try:
            data, result = client.chat_json(messages, temperature=0.7)
        except LLMError as exc:
            return document, str(exc)
        run.usage.add(result)
        return document, data

    workers = client.config.max_concurrency
    for document, data in parallel_map(one, list(documents), workers=workers, on_item=on_item):
        if isinstance(data, str):
            run.fail(document.title, data)
            continue
        items = _items(data)
        if items is None:
            run.fail(document.title, ERROR_NOT_A_LIST.format(key="items"))
            continue
        for index, item in enumerate(items, start=1):
            question = item.get("question") if isinstance(item, dict) else None
            answer = item.get("answer") if isinstance(item, dict) else None
            if not isinstance(question, str) or not question.strip():
                reason = ERROR_NO_TEXT.format(field="question")
                run.fail(document.title, ERROR_ITEM.format(index=index, reason=reason))
                continue
            run.prompts.append(
                long_context_prompt(
                    document,
                    question,
                    answer=answer if isinstance(answer, str) else "",
                    model=client.config.model,
                )
            )
    return run


# -- function calling --------------------------------------------------------------------------


def validate_tools(tools: Sequence[dict[str, Any]]) -> None:
    """Raise PipelineError unless each tool is `{"type": "function", "function": {...}}`
    with a name and an object schema for its parameters."""
    for index, tool in enumerate(tools, start=1):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise PipelineError(
                ERROR_BAD_TOOL.format(index=index, reason='"type" must be "function"')
            )
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise PipelineError(ERROR_BAD_TOOL.format(index=index, reason="no function name"))
        parameters = function.get("parameters", {"type": "object", "properties": {}})
        if not isinstance(parameters, dict) or parameters.get("type") != "object":
            reason = "parameters must be a JSON schema of type object"
            raise PipelineError(ERROR_BAD_TOOL.format(index=index, reason=reason))


def check_call(call: Any, tools: Sequence[dict[str, Any]]) -> str | None:
    """Why `call` ({"name", "arguments"}) does not fit the tools, or None when it does.

    Checks the name, required and unknown arguments, JSON types and enums of the top level.
    """
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        return ERROR_NO_TEXT.format(field="call.name")
    by_name = {t["function"]["name"]: t["function"] for t in tools}
    function = by_name.get(call["name"])
    if function is None:
        return ERROR_UNKNOWN_TOOL.format(name=call["name"])
    arguments = call.get("arguments", {})
    if isinstance(arguments, str):  # the OpenAI wire format carries arguments as JSON text
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            return ERROR_ARG_TYPE.format(name="arguments", kind="a JSON object")
    if not isinstance(arguments, dict):
        return ERROR_ARG_TYPE.format(name="arguments", kind="a JSON object")
    schema = function.get("parameters", {})
    properties = schema.get("properties", {})
    missing = [n for n in schema.get("required", []) if n not in arguments]
    if missing:
        return ERROR_MISSING_ARGS.format(names=", ".join(missing))
    unknown = [n for n in arguments if n not in properties]
    if unknown and schema.get("additionalProperties", True) is False:
        return ERROR_UNKNOWN_ARGS.format(names=", ".join(unknown))
    for name, value in arguments.items():
        spec = properties.get(name, {})
        kind = spec.get("type")
        kinds = kind if isinstance(kind, list) else [kind] if kind else []
        if kinds and not any(
            isinstance(value, _JSON_TYPES.get(k, object))
            and not (k in ("integer", "number") and isinstance(value, bool))
            for k in kinds
        ):
            return ERROR_ARG_TYPE.format(name=name, kind=" or ".join(kinds))
        if "enum" in spec and value not in spec["enum"]:
            return ERROR_ARG_ENUM.format(name=name, values=spec["enum"])
    return None


def function_calling_items(
    client: LLMClient,
    tools: Sequence[dict[str, Any]],
    *,
    count: int,
    per_call: int = 5,
    first_call: int = 1,
    seed_base: int = 0,
    pricing: Pricing | None = None,
    on_item: Callable[[], None] | None = None,
) -> SynthesisRun:
    """User requests with the tool call that answers them, checked against the schemas.

    Calls are numbered from `first_call` (their failures' key); call n asks with seed
    `seed_base + n`, so batches of one run, and runs with their own `seed_base`, ask for
    different items from a server that honours seeds."""
    validate_tools(tools)
    run = SynthesisRun(usage=RunUsage(pricing=pricing))
    calls = -(-count // per_call)
    schema_text = json.dumps(list(tools), indent=1)

    def one(number: int) -> tuple[int, Any]:
        messages = [
            {"role": "system", "content": _system(FUNCTION_CALLING_SYSTEM, per_call)},
            {"role": "user", "content": f"Tools:\n{schema_text}"},
        ]
        try:
            data, result = client.chat_json(messages, temperature=0.9, seed=seed_base + number)
        except LLMError as exc:
            return number, str(exc)
        run.usage.add(result)
        return number, data

    workers = client.config.max_concurrency
    numbers = list(range(first_call, first_call + calls))
    for number, data in parallel_map(one, numbers, workers=workers, on_item=on_item):
        key = f"call {number}"
        if isinstance(data, str):
            run.fail(key, data)
            continue
        items = _items(data)
        if items is None:
            run.fail(key, ERROR_NOT_A_LIST.format(key="items"))
            continue
        for index, item in enumerate(items, start=1):
            if len(run.prompts) >= count:
                break
            request = item.get("request") if isinstance(item, dict) else None
            if not isinstance(request, str) or not request.strip():
                reason = ERROR_NO_TEXT.format(field="request")
                run.fail(key, ERROR_ITEM.format(index=index, reason=reason))
                continue
            call = item.get("call")
            problem = check_call(call, tools)
            if problem:
                run.fail(key, ERROR_ITEM.format(index=index, reason=problem))
                continue
            arguments = call.get("arguments", {})
            if isinstance(arguments, str):
                arguments = json.loads(arguments)
            run.prompts.append(
                function_calling_prompt(
                    request,
                    tools,
                    {"name": call["name"], "arguments": arguments},
                    model=client.config.model,
                )
            )
    return run


# -- RAG ---------------------------------------------------------------------------------------


def format_passages(passages: Sequence[Passage]) -> str:
    return "\n\n".join(
        f"[{p.id}] {p.title}\n{p.text}" if p.title else f"[{p.id}] {p.text}" for p in passages
    )


def rag_items(
    client: LLMClient,
    passages: Sequence[Passage],
    *,
    passages_per_item: int = 3,
    questions_per_group: int = 1,
    pricing: Pricing | None = None,
    on_item: Callable[[], None] | None = None,
) -> SynthesisRun:
    """Questions answerable from groups of passages, with the answer and the cited ids."""
    run = SynthesisRun(usage=RunUsage(pricing=pricing))
    groups = [
        list(passages[i : i + passages_per_item])
        for i in range(0, len(passages), passages_per_item)
    ]

    def one(group: list[Passage]) -> tuple[list[Passage], Any]:
        messages = [
            {"role": "system", "content": _system(RAG_SYSTEM, questions_per_group)},
            {"role": "user", "content": format_passages(group)},
        ]
        try:
            data, result = client.chat_json(messages, temperature=0.7)
        except LLMError as exc:
            return group, str(exc)
        run.usage.add(result)
        return group, data

    workers = client.config.max_concurrency
    for group, data in parallel_map(one, groups, workers=workers, on_item=on_item):
        key = "passages " + ", ".join(p.id for p in group)
        if isinstance(data, str):
            run.fail(key, data)
            continue
        items = _items(data)
        if items is None:
            run.fail(key, ERROR_NOT_A_LIST.format(key="items"))
            continue
        ids = {p.id for p in group}
        for index, item in enumerate(items, start=1):
            question = item.get("question") if isinstance(item, dict) else None
            if not isinstance(question, str) or not question.strip():
                reason = ERROR_NO_TEXT.format(field="question")
                run.fail(key, ERROR_ITEM.format(index=index, reason=reason))
                continue
            cited = [str(c) for c in item.get("cited") or []]
            wrong = [c for c in cited if c not in ids]
            if wrong:
                reason = ERROR_BAD_CITATION.format(ids=", ".join(wrong))
                run.fail(key, ERROR_ITEM.format(index=index, reason=reason))
                continue
            answer = item.get("answer")
            run.prompts.append(
                rag_prompt(
                    group,
                    question,
                    answer=answer if isinstance(answer, str) else "",
                    cited=cited,
                    model=client.config.model,
                )
            )
    return run


# -- the records -------------------------------------------------------------------------------
# One prompt of each kind, from its parts: the builders above make them from the model's items,
# the demo from fixed data.


def long_context_prompt(
    document: Document, question: str, *, answer: str = "", model: str = ""
) -> ParsedPrompt:
    content = f"{document.text}\n\n---\n\nQuestion: {question.strip()}"
    structure = {
        "kind": LONG_CONTEXT,
        "title": document.title,
        "document": document.text,
        "question": question.strip(),
    }
    return _prompt(
        content, task_type=LONG_CONTEXT, reference=answer.strip(), structure=structure, model=model
    )


def function_calling_prompt(
    request: str, tools: Sequence[dict[str, Any]], call: dict[str, Any], *, model: str = ""
) -> ParsedPrompt:
    """`call` is {"name", "arguments"} with the arguments as an object."""
    expected = {"name": call["name"], "arguments": call.get("arguments") or {}}
    structure = {"kind": FUNCTION_CALLING, "tools": list(tools), "expected_call": expected}
    return _prompt(
        request.strip(),
        task_type=FUNCTION_CALLING,
        reference=json.dumps(expected, sort_keys=True),
        structure=structure,
        model=model,
    )


def rag_prompt(
    passages: Sequence[Passage],
    question: str,
    *,
    answer: str = "",
    cited: Sequence[str] = (),
    model: str = "",
) -> ParsedPrompt:
    content = (
        "Answer the question using only the passages below and cite them by id.\n\n"
        f"{format_passages(passages)}\n\nQuestion: {question.strip()}"
    )
    structure = {
        "kind": RAG,
        "passages": [{"id": p.id, "title": p.title, "text": p.text} for p in passages],
        "question": question.strip(),
        "cited": list(cited),
    }
    return _prompt(
        content, task_type=RAG, reference=answer.strip(), structure=structure, model=model
    )


def _prompt(
    content: str, *, task_type: str, reference: str, structure: dict[str, Any], model: str
) -> ParsedPrompt:
    return ParsedPrompt(
        messages=[{"role": "user", "content": content}],
        source=f"synthesis:{task_type}",
        task_type=task_type,
        reference=reference,
        meta={"structure": structure, **({"generator": model} if model else {})},
    )
