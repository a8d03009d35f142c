"""The rows every pipeline stage passes along: a parsed prompt, its completions, a bad row."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flywheel.errors import DomainError

ROLES = ("system", "user", "assistant", "tool")


class PipelineError(DomainError):
    """A pipeline input the caller must fix (unknown format, bad tool schema...)."""


_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Completion:
    """A candidate answer that came with the prompt (HH-RLHF pairs, logs, Alpaca outputs)."""

    text: str
    model: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    preferred: bool | None = None  # True for HH-RLHF `chosen`, False for `rejected`


@dataclass
class ParsedPrompt:
    """One prompt as read from a file or made by synthesis.

    `messages` is the conversation up to the turn to be answered, as OpenAI chat messages
    (`{"role", "content"}`), without the system message, which lives in `system`.
    `line` is the 1-based line (JSONL), record (CSV, after the header) or row (Parquet) number.
    """

    messages: list[dict[str, str]]
    source: str = ""
    system: str = ""
    task_type: str = ""
    collected_at: datetime | None = None
    completions: list[Completion] = field(default_factory=list)
    reference: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    line: int = 0

    @property
    def text(self) -> str:
        """What the filters, the tagger and dedup read: the user turns, in order."""
        return "\n\n".join(m["content"] for m in self.messages if m["role"] == "user")

    @property
    def content_hash(self) -> str:
        return content_hash(self.messages, system=self.system)


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str


def normalize_text(text: str) -> str:
    """Unicode NFKC, case-folded, whitespace collapsed: what "the same prompt" means."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def content_hash(messages: list[dict[str, str]], *, system: str = "") -> str:
    """SHA-256 of the normalized conversation (roles and texts, plus system).

    Completions are not part of it: the same prompt imported twice, once with answers and once
    without, is one prompt.
    """
    payload = [["system", normalize_text(system)]] if system.strip() else []
    payload += [[m["role"], normalize_text(m["content"])] for m in messages]
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(data.encode()).hexdigest()


def prompt_payload(prompt: ParsedPrompt) -> dict[str, Any]:
    """The mapping `labeling.services.prompt_bulk_create` takes for one prompt.

    Fields the Prompt model has no column for travel in `meta`: the reference answer, the
    source line and, for completions, whether the data marked them preferred.
    """
    meta = dict(prompt.meta)
    if prompt.reference:
        meta["reference"] = prompt.reference
    if prompt.line:
        meta["line"] = prompt.line
    return {
        "messages": [dict(m) for m in prompt.messages],
        "system": prompt.system,
        "task_type": prompt.task_type,
        "source": prompt.source,
        "collected_at": prompt.collected_at,
        "meta": meta,
        "completions": [
            {
                "text": c.text,
                "model_name": c.model,
                "params": dict(c.params),
                "meta": {} if c.preferred is None else {"preferred": c.preferred},
            }
            for c in prompt.completions
            if c.text.strip()
        ],
    }
