"""Explicit parsing rules, one per template parser. A reply that breaks the rule is a parse
failure with a reason; it is recorded, never guessed at."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

ERROR_NO_VERDICT = "no verdict: expected exactly one of [[A]], [[B]] or [[C]]"
ERROR_AMBIGUOUS_VERDICT = "ambiguous verdict: the reply contains {found}"
ERROR_NO_RATING = "no rating: expected a number in double brackets such as [[7]]"
ERROR_RATING_RANGE = "rating {value:g} is outside {low:g}-{high:g}"
ERROR_NO_JSON = "no JSON object in the reply"
ERROR_JSON_OVERALL = 'the JSON object has no numeric "overall" score'
ERROR_UNKNOWN_PARSER = "unknown parser {parser!r}"

_VERDICT = re.compile(r"\[\[\s*([ABC])\s*\]\]")
_RATING = re.compile(r"\[\[\s*(-?\d+(?:\.\d+)?)\s*\]\]")
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


@dataclass(frozen=True)
class Parsed:
    verdict: str = ""  # "A", "B" or "C" (tie) for pairwise templates
    score: float | None = None
    dimension_scores: dict[str, float] = field(default_factory=dict)
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


def parse_verdict(text: str) -> Parsed:
    """`[[A]]`, `[[B]]` or `[[C]]` (tie); exactly one distinct verdict may appear."""
    found = sorted(set(_VERDICT.findall(text)))
    if not found:
        return Parsed(error=ERROR_NO_VERDICT)
    if len(found) > 1:
        return Parsed(
            error=ERROR_AMBIGUOUS_VERDICT.format(found=", ".join(f"[[{v}]]" for v in found))
        )
    return Parsed(verdict=found[0])


def parse_rating(text: str, *, low: float = 1, high: float = 10) -> Parsed:
    """The last `[[number]]` in the reply, within [low, high]."""
    found = _RATING.findall(text)
    if not found:
        return Parsed(error=ERROR_NO_RATING)
    value = float(found[-1])
    if not low <= value <= high:
        return Parsed(error=ERROR_RATING_RANGE.format(value=value, low=low, high=high))
    return Parsed(score=value)


def parse_json_scores(text: str, *, low: float = 1, high: float = 10) -> Parsed:
    """A JSON object (bare or in a code fence) with a numeric "overall" and, optionally,
    numeric per-dimension scores (every other numeric key, or the keys of "dimensions")."""
    obj = _first_json_object(text)
    if obj is None:
        return Parsed(error=ERROR_NO_JSON)
    overall = obj.get("overall")
    if not _is_number(overall):
        return Parsed(error=ERROR_JSON_OVERALL)
    overall = float(overall)
    if not low <= overall <= high:
        return Parsed(error=ERROR_RATING_RANGE.format(value=overall, low=low, high=high))
    source = obj["dimensions"] if isinstance(obj.get("dimensions"), dict) else obj
    dims = {str(k): float(v) for k, v in source.items() if k != "overall" and _is_number(v)}
    return Parsed(score=overall, dimension_scores=dims)


def parse(parser: str, text: str, *, low: float = 1, high: float = 10) -> Parsed:
    if parser == "verdict":
        return parse_verdict(text)
    if parser == "rating":
        return parse_rating(text, low=low, high=high)
    if parser == "json":
        return parse_json_scores(text, low=low, high=high)
    return Parsed(error=ERROR_UNKNOWN_PARSER.format(parser=parser))


def _is_number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _first_json_object(text: str) -> dict | None:
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        for start in [i for i, ch in enumerate(candidate) if ch == "{"]:
            try:
                obj, _ = decoder.raw_decode(candidate[start:])
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                return obj
    return None
