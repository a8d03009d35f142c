"""Fill a judge template's `{variable}` placeholders. Only the names in VARIABLES are
placeholders; any other braces (a JSON example, say) are left as written."""

from __future__ import annotations

import hashlib
import re

VARIABLES = {
    "question": "the user's text of the judged turn",
    "answer": "the graded answer at the judged turn (single grading)",
    "answer_a": "the answer shown first at the judged turn",
    "answer_b": "the answer shown second at the judged turn",
    "reference": "the gold reference answer at the judged turn",
    "conversation": "the whole conversation up to the judged turn (single grading)",
    "conversation_a": "the conversation with the first-shown assistant",
    "conversation_b": "the conversation with the second-shown assistant",
    "reference_conversation": "the conversation with the reference answers",
    "category": "the question's category",
    "dimensions": "the dimensions to grade for the question's category, one per line",
    "rubric": "the template's rubric: the scale, each criterion and the anchor of each point",
}
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def template_version(
    *, system_prompt: str, prompt: str, parser: str, dimensions: dict, rubric: dict | None = None
) -> str:
    """A hash of everything that makes the template mean what it means. A template without a
    rubric hashes as before rubrics existed, so its cached judgments stay valid."""
    import json

    parts = [system_prompt, prompt, parser, dimensions] + ([rubric] if rubric else [])
    blob = json.dumps(parts, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def unknown_variables(text: str) -> list[str]:
    return sorted({name for name in _PLACEHOLDER.findall(text) if name not in VARIABLES})


def render(text: str, values: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(
        lambda m: values.get(m.group(1), m.group(0)) if m.group(1) in VARIABLES else m.group(0),
        text,
    )


def conversation(user_turns: list[str], assistant_turns: list[str], *, label: str) -> str:
    parts = []
    for user, assistant in zip(user_turns, assistant_turns, strict=False):
        parts.append(f"### User:\n{user}\n\n### {label}:\n{assistant}")
    return "\n\n".join(parts)
