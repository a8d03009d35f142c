"""Streaming readers: JSONL, CSV and Parquet files (optionally gzip-compressed for JSONL/CSV),
plus plain-text prompt lists, one prompt per line.

Memory stays constant: JSONL and text are read line by line, CSV record by record, Parquet one
record batch at a time. The caller decides all-or-nothing vs skip-invalid; `collect` is the small
helper for both.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from .formats import (
    ERROR_NO_TIMESTAMP,
    ERROR_UNKNOWN_FORMAT,
    FORMATS,
    PROMPTS,
    BadRow,
    detect_format,
    parse_record,
)
from .records import ParsedPrompt, PipelineError, RowError

ERROR_NOT_JSON = "not valid JSON: {reason}"
ERROR_NOT_UTF8 = "not valid UTF-8 text"
ERROR_FILE_TYPE = "cannot read {name}: use a .jsonl, .json, .csv, .parquet or .txt file"
ERROR_JSON_ARRAY = (
    "{name} holds one JSON array; Flywheel streams JSON Lines (one object per line): "
    "convert it, e.g. with `jq -c '.[]' {name} > {stem}.jsonl`"
)
ERROR_INVALID_ROWS = "{count} bad row(s); nothing was imported. First: line {line}: {reason}"

PARQUET_BATCH_ROWS = 1024

csv.field_size_limit(sys.maxsize)


class ImportRejected(PipelineError):
    """All-or-nothing import met bad rows; `errors` lists them all."""

    def __init__(self, errors: list[RowError]) -> None:
        first = errors[0]
        super().__init__(
            ERROR_INVALID_ROWS.format(count=len(errors), line=first.line, reason=first.reason)
        )
        self.errors = errors


class PromptReader:
    """Iterate a file as `ParsedPrompt | RowError`, in file order.

    `format` is one of `formats.FORMATS` or None to detect it from the first record.
    `since` keeps rows collected at or after that moment (rows without a timestamp become
    errors). Counters (`rows`, `skipped_old`) and `progress()` serve a progress bar.
    """

    def __init__(
        self, path: str | Path, *, format: str | None = None, since: datetime | None = None
    ) -> None:
        if format is not None and format not in FORMATS:
            raise PipelineError(
                ERROR_UNKNOWN_FORMAT.format(format=format, formats=", ".join(FORMATS))
            )
        self.path = Path(path)
        self.format = format
        self.since = since
        self.rows = 0
        self.skipped_old = 0
        self._raw: IO[bytes] | None = None
        self._parquet_rows = 0
        self.kind = _file_kind(self.path)

    def __iter__(self) -> Iterator[ParsedPrompt | RowError]:
        for line, record in self._records():
            self.rows += 1
            if isinstance(record, RowError):
                yield record
                continue
            try:
                if self.format is None:
                    self.format = detect_format(record) if isinstance(record, dict) else PROMPTS
                prompt = parse_record(self.format, record, source=self.path.name, line=line)
            except BadRow as exc:
                yield RowError(line=line, reason=str(exc))
                continue
            if self.since is not None:
                if prompt.collected_at is None:
                    yield RowError(line=line, reason=ERROR_NO_TIMESTAMP)
                    continue
                if prompt.collected_at < self.since:
                    self.skipped_old += 1
                    continue
            yield prompt

    def progress(self) -> float:
        """Share of the file read so far, 0..1 (bytes for text files, rows for Parquet)."""
        if self.kind == "parquet":
            return self.rows / self._parquet_rows if self._parquet_rows else 1.0
        if self._raw is None:
            return 0.0
        if self._raw.closed:
            return 1.0
        size = self.path.stat().st_size
        return min(1.0, self._raw.tell() / size) if size else 1.0

    # -- the records of each file kind ---------------------------------------------------------

    def _records(self) -> Iterator[tuple[int, Any]]:
        if self.kind == "parquet":
            yield from self._parquet_records()
            return
        with self.path.open("rb") as raw:
            self._raw = raw
            stream: IO[bytes] = gzip.GzipFile(fileobj=raw) if self._gzipped() else raw
            if self.kind == "csv":
                yield from _csv_records(stream)
            elif self.kind == "txt":
                yield from _text_records(stream)
            else:
                yield from _jsonl_records(stream, self.path.name)

    def _parquet_records(self) -> Iterator[tuple[int, Any]]:
        import pyarrow.parquet as pq  # only the Parquet path pays for it

        parquet = pq.ParquetFile(self.path)
        self._parquet_rows = parquet.metadata.num_rows
        number = 0
        for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
            for record in batch.to_pylist():
                number += 1
                yield number, record

    def _gzipped(self) -> bool:
        return self.path.suffix == ".gz"


def read_prompts(
    path: str | Path, *, format: str | None = None, since: datetime | None = None
) -> Iterator[ParsedPrompt | RowError]:
    return iter(PromptReader(path, format=format, since=since))


@dataclass
class ImportResult:
    prompts: list[ParsedPrompt] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    duplicates: int = 0  # rows whose content hash was seen before (in the file or `known`)


def collect(
    items: Iterator[ParsedPrompt | RowError] | list[ParsedPrompt | RowError],
    *,
    skip_invalid: bool = False,
    known_hashes: set[str] | None = None,
) -> ImportResult:
    """Gather a reader's output for a small file: all-or-nothing unless `skip_invalid`.

    Prompts whose content hash is in `known_hashes` (already in the project) or earlier in the
    file are counted as duplicates, not returned, so a re-import adds nothing. Raises
    `ImportRejected` with every bad row when not skipping invalid rows.
    """
    result = ImportResult()
    seen = set(known_hashes or ())
    for item in items:
        if isinstance(item, RowError):
            result.errors.append(item)
            continue
        digest = item.content_hash
        if digest in seen:
            result.duplicates += 1
            continue
        seen.add(digest)
        result.prompts.append(item)
    if result.errors and not skip_invalid:
        raise ImportRejected(result.errors)
    return result


# -- helpers -----------------------------------------------------------------------------------


def _file_kind(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    kinds = {
        ".jsonl": "jsonl",
        ".json": "jsonl",
        ".ndjson": "jsonl",
        ".csv": "csv",
        ".parquet": "parquet",
        ".txt": "txt",
    }
    if last not in kinds:
        raise PipelineError(ERROR_FILE_TYPE.format(name=path.name))
    return kinds[last]


def _jsonl_records(stream: IO[bytes], name: str) -> Iterator[tuple[int, Any]]:
    first = True
    for number, raw in enumerate(stream, start=1):
        if not raw.strip():
            continue
        if first and raw.lstrip().startswith(b"["):
            stem = name.split(".")[0]
            raise PipelineError(ERROR_JSON_ARRAY.format(name=name, stem=stem))
        first = False
        try:
            yield number, json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            yield number, RowError(line=number, reason=ERROR_NOT_UTF8)
        except json.JSONDecodeError as exc:
            yield number, RowError(line=number, reason=ERROR_NOT_JSON.format(reason=exc.msg))


def _text_records(stream: IO[bytes]) -> Iterator[tuple[int, Any]]:
    for number, raw in enumerate(stream, start=1):
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            yield number, RowError(line=number, reason=ERROR_NOT_UTF8)
            continue
        if text:
            yield number, {"prompt": text}


def _csv_records(stream: IO[bytes]) -> Iterator[tuple[int, Any]]:
    # Undecodable bytes become U+FFFD, which the garbage filter then names.
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
    reader = csv.DictReader(text)
    for record in reader:
        clean = {k: v for k, v in record.items() if k is not None and v not in (None, "")}
        if clean:
            yield reader.line_num, clean
