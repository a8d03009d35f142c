"""Row parsers: one function per format turns a decoded record (a dict) into a `ParsedPrompt`.

A parser raises `BadRow` with a reason a person can act on; the reader turns that into a
`RowError` carrying the line number. `detect_format` names the format from a record's keys.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .records import Completion, ParsedPrompt

OPENAI = "openai"
SHAREGPT = "sharegpt"
ALPACA = "alpaca"
HH_RLHF = "hh_rlhf"
MT_BENCH = "mt_bench"
PROMPTS = "prompts"
LOGS = "logs"
FORMATS = (OPENAI, SHAREGPT, ALPACA, HH_RLHF, MT_BENCH, PROMPTS, LOGS)

ERROR_NOT_OBJECT = "the row is not a JSON object"
ERROR_MISSING = "missing field {field!r}"
ERROR_EMPTY = "field {field!r} is empty"
ERROR_TYPE = "field {field!r} must be {kind}"
ERROR_ROLE = "unknown role {role!r} in message {index}"
ERROR_NO_USER = "the conversation has no user turn"
ERROR_TRANSCRIPT = "{field!r} is not a Human/Assistant transcript: {reason}"
ERROR_HH_MISMATCH = "'chosen' and 'rejected' differ before their last answer"
ERROR_TIMESTAMP = "cannot read the timestamp {value!r}"
ERROR_NO_TIMESTAMP = "no timestamp (a time window needs one)"
ERROR_UNDETECTED = (
    "cannot tell the format from fields {fields}; name it with --format (one of {formats})"
)
ERROR_UNKNOWN_FORMAT = "unknown format {format!r}; use one of {formats}"

_TIMESTAMP_FIELDS = ("timestamp", "ts", "created_at", "time", "collected_at")
_USER_ID_FIELDS = ("user_id", "user", "uid")
_PROMPT_FIELDS = ("prompt", "text", "question", "input")
_RESPONSE_FIELDS = ("response", "completion", "output", "answer")

_SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bard": "assistant",
    "bing": "assistant",
    "model": "assistant",
    "system": "system",
    "tool": "tool",
    "function": "tool",
}
_OPENAI_ROLES = {"system", "developer", "user", "assistant", "tool"}

# MT-Bench's eight categories mapped onto Flywheel task types.
MT_BENCH_TASK_TYPES = {
    "writing": "creative",
    "roleplay": "creative",
    "reasoning": "qa",
    "math": "math",
    "coding": "code",
    "extraction": "extraction",
    "stem": "qa",
    "humanities": "qa",
}

_HH_TURN = re.compile(r"\n\n(Human|Assistant):")


class BadRow(ValueError):
    pass


def detect_format(record: dict[str, Any]) -> str:
    """Name the format from one record's fields (the first record of a file)."""
    keys = set(record)
    has_time = any(k in keys for k in _TIMESTAMP_FIELDS)
    has_user = any(k in keys for k in _USER_ID_FIELDS)
    if {"chosen", "rejected"} <= keys:
        return HH_RLHF
    if "conversations" in keys:
        return SHAREGPT
    if "turns" in keys:
        return MT_BENCH
    if "instruction" in keys:
        return ALPACA
    if has_time and has_user and ("messages" in keys or keys & set(_PROMPT_FIELDS)):
        return LOGS
    if "messages" in keys:
        return OPENAI
    if keys & set(_PROMPT_FIELDS):
        return PROMPTS
    raise BadRow(
        ERROR_UNDETECTED.format(fields=sorted(keys) or "(none)", formats=", ".join(FORMATS))
    )


def parse_record(fmt: str, record: Any, *, source: str = "", line: int = 0) -> ParsedPrompt:
    if fmt not in _PARSERS:
        raise BadRow(ERROR_UNKNOWN_FORMAT.format(format=fmt, formats=", ".join(FORMATS)))
    if not isinstance(record, dict):
        raise BadRow(ERROR_NOT_OBJECT)
    prompt = _PARSERS[fmt](record)
    prompt.source = source
    prompt.line = line
    return prompt


# -- one parser per format ---------------------------------------------------------------------


def parse_openai(record: dict[str, Any]) -> ParsedPrompt:
    messages = _as_list(record, "messages")
    chat = []
    for index, message in enumerate(messages, start=1):
        if not isinstance(message, dict):
            raise BadRow(ERROR_TYPE.format(field=f"messages[{index}]", kind="an object"))
        role = message.get("role")
        if role not in _OPENAI_ROLES:
            raise BadRow(ERROR_ROLE.format(role=role, index=index))
        chat.append(
            {"role": "system" if role == "developer" else role, "content": _content(message)}
        )
    prompt = _from_chat(chat, model=str(record.get("model") or ""))
    _copy_meta(prompt, record, exclude={"messages", "model"})
    return prompt


