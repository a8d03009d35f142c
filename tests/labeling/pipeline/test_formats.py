import gzip
import json
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labeling.pipeline import formats
from labeling.pipeline.readers import (
    ERROR_FILE_TYPE,
    ERROR_NOT_JSON,
    ImportRejected,
    PromptReader,
    collect,
    read_prompts,
)
from labeling.pipeline.records import ParsedPrompt, PipelineError, RowError, content_hash

DATA = Path(__file__).resolve().parents[2] / "data" / "pipeline"


def _split(items):
    return (
        [i for i in items if isinstance(i, ParsedPrompt)],
        [i for i in items if isinstance(i, RowError)],
    )


def test_openai_messages_split_system_and_trailing_answer():
    reader = PromptReader(DATA / "sample_openai.jsonl")
    prompts, errors = _split(list(reader))

    assert reader.format == formats.OPENAI
    first = prompts[0]
    assert first.system == "You are terse."
    assert first.messages == [
        {"role": "user", "content": "What is the boiling point of water at sea level?"}
    ]
    assert first.completions[0].text == "100 °C."
    assert first.completions[0].model == "gpt-x"
    assert first.line == 1
    assert first.source == "sample_openai.jsonl"
    # Content parts are flattened; a multi-turn prompt keeps its earlier answer as context.
    third = prompts[2]
    assert [m["role"] for m in third.messages] == ["user", "assistant", "user"]
    assert third.messages[0]["content"] == "Translate 'good morning' into French."
    assert third.completions == []
    assert [(e.line, e.reason) for e in errors] == [
        (4, formats.ERROR_ROLE.format(role="wizard", index=1)),
        (5, formats.ERROR_TYPE.format(field="messages", kind="a list")),
        (7, ERROR_NOT_JSON.format(reason="Expecting value")),
    ]


def test_sharegpt_maps_speakers_and_rejects_conversation_without_user():
    prompts, errors = _split(list(read_prompts(DATA / "sample_sharegpt.jsonl")))

    assert prompts[0].messages == [
        {"role": "user", "content": "How do I reverse a list in Python?"}
    ]
    assert prompts[0].completions[0].text == "Use reversed() or slicing: xs[::-1]."
    assert prompts[0].meta == {"id": "conv-1"}
    assert prompts[1].system == "Answer like a pirate."
    assert [m["role"] for m in prompts[1].messages] == ["user", "assistant", "user"]
    assert errors == [RowError(line=3, reason=formats.ERROR_NO_USER)]


def test_alpaca_csv_joins_instruction_and_input_and_reports_csv_line():
    reader = PromptReader(DATA / "sample_alpaca.csv")
    prompts, errors = _split(list(reader))

    assert reader.format == formats.ALPACA
    assert prompts[0].messages[0]["content"].startswith("Summarize the text.\n\nThe city council")
    assert prompts[0].completions[0].text.startswith("The council approved")
    assert prompts[1].messages[0]["content"] == "Give three tips for staying healthy."
    assert len(prompts) == 3
    assert errors == [RowError(line=4, reason=formats.ERROR_MISSING.format(field="instruction"))]


def test_logs_keep_timestamp_user_and_answer_and_since_keeps_the_window():
    reader = PromptReader(DATA / "sample_logs.jsonl", since=datetime(2026, 11, 14, tzinfo=UTC))
    prompts, errors = _split(list(reader))

    assert reader.format == formats.LOGS
    assert [p.messages[-1]["content"] for p in prompts] == [
        "Draft a polite reminder about an unpaid invoice.",
        "Explain what a hash map is.",
    ]
    assert prompts[0].collected_at == datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
    assert prompts[1].collected_at == datetime.fromtimestamp(1795000000, tz=UTC)
    assert prompts[0].meta["user_id"] == "u-4"
    assert prompts[1].completions[0].model == "prod-v4"
    assert reader.skipped_old == 1  # the row of 1 November
    assert errors == [
        RowError(line=4, reason=formats.ERROR_TIMESTAMP.format(value="last tuesday")),
        RowError(line=5, reason=formats.ERROR_MISSING.format(field="user_id")),
    ]


def test_logs_without_window_keep_completion_params():
    prompts, _ = _split(list(read_prompts(DATA / "sample_logs.jsonl")))
    assert prompts[0].completions[0].params == {"temperature": 0.2}
    assert prompts[0].completions[0].model == "prod-v3"


def test_since_turns_rows_without_timestamp_into_errors():
    items = list(read_prompts(DATA / "sample_prompts.txt", since=datetime(2026, 1, 1, tzinfo=UTC)))
    assert {type(i) for i in items} == {RowError}
    assert items[0].reason == formats.ERROR_NO_TIMESTAMP


def test_plain_text_prompt_list_one_per_line():
    reader = PromptReader(DATA / "sample_prompts.txt")
    prompts = list(reader)
    assert reader.format == formats.PROMPTS
    assert [(p.line, p.text) for p in prompts] == [
        (1, "What is the capital of Australia?"),
        (3, "Name three prime numbers greater than 50."),
        (5, "Write a limerick about a cat who codes."),
    ]


