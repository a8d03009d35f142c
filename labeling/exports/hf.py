"""The Hugging Face `datasets` copy of a snapshot (what `DatasetDict.save_to_disk` writes),
written with pyarrow alone: JSONL is read in blocks by Arrow's streaming JSON reader and
appended to an Arrow IPC stream, so memory stays at one block whatever the size, and the
build needs no `datasets` (a web-install dependency set: pyarrow is in it, datasets is not).

Layout, as datasets 5.x reads it with `load_from_disk`: `dataset_dict.json` ({"splits"}),
and per split `data-00000-of-00001.arrow` (IPC stream with the features in the schema's
`huggingface` metadata), `dataset_info.json` (features) and `state.json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.json as pa_json

BLOCK_BYTES = 1 << 20

# Column types, by name: "string", "int64", "float64", "bool", "messages" (list of {role,
# content}), ["int64"] (list of), [["int64"]] (list of lists).
MESSAGES = "messages"
PROVENANCE: dict[str, Any] = {
    "source": "string",
    "task_id": "int64",
    "prompt_id": "int64",
    "annotator_ids": ["int64"],
    "display_orders": [["int64"]],
    "submitted_at": ["string"],
}


def columns(*, kind: str, sft_format: str = "messages") -> dict[str, Any]:
    """The columns of a snapshot kind, in order."""
    if kind == "prompts":
        return {
            "prompt": MESSAGES,
            "task_type": "string",
            "id": "string",
            "prompt_id": "int64",
            "source": "string",
        }
    if kind == "sft":
        head = (
            {"prompt": MESSAGES, "completion": MESSAGES}
            if sft_format == "prompt_completion"
            else {"messages": MESSAGES}
        )
        return {**head, "task_type": "string", **PROVENANCE}
    return {
        "prompt": MESSAGES,
        "chosen": MESSAGES,
        "rejected": MESSAGES,
        "margin": "float64",
        "tie": "bool",
        "chosen_id": "int64",
        "rejected_id": "int64",
        "task_type": "string",
        **PROVENANCE,
    }


def _arrow(spec: Any) -> pa.DataType:
    if spec == MESSAGES:
        return pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    if isinstance(spec, list):
        return pa.list_(_arrow(spec[0]))
    return {
        "string": pa.string(),
        "int64": pa.int64(),
        "float64": pa.float64(),
        "bool": pa.bool_(),
    }[spec]


def _feature(spec: Any) -> dict[str, Any]:
    if spec == MESSAGES:
        return {
            "feature": {"role": _feature("string"), "content": _feature("string")},
            "_type": "List",
        }
    if isinstance(spec, list):
        return {"feature": _feature(spec[0]), "_type": "List"}
    return {"dtype": spec, "_type": "Value"}


def write_dataset_dict(
    folder: Path, *, splits: dict[str, Path], spec: dict[str, Any], fingerprints: dict[str, str]
) -> None:
    """Write `folder` as a DatasetDict of the JSONL files in `splits`."""
    features = {name: _feature(s) for name, s in spec.items()}
    meta = {b"huggingface": json.dumps({"info": {"features": features}}).encode()}
    schema = pa.schema([(name, _arrow(s)) for name, s in spec.items()], metadata=meta)
    plain = pa.schema([(name, _arrow(s)) for name, s in spec.items()])
    folder.mkdir(parents=True)
    for split, source in splits.items():
        out = folder / split
        out.mkdir()
        reader = pa_json.open_json(
            source,
            read_options=pa_json.ReadOptions(block_size=BLOCK_BYTES, use_threads=False),
            parse_options=pa_json.ParseOptions(
                explicit_schema=plain, unexpected_field_behavior="error"
            ),
        )
        with (
            pa.OSFile(str(out / "data-00000-of-00001.arrow"), "wb") as sink,
            pa.ipc.new_stream(sink, schema) as writer,
        ):
            for batch in reader:
                arrays = [batch.column(name) for name in plain.names]
                writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
        (out / "dataset_info.json").write_text(
            json.dumps(
                {
                    "citation": "",
                    "description": "",
                    "features": features,
                    "homepage": "",
                    "license": "",
                },
                indent=2,
            )
        )
        (out / "state.json").write_text(
            json.dumps(
                {
                    "_data_files": [{"filename": "data-00000-of-00001.arrow"}],
                    "_fingerprint": fingerprints[split][:16],
                    "_format_columns": None,
                    "_format_kwargs": {},
                    "_format_type": None,
                    "_output_all_columns": False,
                    "_split": None,
                },
                indent=2,
            )
        )
    (folder / "dataset_dict.json").write_text(json.dumps({"splits": list(splits)}))
