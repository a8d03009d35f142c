"""Writes for prompts and completions, in bulk (imports bring thousands at a time)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from flywheel.errors import DomainError
from labeling.models import Completion, Project, Prompt, PromptStatus
from labeling.pipeline.records import content_hash

ERROR_MESSAGES_SHAPE = (
    "Prompt {index}: `messages` must be a non-empty list of {{role, content}} with roles "
    "user, assistant, tool or system."
)
ERROR_STATUS = "Prompt {index}: status must be active or filtered; filtered prompts need reasons."
ERROR_NOT_FILTERED = "Prompt {id} is not filtered out; only filtered prompts can be restored."
ERROR_LAST_TURN = "Prompt {index}: the conversation must end with a user turn."
ERROR_TASK_TYPE = "Prompt {index}: task type {task_type!r} is not in this project's list ({types})."
ERROR_PROMPT_OTHER_PROJECT = "Prompt {id} does not exist in this project."
ERROR_COMPLETION_TEXT = "Completion {index}: `text` must not be empty."

ROLES = ("system", "user", "assistant", "tool")
# Function-calling data: an assistant turn may carry `tool_calls`, a tool turn answers one.
TOOL_KEYS = ("tool_calls", "tool_call_id", "name")
BATCH = 1000


class PromptError(DomainError):
    pass


def prompt_content_hash(*, messages: list[dict[str, Any]], system: str = "") -> str:
    """Hash of what the conversation says, for deduplication within a project: the pipeline's
    normalized hash (NFKC, case-folded, whitespace collapsed), so a re-import of a case or
    spacing variant finds the prompt it already has."""
    return content_hash(messages, system=system)


def _clean_messages(index: int, raw: Any, system: str) -> tuple[list[dict[str, str]], str]:
    if not isinstance(raw, list) or not raw:
        raise PromptError(ERROR_MESSAGES_SHAPE.format(index=index))
    messages = []
    for message in raw:
        if (
            not isinstance(message, Mapping)
            or message.get("role") not in ROLES
            or not isinstance(message.get("content"), str)
        ):
            raise PromptError(ERROR_MESSAGES_SHAPE.format(index=index))
        if message["role"] == "system":
            # A system turn inside the list moves to `system` so every prompt has one shape.
            system = system or message["content"]
            continue
        clean = {"role": message["role"], "content": message["content"]}
        clean.update({key: message[key] for key in TOOL_KEYS if message.get(key)})
        messages.append(clean)
    if not messages or messages[-1]["role"] != "user":
        raise PromptError(ERROR_LAST_TURN.format(index=index))
    return messages, system


@transaction.atomic
def prompt_bulk_create(*, project: Project, prompts: Iterable[Mapping[str, Any]]) -> list[Prompt]:
    """Create prompts (each: messages, system, task_type, source, collected_at, meta,
    completions=[{text, model_name, params}], and for the pipeline's audit `status`
    ("active" or "filtered") with `filter_reasons`). A conversation the project has already
    (same normalized content hash) is not duplicated: its existing prompt comes back in its
    place. All or nothing."""
    allowed = set(project.task_types or [])
    rows: list[Prompt] = []
    completions: list[list[Mapping[str, Any]]] = []
    for index, item in enumerate(prompts):
        system = item.get("system") or ""
        messages, system = _clean_messages(index, item.get("messages"), system)
        task_type = item.get("task_type") or ""
        if task_type and allowed and task_type not in allowed:
            raise PromptError(
                ERROR_TASK_TYPE.format(
                    index=index, task_type=task_type, types=", ".join(sorted(allowed))
                )
            )
        status = item.get("status") or PromptStatus.ACTIVE
        reasons = list(item.get("filter_reasons") or [])
        if status not in (PromptStatus.ACTIVE, PromptStatus.FILTERED) or (
            status == PromptStatus.FILTERED and not reasons
        ):
            raise PromptError(ERROR_STATUS.format(index=index))
        collected_at = item.get("collected_at")
        if isinstance(collected_at, str):
            collected_at = datetime.fromisoformat(collected_at)
        rows.append(
            Prompt(
                project=project,
                messages=messages,
                system=system,
                task_type=task_type,
                source=item.get("source") or "",
                collected_at=collected_at,
                meta=dict(item.get("meta") or {}),
                status=status,
                filter_reasons=reasons,
                content_hash=prompt_content_hash(messages=messages, system=system),
            )
        )
        completions.append(list(item.get("completions") or []))
    hashes = [row.content_hash for row in rows]
    existing = {
        p.content_hash: p for p in Prompt.objects.filter(project=project, content_hash__in=hashes)
    }
    new: dict[str, Prompt] = {}
    for row in rows:
        if row.content_hash not in existing and row.content_hash not in new:
            new[row.content_hash] = row
    Prompt.objects.bulk_create(list(new.values()), batch_size=BATCH)
    by_hash = {**existing, **new}
    result = [by_hash[h] for h in hashes]
    pending = []
    for prompt, items in zip(result, completions, strict=True):
        pending.extend({**c, "prompt": prompt.pk} for c in items)
    if pending:
        completion_bulk_create(project=project, completions=pending)
    return result


@transaction.atomic
def prompt_restore(*, prompt: Prompt, user: AbstractBaseUser | None = None) -> Prompt:
    """Bring a filtered prompt back. Its reasons stay for the audit, with who restored it."""
    prompt = Prompt.objects.select_for_update().get(pk=prompt.pk)
    if prompt.status != PromptStatus.FILTERED:
        raise PromptError(ERROR_NOT_FILTERED.format(id=prompt.pk))
    prompt.status = PromptStatus.ACTIVE
    prompt.meta = {
        **prompt.meta,
        "restored": {
            "at": timezone.now().isoformat(),
            "by": getattr(user, "username", ""),
            "reasons": prompt.filter_reasons,
        },
    }
    prompt.save(update_fields=["status", "meta"])
    return prompt


@transaction.atomic
def completion_bulk_create(
    *,
    project: Project,
    completions: Iterable[Mapping[str, Any]],
    author: AbstractBaseUser | None = None,
) -> list[Completion]:
    """Create candidate answers: each {prompt (id), text, model_name, params, meta}."""
    items = list(completions)
    prompt_ids = {int(c["prompt"]) for c in items}
    known = set(
        Prompt.objects.filter(project=project, pk__in=prompt_ids).values_list("pk", flat=True)
    )
    rows = []
    for index, item in enumerate(items):
        if int(item["prompt"]) not in known:
            raise PromptError(ERROR_PROMPT_OTHER_PROJECT.format(id=item["prompt"]))
        text = item.get("text")
        if isinstance(text, str):
            # PostgreSQL text cannot hold NUL; sampled model output sometimes contains it.
            text = text.replace("\x00", "")
        if not isinstance(text, str) or not text.strip():
            raise PromptError(ERROR_COMPLETION_TEXT.format(index=index))
        rows.append(
            Completion(
                prompt_id=int(item["prompt"]),
                text=text,
                model_name=item.get("model_name") or "",
                author=author,
                params=dict(item.get("params") or {}),
                meta=dict(item.get("meta") or {}),
            )
        )
    return Completion.objects.bulk_create(rows, batch_size=BATCH)
