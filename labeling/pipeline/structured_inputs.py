"""The inputs of structured synthesis, read from what a person gives: documents (text files, a
JSONL of {title, text}, or pasted text), tools (OpenAI `tools` JSON) and passages (JSONL or a
JSON list of {id, text, title}, or paragraphs separated by blank lines).

Each reader returns plain lists of dicts (what the service and the API take) or raises
PipelineError with a message that says what to fix and where.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .records import PipelineError
from .structured import FUNCTION_CALLING, LONG_CONTEXT, validate_tools

ERROR_JSON = "{what} are not valid JSON: {reason} (line {line}, column {column})."
ERROR_JSONL = "{what}, line {line}: not valid JSON: {reason}."
ERROR_TOOLS_SHAPE = (
    'The tools must be a JSON list of OpenAI tools ({"type": "function", "function": {...}}), '
    'or an object with such a list under "tools".'
)
ERROR_NO_TOOLS = "Give at least one tool."
ERROR_NO_DOCUMENTS = "Give at least one document: upload text files or paste a document."
ERROR_DOCUMENT_SHAPE = "Document {index}: {reason}."
ERROR_NO_PASSAGES = 'Give at least one passage: JSONL lines of {"id", "text"}, or paragraphs.'
ERROR_PASSAGE_SHAPE = "Passage {index}: {reason}."
ERROR_PASSAGE_DUPLICATE = "Passage id {id!r} is used twice; each passage needs its own id."
ERROR_NOT_TEXT = "{name} is not UTF-8 text."
ERROR_NO_INPUT = "Upload a file or paste the input."
ERROR_NO_PATH = "There is no file or folder at {path}."
ERROR_EMPTY_FOLDER = "The folder {path} has no .txt, .md or .jsonl documents."

DOCUMENT_SUFFIXES = (".txt", ".md", ".jsonl")

_BLANK_LINES = re.compile(r"\n\s*\n")


def decode(data: bytes, *, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PipelineError(ERROR_NOT_TEXT.format(name=name)) from None


def input_read(
    kind: str, *, files: Sequence[tuple[str, bytes]] = (), text: str = "", title: str = ""
) -> dict[str, list[dict[str, Any]]]:
    """The service's input of `kind` from files (name, bytes) and pasted text: documents from
    every file and the text (one document, `title` or its first line naming it); tools or
    passages from the first file, else the text."""
    if kind == LONG_CONTEXT:
        documents = []
        for name, data in files:
            documents += documents_from_file(data, name=name)
        documents += document_from_text(text, title=title)
        return {"documents": documents_clean(documents)}
    if files:
        name, data = files[0]
        text = decode(data, name=name)
    if not text.strip():
        raise PipelineError(ERROR_NO_INPUT)
    if kind == FUNCTION_CALLING:
        return {"tools": tools_from_json(text)}
    return {"passages": passages_from_text(text)}


def input_from_path(kind: str, path: str | Path) -> dict[str, list[dict[str, Any]]]:
    """The service's input of `kind` from a file on the server (the command and the admin);
    for documents, a folder of .txt / .md / .jsonl files works too."""
    where = Path(path)
    if not where.exists() or (where.is_dir() and kind != LONG_CONTEXT):
        raise PipelineError(ERROR_NO_PATH.format(path=where))
    if where.is_dir():
        files = sorted(f for f in where.iterdir() if f.suffix.lower() in DOCUMENT_SUFFIXES)
        if not files:
            raise PipelineError(ERROR_EMPTY_FOLDER.format(path=where))
    else:
        files = [where]
    return input_read(kind, files=[(f.name, f.read_bytes()) for f in files])


# -- tools -------------------------------------------------------------------------------------


def tools_from_json(text: str) -> list[dict[str, Any]]:
    """A JSON list of OpenAI tools, or {"tools": [...]}; each tool checked."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise PipelineError(
            ERROR_JSON.format(
                what="The tools", reason=error.msg, line=error.lineno, column=error.colno
            )
        ) from None
    if isinstance(data, dict) and "tools" in data:
        data = data["tools"]
    return tools_clean(data)


def tools_clean(data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, list):
        raise PipelineError(ERROR_TOOLS_SHAPE)
    if not data:
        raise PipelineError(ERROR_NO_TOOLS)
    validate_tools(data)
    return data


# -- documents ---------------------------------------------------------------------------------


def documents_from_file(data: bytes, *, name: str) -> list[dict[str, str]]:
    """A .jsonl file holds one {title, text} document a line; any other file is one document
    titled by its file name."""
    text = decode(data, name=name)
    if name.lower().endswith(".jsonl"):
        return documents_clean(_jsonl(text, what=name))
    return documents_clean([{"title": Path(name).stem, "text": text}])


def document_from_text(text: str, *, title: str = "") -> list[dict[str, str]]:
    """Pasted text is one document; without a title, its first line names it."""
    if not text.strip():
        return []
    first = text.strip().splitlines()[0].lstrip("# ").strip()
    return documents_clean([{"title": title.strip() or first[:120], "text": text}])


def documents_clean(data: Any) -> list[dict[str, str]]:
    if not isinstance(data, list) or not data:
        raise PipelineError(ERROR_NO_DOCUMENTS)
    documents = []
    for index, item in enumerate(data, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            reason = 'needs a "text" string'
            raise PipelineError(ERROR_DOCUMENT_SHAPE.format(index=index, reason=reason))
        if not item["text"].strip():
            raise PipelineError(ERROR_DOCUMENT_SHAPE.format(index=index, reason="is empty"))
        title = str(item.get("title") or f"Document {index}").strip()
        documents.append({"title": title, "text": item["text"].strip()})
    return documents


# -- passages ----------------------------------------------------------------------------------


def passages_from_text(text: str) -> list[dict[str, str]]:
    """JSONL of {id, text, title}, a JSON list of them, or plain paragraphs separated by blank
    lines (numbered p1, p2...)."""
    body = text.strip()
    if body.startswith("["):
        try:
            data = json.loads(body)
        except json.JSONDecodeError as error:
            raise PipelineError(
                ERROR_JSON.format(
                    what="The passages", reason=error.msg, line=error.lineno, column=error.colno
                )
            ) from None
    elif body.startswith("{"):
        data = _jsonl(body, what="Passages")
    else:
        data = [
            {"id": f"p{i}", "text": part.strip()}
            for i, part in enumerate(_BLANK_LINES.split(body), start=1)
            if part.strip()
        ]
    return passages_clean(data)


def passages_clean(data: Any) -> list[dict[str, str]]:
    if not isinstance(data, list) or not data:
        raise PipelineError(ERROR_NO_PASSAGES)
    passages = []
    seen: set[str] = set()
    for index, item in enumerate(data, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            reason = 'needs a "text" string'
            raise PipelineError(ERROR_PASSAGE_SHAPE.format(index=index, reason=reason))
        if not item["text"].strip():
            raise PipelineError(ERROR_PASSAGE_SHAPE.format(index=index, reason="is empty"))
        passage_id = str(item.get("id") or f"p{index}").strip()
        if passage_id in seen:
            raise PipelineError(ERROR_PASSAGE_DUPLICATE.format(id=passage_id))
        seen.add(passage_id)
        passages.append(
            {
                "id": passage_id,
                "title": str(item.get("title") or "").strip(),
                "text": item["text"].strip(),
            }
        )
    return passages


def _jsonl(text: str, *, what: str) -> list[Any]:
    rows = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise PipelineError(
                ERROR_JSONL.format(what=what, line=line_number, reason=error.msg)
            ) from None
    return rows
