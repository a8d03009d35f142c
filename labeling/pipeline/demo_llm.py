"""The scripted demo model: what answers the pipeline demo's LLM stages.

The demo has no language model, so `scripted_model()` starts a local OpenAI-compatible server
(the one the tests use) for the length of the load, and the runs call it through
`flywheel.llm` like any other server. Every reply is fixed or follows a stated rule, so a second
demo gives the same data, and everything it writes is marked as scripted where a person could
take it for a real model's work: the model names start with "scripted-demo", and each answer
ends with SCRIPTED_NOTE. The canned text is in data/demo_llm.json.

What it does with each kind of request (told apart by the stage's own system prompt):

- tagging: the rule tagger's label, except on the prompts listed under "tags", where it reads
  them as a careful person might (so the run lists disagreements), or answers with a label
  outside the project's set (so the run lists a failure);
- LLM rewrites: the prompt plus the requirement "harder" lists for its task type (by the rules);
- self-instruct: an example repeated almost word for word (the stage drops it as too similar),
  then new prompts of the task type from "self_instruct";
- drafts and candidates: the canned answer for the prompt in the model's style (large, medium,
  small), or FALLBACK_ANSWER when the script has none;
- structured synthesis: the items of data/demo_structured.json, then the extra items of
  "structured", some of them wrong on purpose (a missing required argument, a citation of a
  passage it was not given), which the stage reports as failures.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from flywheel.testing.openai_server import OpenAICompatServer, last_user_text
from labeling.pipeline.records import normalize_text
from labeling.pipeline.structured import (
    FUNCTION_CALLING,
    FUNCTION_CALLING_SYSTEM,
    LONG_CONTEXT,
    LONG_CONTEXT_SYSTEM,
    RAG,
    RAG_SYSTEM,
)
from labeling.pipeline.synthesis import REWRITE_SYSTEM, SELF_INSTRUCT_SYSTEM
from labeling.pipeline.tagging import TAGGER_SYSTEM, TASK_TYPES, tag_rules

DATA_DIR = Path(__file__).resolve().parent / "data"
SCRIPT = DATA_DIR / "demo_llm.json"
STRUCTURED_DATA = DATA_DIR / "demo_structured.json"

# A cheap model tags, a strong one drafts and writes prompts, two others give candidates.
TAGGER_MODEL = "scripted-demo-mini"
WRITER_MODEL = "scripted-demo-large"
CANDIDATE_MODELS = ("scripted-demo-medium", "scripted-demo-small")
STYLES = {WRITER_MODEL: "large", "scripted-demo-medium": "medium", "scripted-demo-small": "small"}

SCRIPTED_NOTE = "*Scripted demo answer: fixed text from the demo's script; no model wrote it.*"
FALLBACK_ANSWER = (
    "The demo's script has no answer for this prompt, and the demo runs without a language "
    "model, so there is nothing real to show here."
)


@cache
def script() -> dict[str, Any]:
    return json.loads(SCRIPT.read_text(encoding="utf-8"))


@cache
def structured_data() -> dict[str, Any]:
    return json.loads(STRUCTURED_DATA.read_text(encoding="utf-8"))


def _head(template: str) -> str:
    """The fixed start of a stage's system prompt (before its first placeholder)."""
    return re.split(r"\{", template, maxsplit=1)[0]


def _system(request: dict[str, Any]) -> str:
    messages = request.get("messages") or []
    first = messages[0] if messages else {}
    return str(first.get("content") or "") if first.get("role") == "system" else ""


def _match(entries: list[dict[str, Any]], text: str) -> dict[str, Any] | None:
    folded = normalize_text(text)
    return next((e for e in entries if normalize_text(e["match"]) in folded), None)


def scripted_reply(request: dict[str, Any]) -> str:
    """The scripted model's reply to one chat-completions request."""
    system = _system(request)
    user = last_user_text(request)
    if system.startswith(_head(TAGGER_SYSTEM)):
        return _tag(system, user)
    if system.startswith(_head(REWRITE_SYSTEM)):
        return _rewrite(user)
    if system.startswith(_head(SELF_INSTRUCT_SYSTEM)):
        return _self_instruct(system, user)
    if system.startswith(_head(LONG_CONTEXT_SYSTEM)):
        return _items(LONG_CONTEXT)
    if system.startswith(_head(FUNCTION_CALLING_SYSTEM)):
        return _items(FUNCTION_CALLING)
    if system.startswith(_head(RAG_SYSTEM)):
        return _items(RAG)
    return _answer(str(request.get("model") or ""), user)


def _tag(system: str, text: str) -> str:
    labels = re.search(r"exactly one of: (.*?)\. Definitions", system)
    allowed = [label.strip() for label in labels.group(1).split(",")] if labels else TASK_TYPES
    planted = _match(script()["tags"], text)
    label = planted["task_type"] if planted else tag_rules(text, labels=allowed).task_type
    return json.dumps({"task_type": label})


def _rewrite(user: str) -> str:
    text = user.split("\n\nPrompt:\n", 1)[-1].strip()
    requirement = script()["harder"][tag_rules(text).task_type]
    end = "" if text[-1:] in ".?!:" else "."
    return json.dumps({"prompt": f"{text}{end} {requirement}"})


def _self_instruct(system: str, user: str) -> str:
    task_type = re.search(r"task type '([^']+)'", system)
    count = re.search(r"Write (\d+) new prompts", user)
    wanted = int(count.group(1)) if count else 5
    fresh = script()["self_instruct"].get(task_type.group(1) if task_type else "", [])
    first = re.search(r"^1\. (.*?)(?=\n\d+\. |\n\nWrite )", user, re.MULTILINE | re.DOTALL)
    prompts = [f"{first.group(1).strip()} Please answer briefly."] if first else []
    return json.dumps({"prompts": [*prompts, *fresh][:wanted]})


def _items(kind: str) -> str:
    given = structured_data()[kind]["items"]
    return json.dumps({"items": [*given, *script()["structured"][kind]]})


def _answer(model: str, user: str) -> str:
    entry = _match(script()["answers"], user) or {}
    style = STYLES.get(model, "medium")
    text = entry.get(style) or FALLBACK_ANSWER
    return f"{text}\n\n{SCRIPTED_NOTE}"


@contextmanager
def scripted_model() -> Iterator[OpenAICompatServer]:
    """The scripted demo model on a local port, for as long as the block runs."""
    with OpenAICompatServer(scripted_reply) as server:
        yield server
