"""Demo of structured synthesis: one run of each kind (long-context, function-calling, RAG)
through the same service the pipeline page, the API and the command start, with the scripted
demo model (labeling.pipeline.demo_llm) on the fixed document, tools and passages of
data/demo_structured.json. The model's first item of each kind is the data file's own; that
prompt gets a demonstration task, so a labeler sees the document, the tools and the passages
rendered apart from the question. A few of the model's other items are wrong on purpose (a call
that misses a required argument, a citation of a passage it was not given): the runs list them
as failures, as they would a real model's. A second load adds nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from labeling.models import PipelineStage, Project, Prompt, Task, TaskKind
from labeling.pipeline.records import ParsedPrompt
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
from labeling.services.pipeline import pipeline_run_execute
from labeling.services.structured import prompts_synthesize_structured
from labeling.services.tasks import task_bulk_create

from .demo import WRITER_PRICES, run_done, run_line
from .demo_llm import WRITER_MODEL, scripted_model

DATA = Path(__file__).resolve().parent / "data" / "demo_structured.json"
KINDS = (LONG_CONTEXT, FUNCTION_CALLING, RAG)
# What each run asks for; the scripted model answers with a few more items than that, or wrong
# ones, so the runs show what they keep and what fails.
QUESTIONS_PER_DOCUMENT = 2
FUNCTION_CALLS = 4
RAG_QUESTIONS = 2
WRITERS = 2  # annotations each labeler task needs
INPUT_NAMES = {
    LONG_CONTEXT: "demo_structured.json: a library's annual report",
    FUNCTION_CALLING: "demo_structured.json: book_meeting_room, get_weather",
    RAG: "demo_structured.json: three ferry passages",
}


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


def _inputs(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    if kind == LONG_CONTEXT:
        return {
            "documents": [data[LONG_CONTEXT]["document"]],
            "questions_per_document": QUESTIONS_PER_DOCUMENT,
        }
    if kind == FUNCTION_CALLING:
        return {"tools": data[FUNCTION_CALLING]["tools"], "count": FUNCTION_CALLS}
    passages = data[RAG]["passages"]
    return {"passages": passages, "count": RAG_QUESTIONS, "passages_per_item": len(passages)}


def load_demo(*, project: Project, users: dict[str, Any], stdout: TextIO) -> None:
    # The prompts carry their kind as task type; the project must list it.
    types = list(dict.fromkeys([*(project.task_types or []), *KINDS]))
    if types != project.task_types:
        project.task_types = types
        project.save(update_fields=["task_types"])
    data = json.loads(DATA.read_text(encoding="utf-8"))
    missing = [
        kind
        for kind in KINDS
        if not run_done(project, stage=PipelineStage.STRUCTURED, input_name=INPUT_NAMES[kind])
    ]
    if missing:
        with scripted_model() as server:
            for kind in missing:
                run = prompts_synthesize_structured(
                    project=project,
                    kind=kind,
                    llm_model=WRITER_MODEL,
                    llm_base_url=server.base_url,
                    price_prompt_per_mtok=WRITER_PRICES[0],
                    price_completion_per_mtok=WRITER_PRICES[1],
                    input_name=INPUT_NAMES[kind],
                    created_by=users.get("researcher"),
                    enqueue=False,
                    **_inputs(kind, data),
                )
                run = pipeline_run_execute(run=run)
                stdout.write(f"  structured demo: {run_line(run)}\n")
                for failure in run.failures:
                    stdout.write(f"  structured demo:   failed: {failure['reason']}\n")
    # The labeler's tasks: the data file's own item of each kind, as the model gave it back.
    hashes = [prompt.content_hash for prompt in structured_demo_prompts()]
    prompts = Prompt.objects.filter(project=project, content_hash__in=hashes).order_by("id")
    have = set(
        Task.objects.filter(prompt__in=prompts, kind=TaskKind.DEMONSTRATION).values_list(
            "prompt_id", flat=True
        )
    )
    tasks = task_bulk_create(
        project=project,
        tasks=[
            {
                "kind": TaskKind.DEMONSTRATION,
                "prompt": p.pk,
                "source": {"demo": "structured"},
                # Two writers: the snapshot demo's reviewer answers open tasks, and the labeler
                # should still find these in the queue.
                "required_annotations": WRITERS,
            }
            for p in prompts
            if p.pk not in have
        ],
    )
    stdout.write(
        f"  structured demo: {len(tasks)} demonstration task(s) on long-context, "
        f"function-calling and RAG prompts in {project.name}\n"
    )
