"""Task type tagging: keyword/pattern rules, an LLM tagger held to a label set, and the list of
prompts on which the two disagree."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from flywheel.llm import LLMClient, LLMError

from .filters import count_tokens
from .synthesis_base import Failure, Pricing, RunUsage

CODE = "code"
MATH = "math"
SUMMARIZATION = "summarization"
QA = "qa"
EXTRACTION = "extraction"
CLASSIFICATION = "classification"
REWRITING = "rewriting"
BRAINSTORMING = "brainstorming"
CREATIVE = "creative"
FUNCTION_CALLING = "function_calling"
RAG = "rag"
LONG_CONTEXT = "long_context"
TASK_TYPES = (
    CODE, MATH, SUMMARIZATION, QA, EXTRACTION, CLASSIFICATION, REWRITING, BRAINSTORMING,
    CREATIVE, FUNCTION_CALLING, RAG, LONG_CONTEXT,
)  # fmt: skip

LONG_CONTEXT_TOKENS = 3000

ERROR_LABEL_NOT_ALLOWED = "the model answered {label!r}, which is not one of the labels"
ERROR_NO_LABEL = "the model's reply has no 'task_type'"


def _rule(task_type: str, weight: float, *alternatives: str, flags: int = re.IGNORECASE):
    return task_type, weight, re.compile("|".join(alternatives), flags)


# Each rule: (task type, weight, pattern). A prompt's type is the one with the highest total
# weight; ties go to the earlier type in TASK_TYPES order.
_RULES: tuple[tuple[str, float, re.Pattern[str]], ...] = (
    _rule(
        FUNCTION_CALLING, 3,
        r"\bfunction[ _]call(ing)?\b", r"\btool[ _]calls?\b",
        r"\bcall the \w+ (tool|function|api)\b", r'"tools"\s*:', r"\bavailable (tools|functions)\b",
    ),
    _rule(
        RAG, 3,
        r"\bbased (only )?on the (following|provided|given) (passages?|documents?|context)",
        r"\busing the (retrieved|provided) (passages?|documents?)",
        r"\[(doc|passage|source) ?\d+\]", r"\bcite the (sources?|passages?)\b",
    ),
    _rule(
        CODE, 3,
        r"```", r"\bdef \w+\(", r"\bclass \w+[:(]", r"#include", r"\bfunction \w+\(", r"=>",
        r"\bSELECT .+ FROM\b",
    ),
    _rule(
        CODE, 2,
        r"\b(python|javascript|typescript|java|c\+\+|rust|golang|sql|regex|bash|html|css)\b",
        r"\b(code|function|script|bug|debug|compile|algorithm|implement|refactor)\b",
        r"\b(stack ?trace|exception)\b",
    ),
    _rule(
        MATH, 3,
        r"\d\s*[-+*/^=]\s*\d",
        r"\b(solve|equation|integral|derivative|probability|prove|theorem|calculate|compute)\b",
        r"\b(how many|percent(age)?|sum of|factori[sz]e|polynomial|matrix|geometry|triangle)\b",
        r"\b(algebra|remainder|divided by|express \w+ in terms|arithmetic)\b",
        r"\$\d", r"\b[a-z]\s*[-+*/^]\s*[a-z]\b\s*=",
    ),
    _rule(
        SUMMARIZATION, 3,
        r"\b(summari[sz]e|summary|tl;?dr|condense|key points|main points|in a nutshell|gist)\b",
    ),
    _rule(
        EXTRACTION, 3,
        r"\b(extract|pull out|list all the|find all the|named entities|parse the)\b",
        r"\bidentify (all|the) (names|dates|entities|people|places)\b",
        r"\b(output|return|present) (it |them |the results )?in (json|csv|yaml)\b",
    ),
    _rule(
        CLASSIFICATION, 3,
        r"\b(classify|categori[sz]e|label (this|the|each)|sentiment|which category)\b",
        r"\b(is this (positive|negative|spam)|spam or not)\b",
    ),
    _rule(
        REWRITING, 3,
        r"\b(rewrite|rephrase|paraphrase|reword|proofread|edit (this|my|the)|translate)\b",
        r"\b(make (this|it) (more|less|sound)|simplify this|fix (the )?grammar)\b",
    ),
    _rule(
        BRAINSTORMING, 3,
        r"\b(brainstorm|ideas? for|suggest (some|a few|\d+)|list of (ideas|ways|names))\b",
        r"\b(come up with|what are some)\b",
    ),
    _rule(
        CREATIVE, 3,
        r"\bwrite (a|an|me a) (story|poem|song|haiku|limerick|novel|script|dialogue|blog post)\b",
        r"\b(poem|short story|fiction|lyrics|compose|role-?play|pretend (you are|to be))\b",
        r"\b(imagine|embody|persona|act as|picture yourself|take on the role|role of)\b",
        r"\b(draft|write) (a|an) (\w+ ){0,2}(email|letter|speech|essay|paragraph|headline)\b",
    ),
    _rule(
        QA, 1,
        r"\?\s*$",
        r"^\s*(what|who|when|where|why|how|which|is|are|does|do|can|should|explain|describe)\b",
        r"^\s*tell me\b",
        flags=re.IGNORECASE | re.MULTILINE,
    ),
)  # fmt: skip


@dataclass(frozen=True)
class RuleTag:
    task_type: str
    scores: dict[str, float]  # every type that matched, with its weight


def tag_rules(text: str, *, labels: Sequence[str] = TASK_TYPES) -> RuleTag:
    """The rule-based tag; falls back to qa (or the first label) when nothing matched."""
    allowed = set(labels)
    scores: dict[str, float] = {}
    if count_tokens(text) >= LONG_CONTEXT_TOKENS and LONG_CONTEXT in allowed:
        scores[LONG_CONTEXT] = 10.0  # a long document dominates whatever is asked of it
    for task_type, weight, pattern in _RULES:
        if task_type in allowed and pattern.search(text):
            scores[task_type] = scores.get(task_type, 0.0) + weight
    if not scores:
        fallback = QA if QA in allowed else labels[0]
        return RuleTag(task_type=fallback, scores={})
    order = {t: i for i, t in enumerate([LONG_CONTEXT, *TASK_TYPES, *labels])}
    best = max(scores, key=lambda t: (scores[t], -order[t]))
    return RuleTag(task_type=best, scores=scores)


# -- the LLM tagger ----------------------------------------------------------------------------

TAGGER_SYSTEM = (
    "You label user prompts with their task type for a training-data pipeline. "
    'Answer with a JSON object {{"task_type": LABEL}} where LABEL is exactly one of: {labels}. '
    "Definitions: code = write/fix/explain code; math = calculation or proof; summarization = "
    "shorten a given text; qa = a factual or advice question; extraction = pull structured "
    "facts from a given text; classification = assign a category or sentiment; rewriting = "
    "change the form of a given text (edit, translate, restyle); brainstorming = many ideas; "
    "creative = stories, poems, role-play; function_calling = answer by calling a given tool; "
    "rag = answer from given passages; long_context = a question about a long document."
)


@dataclass(frozen=True)
class LLMTag:
    key: str
    task_type: str


@dataclass
class LLMTagRun:
    tags: list[LLMTag] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    usage: RunUsage = field(default_factory=RunUsage)


def tag_llm(
    client: LLMClient,
    prompts: Sequence[tuple[str, str]],
    *,
    labels: Sequence[str] = TASK_TYPES,
    pricing: Pricing | None = None,
    max_chars: int = 6000,
    on_item: Callable[[], None] | None = None,
) -> LLMTagRun:
    """Tag (key, text) pairs with the LLM; a reply outside `labels` is a failure, not a tag.
    `on_item` is called, in the calling thread, as each prompt's reply comes back."""
    system = TAGGER_SYSTEM.format(labels=", ".join(labels))
    allowed = set(labels)
    run = LLMTagRun(usage=RunUsage(pricing=pricing))

    def one(item: tuple[str, str]) -> LLMTag | Failure:
        key, text = item
        try:
            data, result = client.chat_json(
                [
                    {"role": "system", "content": system},
                    {"role": "user", "content": text[:max_chars]},
                ],
                temperature=0.0,
            )
        except LLMError as exc:
            return Failure(key=key, reason=str(exc))
        run.usage.add(result)
        label = data.get("task_type") if isinstance(data, dict) else None
        if not isinstance(label, str):
            return Failure(key=key, reason=ERROR_NO_LABEL)
        label = label.strip().lower()
        if label not in allowed:
            return Failure(key=key, reason=ERROR_LABEL_NOT_ALLOWED.format(label=label))
        return LLMTag(key=key, task_type=label)

    workers = max(1, min(client.config.max_concurrency, len(prompts)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for outcome in pool.map(one, prompts):
            if isinstance(outcome, Failure):
                run.failures.append(outcome)
                run.usage.failures += 1
            else:
                run.tags.append(outcome)
            if on_item is not None:
                on_item()
    return run


@dataclass(frozen=True)
class Disagreement:
    key: str
    rule: str
    llm: str


def tag_disagreements(rule_tags: dict[str, str], llm_tags: Sequence[LLMTag]) -> list[Disagreement]:
    """Prompts where the rules and the LLM chose different types (the LLM's order)."""
    return [
        Disagreement(key=tag.key, rule=rule_tags[tag.key], llm=tag.task_type)
        for tag in llm_tags
        if tag.key in rule_tags and rule_tags[tag.key] != tag.task_type
    ]
