"""Structured synthesis as a pipeline stage: long-context (documents + questions), function
calling (OpenAI tools + the expected call) and RAG (passages + questions), made by the builders
of labeling.pipeline.structured and stored as prompts whose `meta["structure"]` keeps the parts
apart for the labeler pages.

`prompts_synthesize_structured` checks the inputs, stores them as a JSON file beside the run
(documents can be long) and queues the run; `structured_execute` is the stage's body, called by
`pipeline_run_execute`. It calls the model in batches of the client's concurrency, storing each
batch's prompts, failures (per item, with the reason), tokens and cost as it goes, so progress
shows and a crash loses nothing already made.
"""

from __future__ import annotations

import json
import math
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from labeling.models import PipelineRun, PipelineStage, Project, Prompt
from labeling.pipeline.progress import ProgressMeter
from labeling.pipeline.records import PipelineError, prompt_payload
from labeling.pipeline.structured import (
    FUNCTION_CALLING,
    LONG_CONTEXT,
    RAG,
    Document,
    Passage,
    function_calling_items,
    long_context_items,
    rag_items,
)
from labeling.pipeline.structured_inputs import documents_clean, passages_clean, tools_clean
from labeling.pipeline.synthesis_base import SynthesisRun
from labeling.services.pipeline.runs import (
    ERROR_FILE_MISSING,
    ERROR_LLM_MODEL,
    TAGGED_BY_SOURCE,
    PipelineRunError,
    _client,
    _llm_options,
    _meter,
    _pricing,
    _run_create,
    _use_usage,
)
from labeling.services.prompts import prompt_bulk_create

STRUCTURED_KINDS = (LONG_CONTEXT, FUNCTION_CALLING, RAG)
MAX_ITEMS = 1000
MAX_QUESTIONS_PER_DOCUMENT = 20
MAX_PASSAGES_PER_ITEM = 20
PER_CALL = 5  # function calling: items asked for in one call

ERROR_KIND = "Unknown structured kind {kind!r}; use one of: {kinds}."
ERROR_COUNT = "{name} must be a whole number from 1 to {high}."
ERROR_TASK_TYPE = (
    "This project's task types are {types}; add {kind} to them (project settings in the admin) "
    "to synthesize {kind} prompts."
)

COUNT_NAMES = {
    "questions_per_document": "Questions per document",
    "count": "The number of items",
    "passages_per_item": "Passages per question",
}


def prompts_synthesize_structured(
    *,
    project: Project,
    kind: str,
    llm_model: str,
    llm_base_url: str = "",
    price_prompt_per_mtok: float = 0.0,
    price_completion_per_mtok: float = 0.0,
    documents: Sequence[dict[str, Any]] = (),
    questions_per_document: int = 2,
    tools: Sequence[dict[str, Any]] = (),
    passages: Sequence[dict[str, Any]] = (),
    passages_per_item: int = 3,
    count: int = 10,
    input_name: str = "",
    created_by: AbstractBaseUser | None = None,
    enqueue: bool = True,
) -> PipelineRun:
    """Start a structured-synthesis run of `kind`:

    - long_context: `questions_per_document` questions about each of `documents`
      ([{title, text}]), each answer kept as the prompt's reference;
    - function_calling: `count` user requests with the call that answers them, checked
      against `tools` (OpenAI `tools` format);
    - rag: `count` questions over groups of `passages_per_item` of `passages`
      ([{id, text, title}]), with the answer and the cited ids.

    The prices (US dollars per million input / output tokens) make the run's cost.
    """
    if kind not in STRUCTURED_KINDS:
        raise PipelineRunError(ERROR_KIND.format(kind=kind, kinds=", ".join(STRUCTURED_KINDS)))
    if not (llm_model or project.llm_model):
        raise PipelineRunError(ERROR_LLM_MODEL)
    if project.task_types and kind not in project.task_types:
        raise PipelineRunError(
            ERROR_TASK_TYPE.format(types=", ".join(project.task_types), kind=kind)
        )
    llm = _llm_options(
        llm_model,
        llm_base_url,
        price_prompt_per_mtok,
        price_completion_per_mtok,
        project=project,
    )
    params: dict[str, Any] = {"kind": kind, **llm}
    try:
        if kind == LONG_CONTEXT:
            data: dict[str, Any] = {"documents": documents_clean(list(documents))}
            params["questions_per_document"] = _count(
                "questions_per_document", questions_per_document, MAX_QUESTIONS_PER_DOCUMENT
            )
            name = f"{len(data['documents'])} document(s)"
        elif kind == FUNCTION_CALLING:
            data = {"tools": tools_clean(list(tools))}
            params["count"] = _count("count", count, MAX_ITEMS)
            name = f"{len(data['tools'])} tool(s)"
        else:
            data = {"passages": passages_clean(list(passages))}
            params["count"] = _count("count", count, MAX_ITEMS)
            params["passages_per_item"] = _count(
                "passages_per_item", passages_per_item, MAX_PASSAGES_PER_ITEM
            )
            name = f"{len(data['passages'])} passage(s)"
    except PipelineError as error:
        raise PipelineRunError(str(error)) from None
    folder = Path(settings.FLYWHEEL_ARTIFACT_DIR) / "structured" / uuid.uuid4().hex
    folder.mkdir(parents=True, exist_ok=True)
    stored = folder / f"{kind}.json"
    stored.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return _run_create(
        project=project,
        stage=PipelineStage.STRUCTURED,
        params=params,
        input_name=input_name or name,
        input_path=str(stored),
        created_by=created_by,
        enqueue=enqueue,
    )


