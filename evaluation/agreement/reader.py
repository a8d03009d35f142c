"""Streaming reader for pairwise votes and single-answer scores in the MT-Bench / Chatbot
Arena format (CSV with a header row, or JSONL).

Pairwise rows: ``question_id, model_a, model_b, winner, judge, turn`` (optional ``category``).
Score rows: ``question_id, model, turn, judge, score`` (optional ``trial``, ``category``).
Other columns are ignored. A JSON ``judge`` given as a list (FastChat writes
``["gpt-4", "pair-v2"]``) becomes the rater ``gpt-4/pair-v2``.

The file is read row by row; every bad row is collected with its line number and, if there is
any, one ``JudgmentFileError`` listing them is raised, so callers never act on half a file.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

from evaluation.agreement.records import WINNERS, Score, Vote
from flywheel.errors import DomainError

Format = Literal["csv", "jsonl"]

UNKNOWN_FORMAT = "Cannot tell the format of {name!r}: use a .csv or .jsonl file or pass format."
BAD_FILE = "{count} bad row(s) in {name}; nothing was read:\n{details}"
MISSING_FIELDS = "missing field(s): {fields}"
UNKNOWN_ROW_KIND = "neither a pairwise row (winner) nor a score row (score)"
BAD_WINNER = "winner {value!r} is not one of " + ", ".join(WINNERS)
BAD_TURN = "turn {value!r} is not a positive whole number"
BAD_TRIAL = "trial {value!r} is not a whole number"
BAD_SCORE = "score {value!r} is not a finite number"
SAME_MODEL = "model_a and model_b are the same model {value!r}"
EMPTY_FIELD = "field {name!r} is empty"
BAD_JSON = "not a JSON object: {error}"
MISSING_HEADER = "the CSV file has no header row"

MAX_LISTED_ERRORS = 50

VOTE_FIELDS = ("question_id", "model_a", "model_b", "winner", "judge", "turn")
SCORE_FIELDS = ("question_id", "model", "turn", "judge", "score")


@dataclass(frozen=True)
class RowError:
    line: int
    message: str


class JudgmentFileError(DomainError):
    """The file has bad rows; ``errors`` lists every one of them (line numbers are 1-based
    lines of the file, the CSV header being line 1)."""

    def __init__(self, name: str, errors: list[RowError]) -> None:
        self.errors = errors
        shown = "\n".join(f"line {e.line}: {e.message}" for e in errors[:MAX_LISTED_ERRORS])
        if len(errors) > MAX_LISTED_ERRORS:
            shown += f"\n... and {len(errors) - MAX_LISTED_ERRORS} more"
        super().__init__(BAD_FILE.format(count=len(errors), name=name, details=shown))


@dataclass
class Judgments:
    votes: list[Vote] = field(default_factory=list)
    scores: list[Score] = field(default_factory=list)


def _text(row: dict, name: str) -> str:
    value = row[name]
    if isinstance(value, list):  # FastChat's judge: ["gpt-4", "pair-v2"]
        value = "/".join(str(v) for v in value)
    text = "" if value is None else str(value).strip()
    if not text:
        raise ValueError(EMPTY_FIELD.format(name=name))
    return text


def _whole(value: object, message: str, *, positive: bool) -> int:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise ValueError(message.format(value=value)) from None
    if not number.is_integer() or (positive and number < 1):
        raise ValueError(message.format(value=value))
    return int(number)


def _category(row: dict) -> str | None:
    value = row.get("category")
    text = "" if value is None else str(value).strip()
    return text or None


def parse_row(row: dict) -> Vote | Score:
    """One record from one row (a dict of field -> value); ``ValueError`` says what is wrong."""
    if "winner" in row:
        missing = [f for f in VOTE_FIELDS if f not in row]
        if missing:
            raise ValueError(MISSING_FIELDS.format(fields=", ".join(missing)))
        winner = _text(row, "winner")
        if winner not in WINNERS:
            raise ValueError(BAD_WINNER.format(value=winner))
        model_a, model_b = _text(row, "model_a"), _text(row, "model_b")
        if model_a == model_b:
            raise ValueError(SAME_MODEL.format(value=model_a))
        return Vote(
            question_id=_text(row, "question_id"),
            model_a=model_a,
            model_b=model_b,
            winner=winner,
            rater=_text(row, "judge"),
            turn=_whole(row["turn"], BAD_TURN, positive=True),
            category=_category(row),
        )
    if "score" in row:
        missing = [f for f in SCORE_FIELDS if f not in row]
        if missing:
            raise ValueError(MISSING_FIELDS.format(fields=", ".join(missing)))
        raw = row["score"]
        try:
            score = float(str(raw).strip())
        except ValueError:
            raise ValueError(BAD_SCORE.format(value=raw)) from None
        if not math.isfinite(score) or isinstance(raw, bool):
            raise ValueError(BAD_SCORE.format(value=raw))
        trial = row.get("trial")
        return Score(
            question_id=_text(row, "question_id"),
            model=_text(row, "model"),
            turn=_whole(row["turn"], BAD_TURN, positive=True),
            rater=_text(row, "judge"),
            score=score,
            trial=None if trial in (None, "") else _whole(trial, BAD_TRIAL, positive=False),
            category=_category(row),
        )
    raise ValueError(UNKNOWN_ROW_KIND)


def _rows(handle: IO[str], fmt: Format) -> Iterator[tuple[int, dict | None, str | None]]:
    """(line number, row or None, error or None) for every data row."""
    if fmt == "jsonl":
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, None, BAD_JSON.format(error=exc.msg)
                continue
            if not isinstance(row, dict):
                yield number, None, BAD_JSON.format(error=type(row).__name__)
                continue
            yield number, row, None
        return
    reader = csv.DictReader(handle)
    if reader.fieldnames is None:
        yield 1, None, MISSING_HEADER
        return
    for row in reader:
        # Drop the columns a short row did not fill so that they read as missing.
        clean = {k: v for k, v in row.items() if k is not None and v is not None}
        yield reader.line_num, clean, None


def _detect(name: str) -> Format:
    lowered = name.lower()
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    raise DomainError(UNKNOWN_FORMAT.format(name=name))


def iter_judgments(
    source: str | Path | IO[str], *, format: Format | None = None
) -> Iterator[tuple[int, Vote | Score]]:
    """Yield ``(line, record)`` as the file is read, then raise ``JudgmentFileError`` at the
    end if any row was bad. Use it inside a transaction (roll back on the error), or use
    ``read_judgments`` which only returns once the whole file is known good."""
    if isinstance(source, str | Path):
        name = str(source)
        fmt = format or _detect(name)
        with open(source, encoding="utf-8", newline="") as handle:
            yield from _iter(handle, fmt, name)
    else:
        name = getattr(source, "name", "<stream>")
        yield from _iter(source, format or _detect(str(name)), str(name))


def _iter(handle: IO[str], fmt: Format, name: str) -> Iterator[tuple[int, Vote | Score]]:
    errors: list[RowError] = []
    for line, row, problem in _rows(handle, fmt):
        if problem is not None:
            errors.append(RowError(line, problem))
            continue
        try:
            record = parse_row(row)  # type: ignore[arg-type]
        except ValueError as exc:
            errors.append(RowError(line, str(exc)))
            continue
        if not errors:
            yield line, record
    if errors:
        raise JudgmentFileError(name, errors)


def read_judgments(source: str | Path | IO[str], *, format: Format | None = None) -> Judgments:
    """Every vote and score in the file, or ``JudgmentFileError`` listing all bad rows."""
    out = Judgments()
    for _, record in iter_judgments(source, format=format):
        (out.votes if isinstance(record, Vote) else out.scores).append(record)
    return out


def read_judgments_text(text: str, *, format: Format) -> Judgments:
    """``read_judgments`` on an in-memory string (uploads, tests)."""
    return read_judgments(io.StringIO(text), format=format)
