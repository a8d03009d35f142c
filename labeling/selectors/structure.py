"""What the labeler pages and the claim API show of a structured prompt (long-context,
function calling, RAG; `meta["structure"]`, made by labeling.pipeline.structured).

The prompt's text holds everything the model sees in one user turn (the document or the
passages, then the question); the pages show the parts apart: the document in its own
scrollable panel, each tool's parameters as a table, the passages with their ids.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from labeling.models import Prompt, Task, TaskKind
from labeling.pipeline.structured import FUNCTION_CALLING, LONG_CONTEXT, RAG

# The expected call and the cited passages are the answer: labelers see them where the pages
# show a task's gold reference (rubric and pairwise), reviewers always.
SHOWS_ANSWER = (TaskKind.RUBRIC, TaskKind.PAIRWISE)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def prompt_structure(*, prompt: Prompt, show_answer: bool) -> dict[str, Any] | None:
    """The prompt's structure as labelers may see it, or None for a plain prompt (or a
    structure this version cannot read). Only the known parts, checked, are kept."""
    raw = (prompt.meta or {}).get("structure")
    kind = raw.get("kind") if isinstance(raw, Mapping) else None
    if kind == LONG_CONTEXT:
        document = _text(raw.get("document"))
        if not document:
            return None
        return {
            "kind": kind,
            "title": _text(raw.get("title")),
            "document": document,
            "question": _text(raw.get("question")),
        }
    if kind == FUNCTION_CALLING:
        tools = [t for t in raw.get("tools") or [] if _function(t) is not None]
        if not tools:
            return None
        structure: dict[str, Any] = {"kind": kind, "tools": tools}
        call = raw.get("expected_call")
        if show_answer and isinstance(call, Mapping) and isinstance(call.get("name"), str):
            structure["expected_call"] = {
                "name": call["name"],
                "arguments": call.get("arguments") or {},
            }
        return structure
    if kind == RAG:
        passages = [
            {"id": str(p.get("id")), "title": _text(p.get("title")), "text": _text(p.get("text"))}
            for p in raw.get("passages") or []
            if isinstance(p, Mapping) and p.get("id") is not None
        ]
        if not passages:
            return None
        structure = {"kind": kind, "passages": passages, "question": _text(raw.get("question"))}
        if show_answer:
            structure["cited"] = [str(c) for c in raw.get("cited") or []]
        return structure
    return None


def task_structure(*, task: Task, show_answer: bool | None = None) -> dict[str, Any] | None:
    """The structure of a task's prompt as its labeler sees it (the answer parts on rubric and
    pairwise tasks only, unless `show_answer` says otherwise: reviewers see them)."""
    if show_answer is None:
        show_answer = task.kind in SHOWS_ANSWER
    return prompt_structure(prompt=task.prompt, show_answer=show_answer)


def _function(tool: Any) -> Mapping[str, Any] | None:
    function = tool.get("function") if isinstance(tool, Mapping) else None
    if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
        return None
    return function


def _type(spec: Mapping[str, Any]) -> str:
    kind = spec.get("type")
    text = " or ".join(str(k) for k in kind) if isinstance(kind, list) else str(kind or "any")
    items = spec.get("items")
    if text == "array" and isinstance(items, Mapping) and items.get("type"):
        text = f"array of {items['type']}"
    return text


def structure_display(structure: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The structure with what the page shows precomputed (templates format, they do not
    compute): each tool's parameters as rows and its schema as indented JSON, the expected
    call as indented JSON, cited passages marked."""
    if structure is None:
        return None
    shown = dict(structure)
    if structure["kind"] == FUNCTION_CALLING:
        tools = []
        for tool in structure["tools"]:
            function = _function(tool) or {}
            schema = function.get("parameters")
            schema = schema if isinstance(schema, Mapping) else {}
            properties = schema.get("properties")
            properties = properties if isinstance(properties, Mapping) else {}
            required = schema.get("required")
            required = (
                [r for r in required if r in properties]
                if isinstance(required, Sequence) and not isinstance(required, str)
                else []
            )
            # Required ones in the schema's `required` order, then the rest by name: a JSON
            # object's key order does not survive PostgreSQL's jsonb, a list's does.
            order = list(dict.fromkeys(required)) + sorted(set(properties) - set(required))
            tools.append(
                {
                    "name": function.get("name", ""),
                    "description": _text(function.get("description")),
                    "parameters": [
                        {
                            "name": name,
                            "type": _type(spec) if isinstance(spec, Mapping) else "any",
                            "required": name in required,
                            "description": _text(spec.get("description"))
                            if isinstance(spec, Mapping)
                            else "",
                            "enum": [str(v) for v in spec.get("enum") or []]
                            if isinstance(spec, Mapping) and isinstance(spec.get("enum"), list)
                            else [],
                        }
                        for name, spec in ((n, properties[n]) for n in order)
                    ],
                    "schema_json": json.dumps(dict(function), indent=2, ensure_ascii=False),
                }
            )
        shown["tools"] = tools
        if "expected_call" in structure:
            shown["expected_call_json"] = json.dumps(
                structure["expected_call"], indent=2, ensure_ascii=False
            )
    elif structure["kind"] == RAG:
        cited = set(structure.get("cited") or [])
        shown["passages"] = [{**p, "cited": p["id"] in cited} for p in structure["passages"]]
    return shown


def display_turns(
    messages: Sequence[Mapping[str, Any]], structure: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """The turns as the page shows them: the last user turn marked; for a long-context or RAG
    prompt (one user turn holding the document or passages and the question), that turn shows
    the question alone, since the panel above shows the rest."""
    turns = [dict(m) for m in messages]
    last_user = max((i for i, m in enumerate(turns) if m.get("role") == "user"), default=-1)
    for i, turn in enumerate(turns):
        turn["last_user"] = i == last_user
    users = [t for t in turns if t.get("role") == "user"]
    if (
        structure
        and structure["kind"] in (LONG_CONTEXT, RAG)
        and structure.get("question")
        and len(users) == 1
    ):
        users[0]["content"] = structure["question"]
        users[0]["question"] = True
    return turns
