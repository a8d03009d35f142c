"""Importing pairwise votes and single-answer scores made elsewhere (MT-Bench / Chatbot Arena
files) as a named judgment set. All or nothing: a bad row anywhere leaves nothing behind."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path
from typing import IO

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from evaluation.agreement import Score, Vote, iter_judgments
from evaluation.agreement.reader import UNKNOWN_FORMAT
from evaluation.errors import EvaluationError
from evaluation.models import ImportedJudgment, JudgmentSet
from labeling.models import Project

# Both read the MT-Bench / Chatbot Arena columns. `mtbench` says the questions are MT-Bench's
# own (ids 81-160), so a row without a category takes the bundled question's; `generic` is a
# team's own questions, whose ids mean nothing to MT-Bench: the category comes from the file.
GENERIC = "generic"
MTBENCH = "mtbench"
FORMATS = (GENERIC, MTBENCH)
DEFAULT_FORMAT = GENERIC
ERROR_FORMAT = (
    "Unknown format {format!r}; use generic for your own questions or mtbench for MT-Bench's "
    "80 questions."
)
ERROR_NAME_TAKEN = "A judgment set named {name!r} exists already; choose another name."
ERROR_NAME = "Give the judgment set a name."
ERROR_EMPTY = "The file has no judgments."

# MT-Bench votes carry no category; the bundled questions name it for question ids 81-160.
MT_BENCH_QUESTIONS = Path(__file__).resolve().parent.parent / "data" / "mt_bench" / "question.jsonl"
BATCH = 2000


def mt_bench_categories() -> dict[str, str]:
    with open(MT_BENCH_QUESTIONS, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return {str(row["question_id"]): row["category"] for row in rows}


def _row(
    judgment_set: JudgmentSet, line: int, record: Vote | Score, categories
) -> ImportedJudgment:
    category = record.category or categories.get(str(record.question_id), "")
    if isinstance(record, Vote):
        return ImportedJudgment(
            judgment_set=judgment_set,
            line=line,
            question_id=str(record.question_id),
            category=category,
            model_a=record.model_a,
            model_b=record.model_b,
            turn=record.turn,
            rater=record.rater,
            rater_group=record.group,
            winner=record.winner,
        )
    return ImportedJudgment(
        judgment_set=judgment_set,
        line=line,
        question_id=str(record.question_id),
        category=category,
        model_a=record.model,
        turn=record.turn,
        rater=record.rater,
        rater_group=record.group,
        score=record.score,
        trial=record.trial,
    )


@transaction.atomic
def judgments_import(
    *,
    sources: list[str | Path | IO[str]],
    name: str,
    project: Project | None = None,
    format: str = DEFAULT_FORMAT,
    file_format: str | None = None,
    created_by: AbstractBaseUser | None = None,
) -> JudgmentSet:
    """Read the files (CSV or JSONL, told by the extension or `file_format`) into one new
    judgment set. Raters group by dropping a trailing ``_<number>``. Only `format="mtbench"`
    fills a missing category from MT-Bench's questions; otherwise it is the file's or empty.
    A file with bad rows raises ``JudgmentFileError`` listing every bad line, and the
    transaction leaves nothing."""
    name = (name or "").strip()
    if not name:
        raise EvaluationError(ERROR_NAME)
    if format not in FORMATS:
        raise EvaluationError(ERROR_FORMAT.format(format=format))
    if JudgmentSet.objects.filter(name=name).exists():
        raise EvaluationError(ERROR_NAME_TAKEN.format(name=name))
    label = ", ".join(
        str(s) if isinstance(s, str | Path) else str(getattr(s, "name", "")) for s in sources
    )
    judgment_set = JudgmentSet.objects.create(
        project=project, name=name, source=str(label)[:500], format=format, created_by=created_by
    )
    categories = mt_bench_categories() if format == MTBENCH else {}
    groups: Counter[str] = Counter()
    votes = scores = 0
    batch: list[ImportedJudgment] = []
    # The reader raises at the end when any row was bad: the atomic block then rolls back
    # the rows written so far, so memory stays at one batch and nothing is half imported.
    for source in sources:
        for line, record in iter_judgments(source, format=file_format):
            row = _row(judgment_set, line, record, categories)
            groups[row.rater_group] += 1
            if row.score is None:
                votes += 1
            else:
                scores += 1
            batch.append(row)
            if len(batch) >= BATCH:
                ImportedJudgment.objects.bulk_create(batch)
                batch = []
    ImportedJudgment.objects.bulk_create(batch)
    if not votes and not scores:
        raise EvaluationError(ERROR_EMPTY)
    judgment_set.vote_count = votes
    judgment_set.score_count = scores
    judgment_set.groups = dict(sorted(groups.items()))
    judgment_set.save(update_fields=["vote_count", "score_count", "groups"])
    return judgment_set


def judgments_import_upload(
    *,
    upload,
    name: str,
    project: Project,
    format: str = DEFAULT_FORMAT,
    created_by: AbstractBaseUser | None = None,
) -> JudgmentSet:
    """``judgments_import`` for an uploaded file (bytes): CSV or JSONL told by its name."""
    lowered = (upload.name or "").lower()
    if lowered.endswith(".csv"):
        file_format = "csv"
    elif lowered.endswith((".jsonl", ".json", ".ndjson")):
        file_format = "jsonl"
    else:
        raise EvaluationError(UNKNOWN_FORMAT.format(name=upload.name))
    text = io.TextIOWrapper(upload.file, encoding="utf-8", newline="")
    return judgments_import(
        sources=[text],
        name=name,
        project=project,
        format=format,
        file_format=file_format,
        created_by=created_by,
    )
