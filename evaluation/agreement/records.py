"""Plain records the agreement computation works on: one pairwise vote, one single-answer score.

They carry no database identity; ``ref`` is an opaque handle (a primary key, a URL) that the
caller may set so that a disagreement can link back to its judgment row.
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable
from dataclasses import dataclass

MODEL_A = "model_a"
MODEL_B = "model_b"
TIE = "tie"
WINNERS = (MODEL_A, MODEL_B, TIE, "tie (bothbad)", "tie (inconsistent)")

_TRAILING_NUMBER = re.compile(r"_\d+$")
# Groups named after a model or a judging mode: a run's judge, MT-Bench's gpt4_pair /
# gpt4_single, an imported claude-3-judge.
JUDGE_GROUP = re.compile(
    r"judge|llm|^(gpt|claude|llama|gemini|mistral|mixtral|qwen|palm|deepseek|command)"
    r"|[_-](pair|single)$",
    re.IGNORECASE,
)


def json_number(value: float | None) -> float | None:
    """JSON has no NaN: an undefined statistic is null."""
    return None if value is None or math.isnan(value) else float(value)


def rater_group(rater: str) -> str:
    """The rater group: the rater name without a trailing ``_<number>``.

    ``expert_12`` -> ``expert``, ``author_3`` -> ``author``, ``gpt4_pair`` stays ``gpt4_pair``.
    """
    return _TRAILING_NUMBER.sub("", rater)


def looks_like_judge(group: str) -> bool:
    """A group of LLM verdicts: a run's `judge`, or one named after a model (`gpt4_pair`,
    `gpt4_single`, `claude-judge`); everything else is taken for people."""
    return bool(JUDGE_GROUP.search(group))


def winner_label(winner: str) -> str:
    """Collapse every kind of tie to the one label ``tie``."""
    return TIE if winner.startswith(TIE) else winner


def flip_winner(winner: str) -> str:
    """The same vote seen with the two models swapped."""
    if winner == MODEL_A:
        return MODEL_B
    if winner == MODEL_B:
        return MODEL_A
    return winner


@dataclass(frozen=True, slots=True)
class Vote:
    """One rater's pairwise verdict on one item (question, model pair, turn)."""

    question_id: Hashable
    model_a: str
    model_b: str
    winner: str  # one of WINNERS
    rater: str
    turn: int
    category: str | None = None
    ref: Hashable | None = None

    @property
    def group(self) -> str:
        return rater_group(self.rater)

    def canonical(self) -> tuple[tuple[Hashable, str, str, int], str]:
        """``((question_id, first model, second model, turn), winner)`` with the models in
        sorted order and the winner flipped when the vote listed them the other way round."""
        if self.model_a <= self.model_b:
            return (self.question_id, self.model_a, self.model_b, self.turn), self.winner
        return (self.question_id, self.model_b, self.model_a, self.turn), flip_winner(self.winner)


@dataclass(frozen=True, slots=True)
class Score:
    """One rater's single-answer score for one model's answer to one question and turn."""

    question_id: Hashable
    model: str
    turn: int
    rater: str
    score: float
    trial: int | None = None
    category: str | None = None
    ref: Hashable | None = None

    @property
    def group(self) -> str:
        return rater_group(self.rater)
