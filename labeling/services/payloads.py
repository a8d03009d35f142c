"""Validation and normal form of annotation payloads, and the preference pairs they imply.

Pure functions over plain data (no queries), so that snapshots, quality statistics and the
evaluation app read payloads one way. Shapes are documented in labeling.models.annotations.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flywheel.errors import DomainError
from labeling.models import Flag, Project, TaskKind
from labeling.services.rubric import Rubric, rubric_of_project

ERROR_NOT_A_DICT = "The answer must be a JSON object."
ERROR_TEXT_REQUIRED = "Write the answer: `text` must not be empty."
ERROR_DRAFT_UNKNOWN = "`draft_completion` {id} is not one of this task's answers ({ids})."
ERROR_RANKING_SHAPE = (
    "`ranking` must list the answers best to worst, as ids or as tiers of ids (lists) for ties."
)
ERROR_RANKING_NOT_PERMUTATION = (
    "The ranking must contain each of this task's answers exactly once ({ids}); got {got}."
)
ERROR_TIES_FORBIDDEN = "This project does not allow ties: put every answer in its own place."
ERROR_CHOICE = "`choice` must be one of a, b, tie or both_bad."
ERROR_CHOICE_WRONG_KIND = "This is a {kind} task; `choice` belongs to pairwise tasks."
ERROR_RANKING_WRONG_KIND = "This is a {kind} task; `ranking` belongs to ranking tasks."
ERROR_PAIRWISE_TWO = "A pairwise task needs exactly two answers; this one has {n}."
ERROR_STRENGTH = (
    "`strength` must be 1 (slightly), 2 (clearly) or 3 (much) better, and only for a or b."
)
ERROR_SCORES_SHAPE = "`scores` must map each answer id to {{criterion: score}}."
ERROR_SCORES_MISSING = "Score every answer on every criterion; missing: {missing}."
ERROR_SCORE_RANGE = "Score {score!r} for {criterion!r} is off the scale {lo} to {hi}."
ERROR_CRITERION_UNKNOWN = "Unknown criterion {criterion!r}; this task scores {criteria}."
ERROR_FLAG_UNKNOWN = "Unknown flag {flag!r}; use {flags}."
ERROR_ANSWER_UNKNOWN = (
    "{what} names answer {id!r}, which is not one of this task's answers ({ids})."
)
ERROR_RATING_RANGE = "Rating {rating!r} is off the scale 1 to {hi}."
ERROR_RATINGS_NOT_ASKED = "This project does not ask for per-answer ratings."
ERROR_TIME = "`time_spent_ms` must be a whole number of milliseconds, 0 or more."

CHOICES = ("a", "b", "tie", "both_bad")
STRENGTHS = (1, 2, 3)


class PayloadError(DomainError):
    pass


@dataclass
class CleanAnswer:
    payload: dict[str, Any]
    flags: dict[str, list[str]] = field(default_factory=dict)
    ratings: dict[str, int] = field(default_factory=dict)
    none_acceptable: bool = False
    time_spent_ms: int = 0


def _as_id(value: Any, ids: Sequence[int], what: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or number not in ids or isinstance(value, bool):
        raise PayloadError(
            ERROR_ANSWER_UNKNOWN.format(what=what, id=value, ids=", ".join(map(str, ids)))
        )
    return number


def answer_clean(
    *,
    project: Project,
    kind: str,
    completion_ids: Sequence[int],
    completion_texts: Mapping[int, str],
    data: Any,
    display_order: Sequence[int] | None = None,
    rubric: Rubric | None = None,
) -> CleanAnswer:
    """Check a submitted answer against its task and project; return its normal form.

    Rubric scores are checked against `rubric` (the task's, see rubric_of_task), by default
    the project's.

    A pairwise "a"/"b" means the first/second answer as the labeler saw it (`display_order`,
    the labeler's shuffled order); the normal form names the winner by completion id and
    states `choice` in the task's own order, so labelers who saw different orders compare.

    Raises PayloadError with a message a labeler can act on; nothing is written here.
    """
    if not isinstance(data, Mapping):
        raise PayloadError(ERROR_NOT_A_DICT)
    ids = list(completion_ids)
    if kind != TaskKind.PAIRWISE and "choice" in data:
        raise PayloadError(ERROR_CHOICE_WRONG_KIND.format(kind=kind))
    if kind != TaskKind.RANKING and "ranking" in data:
        raise PayloadError(ERROR_RANKING_WRONG_KIND.format(kind=kind))
    if kind == TaskKind.DEMONSTRATION:
        payload = _demonstration(data, ids, completion_texts)
    elif kind == TaskKind.RANKING:
        payload = {"ranking": ranking_clean(data.get("ranking"), ids, project.allow_ties)}
    elif kind == TaskKind.PAIRWISE:
        shown = list(display_order or [])
        payload = _pairwise(data, ids, shown if sorted(shown) == sorted(ids) else ids)
    else:
        payload = {"scores": _rubric(data.get("scores"), ids, rubric or rubric_of_project(project))}
    rationale = data.get("rationale")
    if isinstance(rationale, str) and rationale.strip():
        payload["rationale"] = rationale.strip()
    time_spent = data.get("time_spent_ms", 0)
    if not isinstance(time_spent, int) or isinstance(time_spent, bool) or time_spent < 0:
        raise PayloadError(ERROR_TIME)
    return CleanAnswer(
        payload=payload,
        flags=_flags(data.get("flags") or {}, ids),
        ratings=_ratings(data.get("ratings") or {}, ids, project.answer_rating_max),
        none_acceptable=bool(data.get("none_acceptable", False)),
        time_spent_ms=time_spent,
    )


def _demonstration(data: Mapping, ids: list[int], texts: Mapping[int, str]) -> dict:
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise PayloadError(ERROR_TEXT_REQUIRED)
    draft = data.get("draft_completion")
    if draft is None:
        return {"text": text, "draft_completion": None, "original": None, "diff": ""}
    try:
        draft_id = int(draft)
    except (TypeError, ValueError):
        draft_id = None
    if draft_id not in ids:
        raise PayloadError(ERROR_DRAFT_UNKNOWN.format(id=draft, ids=", ".join(map(str, ids))))
    original = texts[draft_id]
    diff = "".join(
        difflib.unified_diff(
            original.splitlines(keepends=True),
            text.splitlines(keepends=True),
            fromfile="draft",
            tofile="edited",
        )
    )
    return {"text": text, "draft_completion": draft_id, "original": original, "diff": diff}


def ranking_clean(value: Any, ids: Sequence[int], allow_ties: bool) -> list[list[int]]:
    """Tiers best to worst. Accepts [3, 1, 2] or [[3], [1, 2]]."""
    if not isinstance(value, list) or not value:
        raise PayloadError(ERROR_RANKING_SHAPE)
    tiers: list[list[int]] = []
    for entry in value:
        members = entry if isinstance(entry, list) else [entry]
        if not members:
            raise PayloadError(ERROR_RANKING_SHAPE)
        tier = []
        for member in members:
            if isinstance(member, bool) or not isinstance(member, int | str):
                raise PayloadError(ERROR_RANKING_SHAPE)
            try:
                tier.append(int(member))
            except ValueError:
                raise PayloadError(ERROR_RANKING_SHAPE) from None
        tiers.append(tier)
    flat = [member for tier in tiers for member in tier]
    if sorted(flat) != sorted(ids):
        raise PayloadError(
            ERROR_RANKING_NOT_PERMUTATION.format(
                ids=", ".join(map(str, sorted(ids))), got=", ".join(map(str, flat))
            )
        )
    if not allow_ties and any(len(tier) > 1 for tier in tiers):
        raise PayloadError(ERROR_TIES_FORBIDDEN)
    return [sorted(tier) for tier in tiers]


def _pairwise(data: Mapping, ids: list[int], shown: list[int]) -> dict:
    if len(ids) != 2:
        raise PayloadError(ERROR_PAIRWISE_TWO.format(n=len(ids)))
    shown_choice = data.get("choice")
    if shown_choice not in CHOICES:
        raise PayloadError(ERROR_CHOICE)
    strength = data.get("strength")
    if strength is not None and (shown_choice not in ("a", "b") or strength not in STRENGTHS):
        raise PayloadError(ERROR_STRENGTH)
    winner = {"a": shown[0], "b": shown[1]}.get(shown_choice)
    loser = {"a": shown[1], "b": shown[0]}.get(shown_choice)
    choice = shown_choice if winner is None else ("a" if winner == ids[0] else "b")
    return {
        "choice": choice,
        "shown_choice": shown_choice,
        "strength": strength,
        "winner": winner,
        "loser": loser,
    }


def _rubric(value: Any, ids: list[int], rubric: Rubric) -> dict[str, dict[str, int]]:
    criteria = rubric.names
    lo, hi = rubric.scale_min, rubric.scale_max
    if not isinstance(value, Mapping):
        raise PayloadError(ERROR_SCORES_SHAPE)
    scores: dict[str, dict[str, int]] = {}
    for key, per_criterion in value.items():
        answer = _as_id(key, ids, "`scores`")
        if not isinstance(per_criterion, Mapping):
            raise PayloadError(ERROR_SCORES_SHAPE)
        clean = {}
        for criterion, score in per_criterion.items():
            if criterion not in criteria:
                raise PayloadError(
                    ERROR_CRITERION_UNKNOWN.format(
                        criterion=criterion, criteria=", ".join(criteria)
                    )
                )
            if isinstance(score, bool) or not isinstance(score, int) or not lo <= score <= hi:
                raise PayloadError(
                    ERROR_SCORE_RANGE.format(score=score, criterion=criterion, lo=lo, hi=hi)
                )
            clean[criterion] = score
        scores[str(answer)] = clean
    missing = [
        f"{answer}/{criterion}"
        for answer in ids
        for criterion in criteria
        if criterion not in scores.get(str(answer), {})
    ]
    if missing:
        raise PayloadError(ERROR_SCORES_MISSING.format(missing=", ".join(missing)))
    return scores


def _flags(value: Any, ids: list[int]) -> dict[str, list[str]]:
    if not isinstance(value, Mapping):
        raise PayloadError(ERROR_FLAG_UNKNOWN.format(flag=value, flags=", ".join(Flag.values)))
    clean: dict[str, list[str]] = {}
    for key, flags in value.items():
        answer = _as_id(key, ids, "`flags`")
        if not isinstance(flags, list):
            flags = [flags]
        for flag in flags:
            if flag not in Flag.values:
                raise PayloadError(
                    ERROR_FLAG_UNKNOWN.format(flag=flag, flags=", ".join(Flag.values))
                )
        if flags:
            clean[str(answer)] = sorted(set(flags))
    return clean


def _ratings(value: Any, ids: list[int], hi: int) -> dict[str, int]:
    if not value:
        return {}
    if hi == 0:
        raise PayloadError(ERROR_RATINGS_NOT_ASKED)
    if not isinstance(value, Mapping):
        raise PayloadError(ERROR_RATING_RANGE.format(rating=value, hi=hi))
    clean = {}
    for key, rating in value.items():
        answer = _as_id(key, ids, "`ratings`")
        if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= hi:
            raise PayloadError(ERROR_RATING_RANGE.format(rating=rating, hi=hi))
        clean[str(answer)] = rating
    return clean


# --- what a payload says about preferences -------------------------------------------------


def ranking_positions(tiers: Sequence[Sequence[int]]) -> dict[int, int]:
    """Completion id -> tier index (0 = best); tied answers share an index."""
    return {member: index for index, tier in enumerate(tiers) for member in tier}


def ranking_to_pairs(
    tiers: Sequence[Sequence[int]], *, tie_policy: str = "skip"
) -> list[tuple[int, int, float]]:
    """(chosen, rejected, margin) for every pair of a ranking: K(K-1)/2 pairs when ties are
    kept. The margin is the number of tiers between the two; tied pairs have margin 0 and are
    dropped unless tie_policy is "keep" (then they come as (lower id, higher id, 0.0))."""
    positions = ranking_positions(tiers)
    ordered = sorted(positions)
    pairs = []
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            gap = positions[b] - positions[a]
            if gap > 0:
                pairs.append((a, b, float(gap)))
            elif gap < 0:
                pairs.append((b, a, float(-gap)))
            elif tie_policy == "keep":
                pairs.append((a, b, 0.0))
    return pairs


def pairwise_to_pair(payload: Mapping) -> tuple[int, int, float] | None:
    """(chosen, rejected, margin) of a pairwise answer; None for tie or both bad. The margin
    is the strength (1 when not given)."""
    winner = payload.get("winner")
    if winner is None:
        return None
    return (winner, payload["loser"], float(payload.get("strength") or 1))


def demonstration_edit_pair(payload: Mapping) -> tuple[str, str] | None:
    """(chosen text, rejected text) when a labeler edited a model draft: the edit wins."""
    original = payload.get("original")
    if original is None or original == payload.get("text"):
        return None
    return (payload["text"], original)


def preferences(kind: str, payload: Mapping, ids: Sequence[int]) -> dict[tuple[int, int], float]:
    """For each pair (i, j) with i < j of the task's answers: 1.0 if i is preferred, 0.0 if
    j is, 0.5 for a tie. Empty for kinds that state no preference (demonstration, and a
    pairwise 'both bad')."""
    if kind == TaskKind.RANKING:
        positions = ranking_positions(payload["ranking"])
        ordered = sorted(ids)
        out = {}
        for i, a in enumerate(ordered):
            for b in ordered[i + 1 :]:
                pa, pb = positions[a], positions[b]
                out[(a, b)] = 1.0 if pa < pb else 0.0 if pa > pb else 0.5
        return out
    if kind == TaskKind.PAIRWISE and len(ids) == 2:
        a, b = sorted(ids)
        choice = payload.get("choice")
        if choice == "tie":
            return {(a, b): 0.5}
        winner = payload.get("winner")
        if winner is None:
            return {}
        return {(a, b): 1.0 if winner == a else 0.0}
    if kind == TaskKind.RUBRIC:
        totals = {int(k): sum(v.values()) for k, v in payload.get("scores", {}).items()}
        ordered = sorted(totals)
        return {
            (a, b): 1.0 if totals[a] > totals[b] else 0.0 if totals[a] < totals[b] else 0.5
            for i, a in enumerate(ordered)
            for b in ordered[i + 1 :]
        }
    return {}


def gold_check(
    *, kind: str, payload: Mapping, gold: Mapping | None, ids: Sequence[int]
) -> bool | None:
    """Did the answer match a gold task's known answer?

    Ranking: the labeler's best answer is among the gold best. Pairwise: same choice.
    Rubric: every score within one point of the gold score. Demonstrations have no gold check.
    """
    if not gold:
        return None
    if kind == TaskKind.RANKING and "ranking" in gold:
        best = set(payload["ranking"][0])
        return bool(best & {int(i) for i in gold["ranking"][0]}) and len(best) <= len(
            gold["ranking"][0]
        )
    if kind == TaskKind.PAIRWISE and "choice" in gold:
        return payload["choice"] == gold["choice"]
    if kind == TaskKind.RUBRIC and "scores" in gold:
        return all(
            abs(payload["scores"][str(answer)][criterion] - score) <= 1
            for answer, per_criterion in gold["scores"].items()
            for criterion, score in per_criterion.items()
            if str(answer) in payload["scores"] and criterion in payload["scores"][str(answer)]
        )
    return None
