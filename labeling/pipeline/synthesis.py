"""Synthesis through `flywheel.llm`: self-instruct, rewrites, drafts and ranking candidates.

Every function takes an `LLMClient`, returns dataclasses (`SynthesisRun`, `AnswerRun`) with the
calls, tokens and cost of the run, and reports each failed item with its reason. Transient
errors are retried by the client; what still fails is listed, never dropped.
Generated prompts are `ParsedPrompt`s with `source` "synthesis:<stage>" and, for rewrites,
`meta["origin"]`: the content hash of the prompt they came from.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from flywheel.llm import LLMClient, LLMError

from .dedup import NearDuplicateIndex, rouge_l
from .records import Completion, ParsedPrompt, PipelineError
from .synthesis_base import Dropped, Failure, Pricing, RunUsage, SynthesisRun, parallel_map

ROUGE_L = "rouge_l"
MINHASH = "minhash"

ERROR_NOT_A_LIST = "the reply has no list under {key!r}"
ERROR_NO_PROMPT = "the reply has no 'prompt' text"
ERROR_UNKNOWN_REWRITE = "unknown rewrite {kind!r}; use one of {kinds}"
ERROR_NO_GENERATORS = "give at least one generator (model and sampling settings)"
ERROR_BAD_SIMILARITY = "similarity must be 'rouge_l' or 'minhash'"
DROPPED_SIMILAR = "too similar to an existing prompt ({measure} {score:.2f} ≥ {threshold:.2f})"
DROPPED_REPEATED = "the model repeated a prompt it already gave"

SELF_INSTRUCT_SYSTEM = (
    "You write new, diverse user prompts for training an assistant. "
    "Each new prompt must be of the task type {task_type!r}, self-contained, different in topic "
    "and wording from the examples, and answerable by a text assistant. "
    'Reply with a JSON object {{"prompts": [ ... {n} strings ... ]}}.'
)
REWRITE_SYSTEM = (
    "You rewrite user prompts for a training set. Keep the intent and any given text; change "
    'the wording as instructed. Reply with a JSON object {"prompt": "..."}.'
)
DEFAULT_REWRITE_INSTRUCTION = "Rephrase the prompt as a different user would ask it."


def _key(prompt: ParsedPrompt) -> str:
    return prompt.content_hash


# -- self-instruct -----------------------------------------------------------------------------


def self_instruct(
    client: LLMClient,
    *,
    seeds: Sequence[str],
    task_type: str,
    count: int,
    pool: Sequence[str] = (),
    per_call: int = 5,
    examples_per_call: int = 3,
    similarity: str = ROUGE_L,
    threshold: float = 0.7,
    max_calls: int | None = None,
    temperature: float = 1.0,
    pricing: Pricing | None = None,
    seed: int = 0,
) -> SynthesisRun:
    """Up to `count` new prompts of `task_type` from seed examples (Self-Instruct).

    A candidate is dropped when it is at least `threshold` similar to a seed, a pool prompt or
    an accepted one: ROUGE-L F1 (exact, O(pool) per candidate, as in the Self-Instruct paper) or
    the MinHash estimate of Jaccard over word 3-grams (sub-linear, for large pools).
    Calls go out in rounds, in parallel, until `count` is reached or `max_calls` spent.
    """
    if similarity not in (ROUGE_L, MINHASH):
        raise PipelineError(ERROR_BAD_SIMILARITY)
    run = SynthesisRun(usage=RunUsage(pricing=pricing))
    rng = random.Random(seed)
    existing = [*seeds, *pool]
    index = NearDuplicateIndex(threshold=threshold) if similarity == MINHASH else None
    if index is not None:
        for number, text in enumerate(existing):
            index.add(f"existing #{number}", text)
    accepted_texts: set[str] = set()
    budget = max_calls if max_calls is not None else 3 * -(-count // per_call)
    calls = 0

    def ask(call: tuple[int, list[str]]) -> tuple[int, list[str] | str]:
        number, examples = call
        listing = "\n".join(f"{i}. {e}" for i, e in enumerate(examples, start=1))
        messages = [
            {
                "role": "system",
                "content": SELF_INSTRUCT_SYSTEM.format(task_type=task_type, n=per_call),
            },
            {"role": "user", "content": f"Examples:\n{listing}\n\nWrite {per_call} new prompts."},
        ]
        try:
            data, result = client.chat_json(messages, temperature=temperature, seed=seed + number)
        except LLMError as exc:
            return number, str(exc)
        run.usage.add(result)
        items = data.get("prompts") if isinstance(data, dict) else None
        if not isinstance(items, list):
            return number, ERROR_NOT_A_LIST.format(key="prompts")
        return number, [str(i).strip() for i in items if isinstance(i, str) and i.strip()]

    while len(run.prompts) < count and calls < budget:
        wanted = min(budget - calls, -(-(count - len(run.prompts)) // per_call))
        batch = []
        for _ in range(wanted):
            calls += 1
            sample = rng.sample(list(seeds), min(examples_per_call, len(seeds))) if seeds else []
            batch.append((calls, sample))
        for number, outcome in parallel_map(ask, batch, workers=client.config.max_concurrency):
            if isinstance(outcome, str):
                run.fail(f"call {number}", outcome)
                continue
            for text in outcome:
                if len(run.prompts) >= count:
                    break
                reason = _too_similar(text, existing, index, similarity, threshold, accepted_texts)
                if reason:
                    run.dropped.append(Dropped(text=text, reason=reason))
                    continue
                accepted_texts.add(text.casefold())
                existing.append(text)
                run.prompts.append(
                    ParsedPrompt(
                        messages=[{"role": "user", "content": text}],
                        source="synthesis:self_instruct",
                        task_type=task_type,
                        meta={"generator": client.config.model, "call": number},
                    )
                )
    return run


def _too_similar(
    text: str,
    existing: list[str],
    index: NearDuplicateIndex | None,
    similarity: str,
    threshold: float,
    accepted: set[str],
) -> str | None:
    if text.casefold() in accepted:
        return DROPPED_REPEATED
    if index is not None:
        found = index.add(f"generated #{len(existing)}", text)
        if found:
            return DROPPED_SIMILAR.format(
                measure="MinHash Jaccard", score=found.similarity, threshold=threshold
            )
        return None
    best = max((rouge_l(text, other) for other in existing), default=0.0)
    if best >= threshold:
        return DROPPED_SIMILAR.format(measure="ROUGE-L", score=best, threshold=threshold)
    return None


# -- heuristic rewrites ------------------------------------------------------------------------

STYLES = ("formal", "casual", "concise", "step-by-step", "ELI5 (explain like I'm five)")
PERSONAS = (
    "a patient high-school teacher",
    "a senior software engineer",
    "a busy product manager",
    "a careful medical librarian",
    "a friendly travel guide",
)
LENGTHS = (50, 100, 200)


def _markdown_table(text: str, rng: random.Random) -> tuple[str, str, dict[str, Any]]:
    return text + "\n\nPresent the answer as a Markdown table with a header row.", "", {}


def _json_output(text: str, rng: random.Random) -> tuple[str, str, dict[str, Any]]:
    suffix = (
        '\n\nAnswer only with a JSON object with the keys "answer" (string) and '
        '"explanation" (string), and no text outside it.'
    )
    return text + suffix, "", {}


def _length(text: str, rng: random.Random) -> tuple[str, str, dict[str, Any]]:
    words = rng.choice(LENGTHS)
    return text + f"\n\nAnswer in at most {words} words.", "", {"words": words}


def _style(text: str, rng: random.Random) -> tuple[str, str, dict[str, Any]]:
    style = rng.choice(STYLES)
    return text + f"\n\nWrite the answer in a {style} style.", "", {"style": style}


def _persona(text: str, rng: random.Random) -> tuple[str, str, dict[str, Any]]:
    persona = rng.choice(PERSONAS)
    return text, f"You are {persona}. Answer as they would.", {"persona": persona}


HEURISTIC_REWRITES = {
    "markdown_table": _markdown_table,
    "json_output": _json_output,
    "length": _length,
    "style": _style,
    "persona": _persona,
}


def rewrite_heuristic(
    prompts: Sequence[ParsedPrompt], *, kinds: Sequence[str] = tuple(HEURISTIC_REWRITES)
) -> list[ParsedPrompt]:
    """Rule-based variants of each prompt: one per kind, linked to its origin.

    The rewrite changes the last user turn (or the system text, for a persona). The random
    choices (which style, which persona) are seeded by the origin's hash, so running it again
    gives the same variants and a re-import adds nothing.
    """
    for kind in kinds:
        if kind not in HEURISTIC_REWRITES:
            raise PipelineError(
                ERROR_UNKNOWN_REWRITE.format(kind=kind, kinds=", ".join(HEURISTIC_REWRITES))
            )
    variants = []
    for prompt in prompts:
        origin = _key(prompt)
        last_user = max(i for i, m in enumerate(prompt.messages) if m["role"] == "user")
        for kind in kinds:
            rng = random.Random(int(hashlib.sha256(f"{origin}:{kind}".encode()).hexdigest(), 16))
            text, system, params = HEURISTIC_REWRITES[kind](
                prompt.messages[last_user]["content"], rng
            )
            messages = [dict(m) for m in prompt.messages]
            messages[last_user]["content"] = text
            variants.append(
                replace(
                    prompt,
                    messages=messages,
                    system=system or prompt.system,
                    source="synthesis:rewrite",
                    completions=[],
                    meta={"origin": origin, "rewrite": kind, **params},
                    line=0,
                )
            )
    return variants


def rewrite_llm(
    client: LLMClient,
    prompts: Sequence[ParsedPrompt],
    *,
    instruction: str = DEFAULT_REWRITE_INSTRUCTION,
    temperature: float = 0.7,
    pricing: Pricing | None = None,
    on_item: Callable[[], None] | None = None,
) -> SynthesisRun:
    """An LLM rewrite of each prompt's last user turn, linked to its origin; `on_item()` as
    each reply comes back (in the calling thread)."""
    run = SynthesisRun(usage=RunUsage(pricing=pricing))

    def one(prompt: ParsedPrompt) -> ParsedPrompt | tuple[str, str]:
        origin = _key(prompt)
        last_user = max(i for i, m in enumerate(prompt.messages) if m["role"] == "user")
        messages = [
            {"role": "system", "content": REWRITE_SYSTEM},
            {
                "role": "user",
                "content": f"Instruction: {instruction}\n\nPrompt:\n"
                + prompt.messages[last_user]["content"],
            },
        ]
        try:
            data, result = client.chat_json(messages, temperature=temperature)
        except LLMError as exc:
            return origin, str(exc)
        run.usage.add(result)
        text = data.get("prompt") if isinstance(data, dict) else None
        if not isinstance(text, str) or not text.strip():
            return origin, ERROR_NO_PROMPT
        new_messages = [dict(m) for m in prompt.messages]
        new_messages[last_user]["content"] = text.strip()
        return replace(
            prompt,
            messages=new_messages,
            source="synthesis:rewrite",
            completions=[],
            meta={"origin": origin, "rewrite": "llm", "instruction": instruction,
                  "generator": result.model},
            line=0,
        )  # fmt: skip

    workers = client.config.max_concurrency
    for outcome in parallel_map(one, list(prompts), workers=workers, on_item=on_item):
        if isinstance(outcome, tuple):
            run.fail(*outcome)
        else:
            run.prompts.append(outcome)
    return run


# -- answers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Generator:
    """One way to produce an answer: a model (None: the client's) and sampling settings.

    `client` points a generator at another server; None uses the client given to the call.
    """

    model: str | None = None
    temperature: float = 0.7
    top_p: float | None = None
    max_tokens: int | None = None
    client: LLMClient | None = None

    def params(self) -> dict[str, Any]:
        values: dict[str, Any] = {"temperature": self.temperature}
        if self.top_p is not None:
            values["top_p"] = self.top_p
        if self.max_tokens is not None:
            values["max_tokens"] = self.max_tokens
        return values


@dataclass
class AnswerRun:
    answers: dict[str, list[Completion]] = field(default_factory=dict)  # prompt hash -> answers
    failures: list[Failure] = field(default_factory=list)
    usage: RunUsage = field(default_factory=RunUsage)


def answers_draft(
    client: LLMClient,
    prompts: Sequence[ParsedPrompt],
    *,
    model: str | None = None,
    temperature: float = 0.3,
    max_tokens: int | None = None,
    pricing: Pricing | None = None,
    on_item: Callable[[], None] | None = None,
) -> AnswerRun:
    """One draft answer per prompt from a strong model: the demonstration labelers edit."""
    generator = Generator(model=model, temperature=temperature, max_tokens=max_tokens)
    return answers_candidates(
        client, prompts, generators=[generator], k=1, pricing=pricing, on_item=on_item
    )


def answers_candidates(
    client: LLMClient,
    prompts: Sequence[ParsedPrompt],
    *,
    generators: Sequence[Generator],
    k: int,
    pricing: Pricing | None = None,
    on_item: Callable[[], None] | None = None,
) -> AnswerRun:
    """K candidate answers per prompt for ranking tasks.

    Candidate j comes from generator j mod N with seed j, so N models or sampling settings
    share the K slots and a rerun asks for the same thing. A failed candidate is listed under
    "<prompt hash>#<j>"; the prompt keeps the candidates that did arrive. `on_item` is called
    as each of the len(prompts) x K answers comes back (or fails).
    """
    if not generators:
        raise PipelineError(ERROR_NO_GENERATORS)
    run = AnswerRun(usage=RunUsage(pricing=pricing))
    jobs = [(prompt, j) for prompt in prompts for j in range(k)]

    def one(job: tuple[ParsedPrompt, int]) -> tuple[str, int, Completion | str]:
        prompt, j = job
        generator = generators[j % len(generators)]
        chat = generator.client or client
        messages = ([{"role": "system", "content": prompt.system}] if prompt.system else []) + [
            dict(m) for m in prompt.messages
        ]
        params = generator.params()
        extra = {"top_p": params["top_p"]} if "top_p" in params else None
        try:
            result = chat.chat(
                messages,
                model=generator.model,
                temperature=generator.temperature,
                max_tokens=generator.max_tokens,
                seed=j,
                extra=extra,
            )
        except LLMError as exc:
            return _key(prompt), j, str(exc)
        run.usage.add(result)
        recorded = {**params, "seed": j, "finish_reason": result.finish_reason}
        return _key(prompt), j, Completion(text=result.text, model=result.model, params=recorded)

    workers = client.config.max_concurrency * max(1, len({id(g.client) for g in generators}))
    for key, j, outcome in parallel_map(one, jobs, workers=workers, on_item=on_item):
        answers = run.answers.setdefault(key, [])
        if isinstance(outcome, str):
            run.failures.append(Failure(key=f"{key}#{j}", reason=outcome))
            run.usage.failures += 1
        else:
            answers.append(outcome)
    return run