def test_parquet_streams_batches_with_nested_messages(tmp_path, monkeypatch):
    rows = [
        {"messages": [{"role": "user", "content": f"Question number {i}?"}], "lang": "en"}
        for i in range(25)
    ]
    rows[7]["messages"] = [{"role": "assistant", "content": "no question here"}]
    path = tmp_path / "chat.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    monkeypatch.setattr("labeling.pipeline.readers.PARQUET_BATCH_ROWS", 4)

    reader = PromptReader(path)
    progress = []
    items = []
    for item in reader:
        items.append(item)
        progress.append(reader.progress())
    prompts, errors = _split(items)

    assert reader.format == formats.OPENAI
    assert len(prompts) == 24
    assert prompts[-1].messages[0]["content"] == "Question number 24?"
    assert prompts[-1].line == 25
    assert prompts[0].meta == {"lang": "en"}
    assert errors == [RowError(line=8, reason=formats.ERROR_NO_USER)]
    assert progress[0] < 0.1 and progress[-1] == 1.0


def test_gzipped_jsonl_and_named_format(tmp_path):
    path = tmp_path / "items.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(json.dumps({"text": "Explain recursion to a child."}) + "\n")
        handle.write(json.dumps({"text": "   "}) + "\n")
    prompts, errors = _split(list(read_prompts(path, format=formats.PROMPTS)))
    assert prompts[0].text == "Explain recursion to a child."
    assert errors == [RowError(line=2, reason=formats.ERROR_EMPTY.format(field="text"))]


def test_named_format_that_does_not_fit_gives_row_errors():
    items = list(read_prompts(DATA / "sample_sharegpt.jsonl", format=formats.ALPACA))
    assert all(isinstance(i, RowError) for i in items)
    assert items[0].reason == formats.ERROR_MISSING.format(field="instruction")


def test_undetectable_rows_say_how_to_name_the_format(tmp_path):
    path = tmp_path / "odd.jsonl"
    path.write_text('{"foo": 1}\n')
    [error] = list(read_prompts(path))
    assert error.line == 1
    assert "--format" in error.reason and "foo" in error.reason


def test_invalid_utf8_line_is_a_row_error(tmp_path):
    path = tmp_path / "bytes.jsonl"
    path.write_bytes(b'{"prompt": "fine line here"}\n{"prompt": "\xff\xfe broken"}\n')
    prompts, errors = _split(list(read_prompts(path)))
    assert len(prompts) == 1
    assert errors[0].line == 2


def test_unknown_file_type_is_refused(tmp_path):
    with pytest.raises(PipelineError) as caught:
        PromptReader(tmp_path / "notes.docx")
    assert str(caught.value) == ERROR_FILE_TYPE.format(name="notes.docx")


def test_detect_format_by_fields():
    assert formats.detect_format({"chosen": "", "rejected": ""}) == formats.HH_RLHF
    assert formats.detect_format({"turns": [], "category": "x"}) == formats.MT_BENCH
    assert formats.detect_format({"conversations": []}) == formats.SHAREGPT
    assert formats.detect_format({"instruction": ""}) == formats.ALPACA
    assert formats.detect_format({"ts": 1, "user": "a", "prompt": "x"}) == formats.LOGS
    assert formats.detect_format({"messages": []}) == formats.OPENAI
    assert formats.detect_format({"question": "x"}) == formats.PROMPTS


def test_all_or_nothing_by_default_and_skip_invalid_keeps_good_rows():
    with pytest.raises(ImportRejected) as caught:
        collect(read_prompts(DATA / "sample_openai.jsonl"))
    assert [e.line for e in caught.value.errors] == [4, 5, 7]
    assert str(caught.value).startswith("3 bad row(s); nothing was imported. First: line 4")

    result = collect(read_prompts(DATA / "sample_openai.jsonl"), skip_invalid=True)
    # Line 6 repeats line 1's question (its system text differs, the user turn does not).
    assert len(result.prompts) == 4
    assert len(result.errors) == 3


def test_reimport_adds_nothing_through_content_hash():
    first = collect(read_prompts(DATA / "sample_sharegpt.jsonl"), skip_invalid=True)
    known = {p.content_hash for p in first.prompts}
    again = collect(
        read_prompts(DATA / "sample_sharegpt.jsonl"), skip_invalid=True, known_hashes=known
    )
    assert again.prompts == []
    assert again.duplicates == len(first.prompts)


def test_content_hash_ignores_case_and_spacing_but_not_roles_or_system():
    a = content_hash([{"role": "user", "content": "Hello   World"}])
    assert a == content_hash([{"role": "user", "content": " hello world\n"}])
    assert a != content_hash([{"role": "assistant", "content": "Hello World"}])
    assert a != content_hash([{"role": "user", "content": "Hello World"}], system="Be brief.")


