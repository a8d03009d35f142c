"""What every LLM-backed stage reports: usage (calls, tokens, cost) and per-item failures."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from flywheel.llm import ChatResult

from .records import ParsedPrompt

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Pricing:
    """US dollars per million tokens, as providers quote them."""

    input_per_million: float = 0.0
    output_per_million: float = 0.0

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (
            prompt_tokens * self.input_per_million + completion_tokens * self.output_per_million
        ) / 1_000_000


@dataclass
class RunUsage:
    calls: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    pricing: Pricing | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, result: ChatResult) -> None:
        with self._lock:
            self.calls += 1
            self.prompt_tokens += result.prompt_tokens
            self.completion_tokens += result.completion_tokens
            if self.pricing is not None:
                self.cost_usd += self.pricing.cost(result.prompt_tokens, result.completion_tokens)

    def as_dict(self) -> dict[str, float | int]:
        return {
            "calls": self.calls,
            "failures": self.failures,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": round(self.cost_usd, 6),
        }


@dataclass(frozen=True)
class Failure:
    """An item the stage could not produce, with the reason (kept, never dropped)."""

    key: str
    reason: str


@dataclass(frozen=True)
class Dropped:
    """A generated item left out on purpose (too similar to the pool), with why."""

    text: str
    reason: str


@dataclass
class SynthesisRun:
    """New prompts from one synthesis stage, with what was dropped, what failed and the usage."""

    prompts: list[ParsedPrompt] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    usage: RunUsage = field(default_factory=RunUsage)

    def fail(self, key: str, reason: str) -> None:
        self.failures.append(Failure(key=key, reason=reason))
        with self.usage._lock:
            self.usage.failures += 1


def parallel_map(
    fn: Callable[[T], R],
    items: list[T],
    *,
    workers: int,
    on_item: Callable[[], None] | None = None,
) -> list[R]:
    """`fn` over `items` on up to `workers` threads, results in input order.

    The client already bounds calls per server; the pool only keeps that many in flight.
    `on_item` is called once per result as it comes back, in the calling thread (progress
    writes to the database belong there, not in the pool's threads).
    """
    if not items:
        return []
    results: list[R] = []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(items)))) as pool:
        for result in pool.map(fn, items):
            results.append(result)
            if on_item is not None:
                on_item()
    return results