def parse_sharegpt(record: dict[str, Any]) -> ParsedPrompt:
    turns = _as_list(record, "conversations")
    chat = []
    for index, turn in enumerate(turns, start=1):
        if not isinstance(turn, dict):
            raise BadRow(ERROR_TYPE.format(field=f"conversations[{index}]", kind="an object"))
        speaker = str(turn.get("from", "")).lower()
        if speaker not in _SHAREGPT_ROLES:
            raise BadRow(ERROR_ROLE.format(role=turn.get("from"), index=index))
        value = turn.get("value")
        if not isinstance(value, str):
            raise BadRow(ERROR_TYPE.format(field=f"conversations[{index}].value", kind="text"))
        chat.append({"role": _SHAREGPT_ROLES[speaker], "content": value})
    if record.get("system"):
        chat.insert(0, {"role": "system", "content": str(record["system"])})
    prompt = _from_chat(chat, model=str(record.get("model") or ""))
    _copy_meta(prompt, record, exclude={"conversations", "system", "model"})
    return prompt


def parse_alpaca(record: dict[str, Any]) -> ParsedPrompt:
    instruction = _text(record, "instruction")
    extra = record.get("input") or ""
    if not isinstance(extra, str):
        raise BadRow(ERROR_TYPE.format(field="input", kind="text"))
    content = f"{instruction}\n\n{extra}" if extra.strip() else instruction
    output = record.get("output") or ""
    completions = [Completion(text=output)] if isinstance(output, str) and output.strip() else []
    prompt = ParsedPrompt(messages=[{"role": "user", "content": content}], completions=completions)
    _copy_meta(prompt, record, exclude={"instruction", "input", "output"})
    return prompt


def parse_hh_rlhf(record: dict[str, Any]) -> ParsedPrompt:
    chosen = _transcript(_text(record, "chosen", strip=False), "chosen")
    rejected = _transcript(_text(record, "rejected", strip=False), "rejected")
    if chosen[:-1] != rejected[:-1]:
        raise BadRow(ERROR_HH_MISMATCH)
    prompt = ParsedPrompt(
        messages=chosen[:-1],
        completions=[
            Completion(text=chosen[-1]["content"], preferred=True),
            Completion(text=rejected[-1]["content"], preferred=False),
        ],
    )
    _copy_meta(prompt, record, exclude={"chosen", "rejected"})
    return prompt


def parse_mt_bench(record: dict[str, Any]) -> ParsedPrompt:
    turns = _as_list(record, "turns")
    if not all(isinstance(t, str) and t.strip() for t in turns):
        raise BadRow(ERROR_TYPE.format(field="turns", kind="a list of non-empty texts"))
    references = record.get("reference") or []
    if isinstance(references, str):
        references = [references]
    category = str(record.get("category") or "")
    # The later turns are asked after the model has answered the first one, so they cannot be
    # messages yet; they travel in meta for the multi-turn task to play in order.
    meta: dict[str, Any] = {"followup_turns": turns[1:], "category": category}
    if "question_id" in record:
        meta["question_id"] = record["question_id"]
    if references:
        meta["references"] = [str(r) for r in references]
    return ParsedPrompt(
        messages=[{"role": "user", "content": turns[0]}],
        task_type=MT_BENCH_TASK_TYPES.get(category, ""),
        reference=str(references[0]) if references else "",
        meta=meta,
    )


def parse_prompts(record: dict[str, Any]) -> ParsedPrompt:
    field_name = next((f for f in _PROMPT_FIELDS if f in record), "prompt")
    prompt = ParsedPrompt(messages=[{"role": "user", "content": _text(record, field_name)}])
    if record.get("system"):
        prompt.system = str(record["system"])
    if record.get("task_type"):
        prompt.task_type = str(record["task_type"])
    _copy_meta(prompt, record, exclude={field_name, "system", "task_type"})
    return prompt


def parse_logs(record: dict[str, Any]) -> ParsedPrompt:
    ts_field = next((f for f in _TIMESTAMP_FIELDS if record.get(f) not in (None, "")), None)
    if ts_field is None:
        raise BadRow(ERROR_MISSING.format(field="timestamp"))
    collected_at = parse_timestamp(record[ts_field])
    user_field = next((f for f in _USER_ID_FIELDS if record.get(f) not in (None, "")), None)
    if user_field is None:
        raise BadRow(ERROR_MISSING.format(field="user_id"))
    model = str(record.get("model") or "")
    if "messages" in record:
        prompt = parse_openai({"messages": record["messages"], "model": model})
        prompt.meta = {}
    else:
        prompt = parse_prompts({k: record[k] for k in _PROMPT_FIELDS if k in record})
    response_field = next((f for f in _RESPONSE_FIELDS if record.get(f)), None)
    if response_field and not prompt.completions:
        params = record.get("params") if isinstance(record.get("params"), dict) else {}
        prompt.completions = [
            Completion(text=str(record[response_field]), model=model, params=params)
        ]
    prompt.collected_at = collected_at
    prompt.meta["user_id"] = str(record[user_field])
    used = {ts_field, user_field, "messages", "model", "params", response_field, *_PROMPT_FIELDS}
    _copy_meta(prompt, record, exclude=used)
    return prompt