def test_real_hh_rlhf_pairs_become_prompts_with_chosen_and_rejected():
    reader = PromptReader(DATA / "hh_rlhf_harmless_base_test_200.jsonl")
    result = collect(reader)

    assert reader.format == formats.HH_RLHF
    assert reader.rows == 200
    assert len(result.prompts) + result.duplicates == 200
    for prompt in result.prompts:
        assert prompt.messages[0]["role"] == "user"
        assert prompt.messages[-1]["role"] == "user"
        assert [c.preferred for c in prompt.completions] == [True, False]
    first = result.prompts[0]
    assert first.messages[0]["content"] == "what are some pranks with a pen i can do?"
    assert first.completions[0].text.startswith("No, sorry!")
    assert first.completions[1].text.startswith("There are lots of funny things")


def test_hh_rlhf_transcript_errors():
    bad = {"chosen": "\n\nHuman: hi\n\nAssistant: a", "rejected": "\n\nHuman: bye\n\nAssistant: b"}
    with pytest.raises(formats.BadRow, match="differ before their last answer"):
        formats.parse_record(formats.HH_RLHF, bad)
    with pytest.raises(formats.BadRow, match="does not end with an answer"):
        formats.parse_record(formats.HH_RLHF, {"chosen": "\n\nHuman: hi", "rejected": "x"})


def test_real_mt_bench_questions_with_turns_categories_and_references():
    reader = PromptReader(DATA / "mt_bench_question.jsonl")
    result = collect(reader)

    assert reader.format == formats.MT_BENCH
    assert len(result.prompts) == 80
    assert all(len(p.meta["followup_turns"]) == 1 for p in result.prompts)
    with_reference = [p for p in result.prompts if "references" in p.meta]
    assert len(with_reference) == 39
    assert all(len(p.meta["references"]) == 2 for p in with_reference)
    # Question 133 has a reference for its second turn only.
    assert sum(1 for p in with_reference if p.reference) == 38
    by_type = {p.task_type for p in result.prompts}
    assert by_type == {"creative", "qa", "math", "code", "extraction"}
    first = result.prompts[0]
    assert first.meta["question_id"] == 81 and first.meta["category"] == "writing"
    assert first.messages[0]["content"].startswith("Compose an engaging travel blog post")


def test_reading_is_streamed_in_constant_memory(tmp_path):
    def write(path, rows):
        with path.open("w") as handle:
            for i in range(rows):
                record = {"messages": [{"role": "user", "content": f"Prompt {i} " + "word " * 40}]}
                handle.write(json.dumps(record) + "\n")

    def peak(path):
        tracemalloc.start()
        count = sum(1 for _ in read_prompts(path))
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return count, top

    small, large = tmp_path / "small.jsonl", tmp_path / "large.jsonl"
    write(small, 500)
    write(large, 10_000)
    assert peak(small)[0] == 500
    count, large_peak = peak(large)
    assert count == 10_000
    # 20x the rows, about the same peak: nothing accumulates per row.
    assert large_peak < 2 * peak(small)[1] + 256 * 1024


def test_prompt_payload_carries_preference_reference_and_line():
    from labeling.pipeline.records import prompt_payload

    hh = next(iter(read_prompts(DATA / "hh_rlhf_harmless_base_test_200.jsonl")))
    payload = prompt_payload(hh)
    assert [c["meta"] for c in payload["completions"]] == [
        {"preferred": True},
        {"preferred": False},
    ]
    assert payload["meta"]["line"] == 1
    assert payload["source"] == "hh_rlhf_harmless_base_test_200.jsonl"

    mt = next(iter(read_prompts(DATA / "mt_bench_question.jsonl")))
    payload = prompt_payload(mt)
    assert payload["task_type"] == "creative"
    assert payload["completions"] == []
    assert payload["meta"]["followup_turns"] == [
        "Rewrite your previous response. Start every sentence with the letter A."
    ]


def test_a_json_array_file_is_refused_with_how_to_convert(tmp_path):
    path = tmp_path / "dump.json"
    path.write_text('[\n {"prompt": "a"},\n {"prompt": "b"}\n]\n')
    with pytest.raises(PipelineError) as caught:
        list(read_prompts(path))
    assert "jq -c '.[]' dump.json > dump.jsonl" in str(caught.value)


def test_an_unknown_format_name_is_refused_before_reading():
    with pytest.raises(PipelineError) as caught:
        PromptReader(DATA / "sample_prompts.txt", format="yaml")
    assert str(caught.value).startswith("unknown format 'yaml'; use one of openai, sharegpt")


def test_csv_cells_carry_nested_messages_as_json(tmp_path):
    import csv

    path = tmp_path / "chats.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["messages", "model"])
        messages = [
            {"role": "user", "content": "Hi, what is 2+2?"},
            {"role": "assistant", "content": "4"},
        ]
        writer.writerow([json.dumps(messages), "m1"])
        writer.writerow(["[not json", "m1"])
    reader = PromptReader(path)
    prompts, errors = _split(list(reader))
    assert reader.format == formats.OPENAI
    assert prompts[0].text == "Hi, what is 2+2?"
    assert prompts[0].completions[0].text == "4"
    assert prompts[0].completions[0].model == "m1"
    assert errors == [
        RowError(line=3, reason=formats.ERROR_TYPE.format(field="messages", kind="a list"))
    ]
