"""Demo of structured prompts: one long-context, one function-calling and one RAG prompt, made
from fixed data (the demo has no LLM) by the same record builders the structured-synthesis
stage uses, stored as prompts and given a demonstration task each, so a labeler sees the
document, the tools and the passages rendered apart from the question. A second load adds
nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from labeling.models import Project, Task, TaskKind
from labeling.pipeline.records import ParsedPrompt, prompt_payload
from labeling.pipeline.structured import (
    FUNCTION_CALLING,
    LONG_CONTEXT,
    RAG,
    Document,
    Passage,
    function_calling_prompt,
    long_context_prompt,
    rag_prompt,
)
from labeling.services.prompts import prompt_bulk_create
from labeling.services.tasks import task_bulk_create

DATA = Path(__file__).resolve().parent / "data" / "demo_structured.json"
KINDS = (LONG_CONTEXT, FUNCTION_CALLING, RAG)


def structured_demo_prompts() -> list[ParsedPrompt]:
    """The demo's structured prompts, one item of each kind per entry in the data file."""
    data = json.loads(DATA.read_text(encoding="utf-8"))
    prompts = []
    long_context = data[LONG_CONTEXT]
    document = Document(**long_context["document"])
    for item in long_context["items"]:
        prompts.append(long_context_prompt(document, item["question"], answer=item["answer"]))
    tools = data[FUNCTION_CALLING]["tools"]
    for item in data[FUNCTION_CALLING]["items"]:
        prompts.append(function_calling_prompt(item["request"], tools, item["call"]))
    passages = [Passage(**p) for p in data[RAG]["passages"]]
    for item in data[RAG]["items"]:
        prompts.append(
            rag_prompt(passages, item["question"], answer=item["answer"], cited=item["cited"])
        )
    for prompt in prompts:
        prompt.source = "demo:structured"
    return prompts


def load_demo(*, project: Project, users: dict[str, Any], stdout: TextIO) -> None:
    # The prompts carry their kind as task type; the project must list it.
    types = list(dict.fromkeys([*(project.task_types or []), *KINDS]))
    if types != project.task_types:
        project.task_types = types
        project.save(update_fields=["task_types"])
    prompts = prompt_bulk_create(
        project=project, prompts=[prompt_payload(p) for p in structured_demo_prompts()]
    )
    have = set(
        Task.objects.filter(prompt__in=prompts, kind=TaskKind.DEMONSTRATION).values_list(
            "prompt_id", flat=True
        )
    )
    tasks = task_bulk_create(
        project=project,
        tasks=[
            {"kind": TaskKind.DEMONSTRATION, "prompt": p.pk, "source": {"demo": "structured"}}
            for p in prompts
            if p.pk not in have
        ],
    )
    stdout.write(
        f"  structured demo: {len(tasks)} demonstration task(s) on long-context, "
        f"function-calling and RAG prompts in {project.name}\n"
    )
