"""Helpers for tests, the demo and the benchmark: write a dataset snapshot folder in the
documented on-disk format (labeling/models/snapshots.py) and register it as ready.

Dataset snapshots are built by labeling's exports; training only reads that contract, so
this writer is the contract's smallest honest producer.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from labeling.models import DatasetSnapshot, Project

# Conversations of several task types: fixed-answer (qa, math) and open-ended (creative).
SAMPLE_ROWS: list[dict] = [
    {
        "task_type": "qa",
        "q": "What is the capital of France?",
        "a": "The capital of France is Paris.",
    },
    {"task_type": "qa", "q": "Translate hello into Spanish.", "a": "Hello in Spanish is hola."},
    {"task_type": "qa", "q": "Name three fruits.", "a": "Apple, banana and cherry."},
    {"task_type": "math", "q": "What is two plus two?", "a": "Two plus two is four."},
    {"task_type": "math", "q": "What is the answer?", "a": "The answer is 42."},
    {"task_type": "math", "q": "Add three and four.", "a": "Three plus four is seven."},
    {
        "task_type": "creative",
        "q": "Write a short poem about the sea.",
        "a": "The sea is wide, the sea is blue, it sings at night and thinks of you.",
    },
    {
        "task_type": "creative",
        "q": "Tell me a story about a robot.",
        "a": "Once upon a time there was a robot who wanted to learn to paint the sky.",
    },
    {
        "task_type": "creative",
        "q": "Explain recursion to a child.",
        "a": "Recursion is when a story has a smaller copy of the same story inside it.",
    },
]


def sample_conversations(*, repeat: int = 1, system: str | None = None) -> list[dict]:
    rows = []
    for _ in range(repeat):
        for row in SAMPLE_ROWS:
            messages = [{"role": "system", "content": system}] if system else []
            messages += [
                {"role": "user", "content": row["q"]},
                {"role": "assistant", "content": row["a"]},
            ]
            rows.append({"messages": messages, "task_type": row["task_type"]})
    return rows


def snapshot_write(
    *,
    project: Project,
    train: list[dict],
    validation: list[dict] | None = None,
    name: str = "SFT sample",
    kind: str = "sft",
    root: Path | None = None,
) -> DatasetSnapshot:
    """Write train/validation JSONL, `hf/` (DatasetDict.save_to_disk) and a README, and
    register a ready DatasetSnapshot pointing at the folder."""
    from datasets import Dataset, DatasetDict

    payload = json.dumps({"train": train, "validation": validation or []}, sort_keys=True)
    content_hash = hashlib.sha256(payload.encode()).hexdigest()
    folder = Path(root or Path(settings.FLYWHEEL_ARTIFACT_DIR) / "snapshots") / content_hash
    folder.mkdir(parents=True, exist_ok=True)
    splits = {"train": train}
    if validation:
        splits["validation"] = validation
    counts: dict[str, int] = {}
    for split, rows in splits.items():
        with (folder / f"{split}.jsonl").open("w") as fh:
            for row in rows:
                fh.write(json.dumps(row) + "\n")
                counts[row["task_type"]] = counts.get(row["task_type"], 0) + 1
    if not (folder / "hf").is_dir():
        DatasetDict({s: Dataset.from_list(rows) for s, rows in splits.items()}).save_to_disk(
            str(folder / "hf")
        )
    (folder / "README.md").write_text(f"# {name}\n\n{kind} snapshot written by training.testing.\n")
    return DatasetSnapshot.objects.create(
        project=project,
        name=name,
        kind=kind,
        status="ready",
        content_hash=content_hash,
        path=str(folder),
        row_counts={s: len(rows) for s, rows in splits.items()},
        task_type_counts=counts,
        rows_done=sum(len(r) for r in splits.values()),
        finished_at=timezone.now(),
    )