def _count(key: str, value: Any, high: int) -> int:
    try:
        number = 0 if isinstance(value, bool) else int(str(value).strip())
    except ValueError:
        number = 0
    if not 1 <= number <= high:
        raise PipelineRunError(ERROR_COUNT.format(name=COUNT_NAMES[key], high=high))
    return number


# -- running -----------------------------------------------------------------------------------


def structured_execute(run: PipelineRun) -> None:
    """The stage's body (pipeline_run_execute calls it on a running run). Progress counts the
    model calls: one per document, per five function-calling items, per group of passages."""
    path = Path(run.input_path)
    if not path.is_file():
        raise PipelineRunError(ERROR_FILE_MISSING.format(name=run.input_name))
    data = json.loads(path.read_text(encoding="utf-8"))
    params = run.params
    client = _client(run)
    if client is None:
        raise PipelineRunError(ERROR_LLM_MODEL)
    pricing = _pricing(run)
    batch = max(1, client.config.max_concurrency)
    counts: Counter[str] = Counter()
    kind = params["kind"]

    if kind == LONG_CONTEXT:
        documents = [Document(title=d["title"], text=d["text"]) for d in data["documents"]]
        counts["documents"] = len(documents)
        meter = _meter(run, len(documents))
        for start in range(0, len(documents), batch):
            result = long_context_items(
                client,
                documents[start : start + batch],
                questions_per_document=params["questions_per_document"],
                pricing=pricing,
                on_item=meter.advance,
            )
            _keep(run, result, counts, meter)
    elif kind == FUNCTION_CALLING:
        tools = data["tools"]
        count = params["count"]
        calls = math.ceil(count / PER_CALL)
        counts["tools"] = len(tools)
        meter = _meter(run, calls)
        for first in range(1, calls + 1, batch):
            here = min(batch, calls - first + 1)
            result = function_calling_items(
                client,
                tools,
                count=min(here * PER_CALL, count - (first - 1) * PER_CALL),
                per_call=PER_CALL,
                first_call=first,
                seed_base=run.pk * 100_000,  # a second run asks for other items
                pricing=pricing,
                on_item=meter.advance,
            )
            _keep(run, result, counts, meter)
    else:
        passages = [Passage(id=p["id"], text=p["text"], title=p["title"]) for p in data["passages"]]
        size = params["passages_per_item"]
        count = params["count"]
        groups = math.ceil(len(passages) / size)
        per_group = math.ceil(count / groups)
        used = min(groups, math.ceil(count / per_group))
        counts["passages"] = len(passages)
        meter = _meter(run, used)
        for start in range(0, used, batch):
            here = min(batch, used - start)
            result = rag_items(
                client,
                passages[start * size : (start + here) * size],
                passages_per_item=size,
                questions_per_group=per_group,
                pricing=pricing,
                on_item=meter.advance,
            )
            room = count - counts["made"]
            if len(result.prompts) > room:
                # The model wrote more questions than asked for; the run makes `count`.
                counts["beyond_count"] += len(result.prompts) - room
                result.prompts = result.prompts[:room]
            _keep(run, result, counts, meter)
    run.counts = _public(counts)


def _keep(
    run: PipelineRun, result: SynthesisRun, counts: Counter[str], meter: ProgressMeter
) -> None:
    """Store one batch: new prompts, failures with reasons, usage; then show progress."""
    payloads = []
    for prompt in result.prompts:
        payload = prompt_payload(prompt)
        # The builder set the type from the data's structure; the tag stage keeps it.
        payload["meta"].update({"tagged_by": TAGGED_BY_SOURCE, "pipeline_run": run.pk})
        payloads.append(payload)
    if payloads:
        before = Prompt.objects.filter(project=run.project).count()
        prompt_bulk_create(project=run.project, prompts=payloads)
        new = Prompt.objects.filter(project=run.project).count() - before
        counts["prompts"] += new
        counts["duplicates"] += len(payloads) - new
    counts["made"] += len(result.prompts)
    counts["failures"] += len(result.failures)
    run.failures = [*run.failures, *({"key": f.key, "reason": f.reason} for f in result.failures)]
    _use_usage(run, result.usage)
    run.counts = _public(counts)
    run.save(update_fields=["failures", "counts", "prompt_tokens", "completion_tokens", "cost_usd"])
    meter.flush()


def _public(counts: Counter[str]) -> dict[str, int]:
    shown = {key: counts[key] for key in ("documents", "tools", "passages") if key in counts}
    shown.update({key: counts[key] for key in ("prompts", "duplicates", "failures")})
    if counts["beyond_count"]:
        shown["beyond_count"] = counts["beyond_count"]
    return shown