_PARSERS: dict[str, Callable[[dict[str, Any]], ParsedPrompt]] = {
    OPENAI: parse_openai,
    SHAREGPT: parse_sharegpt,
    ALPACA: parse_alpaca,
    HH_RLHF: parse_hh_rlhf,
    MT_BENCH: parse_mt_bench,
    PROMPTS: parse_prompts,
    LOGS: parse_logs,
}


def parse_timestamp(value: Any) -> datetime:
    """ISO 8601 (a trailing Z included) or Unix seconds/milliseconds; naive means UTC."""
    try:
        if isinstance(value, datetime):
            parsed = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            seconds = value / 1000 if value > 1e11 else value
            parsed = datetime.fromtimestamp(seconds, tz=UTC)
        elif isinstance(value, str) and re.fullmatch(r"\d{9,13}(\.\d+)?", value.strip()):
            return parse_timestamp(float(value))
        elif isinstance(value, str):
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        else:
            raise ValueError(value)
    except (ValueError, OverflowError, OSError) as exc:
        raise BadRow(ERROR_TIMESTAMP.format(value=value)) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# -- helpers -----------------------------------------------------------------------------------


def _from_chat(chat: list[dict[str, str]], *, model: str = "") -> ParsedPrompt:
    system = "\n\n".join(m["content"] for m in chat if m["role"] == "system")
    messages = [m for m in chat if m["role"] != "system"]
    completions = []
    # A trailing assistant turn is an answer to the conversation before it, not part of it.
    if messages and messages[-1]["role"] == "assistant":
        completions.append(Completion(text=messages.pop()["content"], model=model))
    if not any(m["role"] == "user" for m in messages):
        raise BadRow(ERROR_NO_USER)
    return ParsedPrompt(messages=messages, system=system, completions=completions)


def _transcript(text: str, field_name: str) -> list[dict[str, str]]:
    parts = _HH_TURN.split(text)
    if parts[0].strip():
        raise BadRow(ERROR_TRANSCRIPT.format(field=field_name, reason="text before the first turn"))
    turns = []
    for speaker, content in zip(parts[1::2], parts[2::2], strict=True):
        turns.append(
            {"role": "user" if speaker == "Human" else "assistant", "content": content.strip()}
        )
    if len(turns) < 2 or turns[-1]["role"] != "assistant":
        raise BadRow(
            ERROR_TRANSCRIPT.format(field=field_name, reason="it does not end with an answer")
        )
    if not any(t["role"] == "user" for t in turns[:-1]):
        raise BadRow(ERROR_NO_USER)
    return turns


def _as_list(record: dict[str, Any], field_name: str) -> list[Any]:
    if field_name not in record or record[field_name] is None:
        raise BadRow(ERROR_MISSING.format(field=field_name))
    value = record[field_name]
    if isinstance(value, str):  # CSV cells carry nested values as JSON text
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise BadRow(ERROR_TYPE.format(field=field_name, kind="a list")) from exc
    if not isinstance(value, list):
        raise BadRow(ERROR_TYPE.format(field=field_name, kind="a list"))
    if not value:
        raise BadRow(ERROR_EMPTY.format(field=field_name))
    return value


def _text(record: dict[str, Any], field_name: str, *, strip: bool = True) -> str:
    if field_name not in record or record[field_name] is None:
        raise BadRow(ERROR_MISSING.format(field=field_name))
    value = record[field_name]
    if not isinstance(value, str):
        raise BadRow(ERROR_TYPE.format(field=field_name, kind="text"))
    if not value.strip():
        raise BadRow(ERROR_EMPTY.format(field=field_name))
    return value.strip() if strip else value


def _content(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep the text ones
        texts = [
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        ]
        if texts:
            return "\n".join(texts)
    if content is None and message.get("role") == "assistant":
        return ""
    raise BadRow(ERROR_TYPE.format(field="content", kind="text or text parts"))


def _copy_meta(prompt: ParsedPrompt, record: dict[str, Any], *, exclude: set[Any]) -> None:
    for key, value in record.items():
        if key not in exclude and value not in (None, ""):
            prompt.meta[key] = _json_safe(value)


def _json_safe(value: Any) -> Any:
    """Meta is stored as JSON: Parquet timestamps and the like become text."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return json.loads(json.dumps(value, default=str))
