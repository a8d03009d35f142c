"""Reading MT-Bench / Chatbot Arena judgment files: records, and every bad row at once."""

import io

import pytest

from evaluation.agreement import (
    JudgmentFileError,
    RowError,
    Score,
    Vote,
    iter_judgments,
    read_judgments,
    read_judgments_text,
    reader,
)
from flywheel.errors import DomainError


def test_csv_votes_and_scores(tmp_path):
    path = tmp_path / "judgments.csv"
    path.write_text(
        "question_id,model_a,model_b,winner,judge,turn,category,extra\n"
        "81,alpaca-13b,gpt-4,model_b,expert_12,1,writing,x\n"
        "81,alpaca-13b,gpt-4,tie (bothbad),gpt4_pair,2,,y\n",
        encoding="utf-8",
    )
    result = read_judgments(path)
    assert result.scores == []
    assert result.votes == [
        Vote("81", "alpaca-13b", "gpt-4", "model_b", "expert_12", 1, category="writing"),
        Vote("81", "alpaca-13b", "gpt-4", "tie (bothbad)", "gpt4_pair", 2),
    ]
    assert result.votes[0].group == "expert"


def test_jsonl_fastchat_judge_lists_int_ids_and_scores(tmp_path):
    path = tmp_path / "judgments.jsonl"
    path.write_text(
        '{"question_id": 81, "model_a": "a", "model_b": "b", "winner": "model_a",'
        ' "judge": ["gpt-4", "pair-v2"], "turn": 1, "g1_winner": "model_a"}\n'
        "\n"
        '{"question_id": 82, "model": "a", "turn": 2, "judge": "gpt4_single", "score": 7.5,'
        ' "trial": 3}\n',
        encoding="utf-8",
    )
    result = read_judgments(path)
    assert result.votes == [Vote("81", "a", "b", "model_a", "gpt-4/pair-v2", 1)]
    assert result.scores == [Score("82", "a", 2, "gpt4_single", 7.5, trial=3)]


def test_every_bad_row_is_reported_with_its_line_and_nothing_is_returned():
    text = (
        "question_id,model_a,model_b,winner,judge,turn\n"  # line 1
        "1,a,b,model_a,expert_1,1\n"  # 2: good
        "2,a,b,model_c,expert_1,1\n"  # 3: bad winner
        "3,a,b,model_a,expert_1,0\n"  # 4: bad turn
        "4,a,a,model_a,expert_1,1\n"  # 5: same model
        "5,a,b,model_a,,1\n"  # 6: empty judge
        "6,a,b,model_a\n"  # 7: short row
        "7,a,b,tie,expert_2,2\n"  # 8: good
    )
    with pytest.raises(JudgmentFileError) as err:
        read_judgments_text(text, format="csv")
    assert err.value.errors == [
        RowError(3, reader.BAD_WINNER.format(value="model_c")),
        RowError(4, reader.BAD_TURN.format(value="0")),
        RowError(5, reader.SAME_MODEL.format(value="a")),
        RowError(6, reader.EMPTY_FIELD.format(name="judge")),
        RowError(7, reader.MISSING_FIELDS.format(fields="judge, turn")),
    ]
    message = str(err.value)
    assert message.startswith("5 bad row(s) in <stream>; nothing was read")
    assert "line 3: winner 'model_c'" in message
    assert isinstance(err.value, DomainError)


def test_jsonl_bad_rows_and_bad_scores():
    text = (
        '{"question_id": 1, "model": "a", "turn": 1, "judge": "j", "score": "high"}\n'
        "not json\n"
        "[1, 2]\n"
        '{"question_id": 1, "model": "a", "turn": 1.5, "judge": "j", "score": 3}\n'
        '{"question_id": 1, "model": "a", "turn": 1, "judge": "j", "score": NaN}\n'
        '{"question_id": 1, "turn": 1}\n'
    )
    with pytest.raises(JudgmentFileError) as err:
        read_judgments_text(text, format="jsonl")
    lines = [(e.line, e.message.split(" ")[0]) for e in err.value.errors]
    assert lines == [
        (1, "score"),
        (2, "not"),
        (3, "not"),
        (4, "turn"),
        (5, "score"),
        (6, "neither"),
    ]


def test_iteration_stops_yielding_after_the_first_bad_row_and_raises_at_the_end():
    text = (
        "question_id,model_a,model_b,winner,judge,turn\n"
        "1,a,b,model_a,r_1,1\n"
        "2,a,b,oops,r_1,1\n"
        "3,a,b,model_a,r_1,1\n"
    )
    seen = []
    with pytest.raises(JudgmentFileError) as err:
        for line, record in iter_judgments(io.StringIO(text), format="csv"):
            seen.append((line, record.question_id))
    assert seen == [(2, "1")]
    assert [e.line for e in err.value.errors] == [3]


def test_many_errors_are_capped_in_the_message_but_all_kept():
    rows = "".join(f"{i},a,b,bad,r,1\n" for i in range(80))
    with pytest.raises(JudgmentFileError) as err:
        read_judgments_text("question_id,model_a,model_b,winner,judge,turn\n" + rows, format="csv")
    assert len(err.value.errors) == 80
    assert "... and 30 more" in str(err.value)


def test_unknown_format_and_empty_csv(tmp_path):
    path = tmp_path / "judgments.txt"
    path.write_text("x", encoding="utf-8")
    with pytest.raises(DomainError) as err:
        read_judgments(path)
    assert str(err.value) == reader.UNKNOWN_FORMAT.format(name=str(path))
    with pytest.raises(JudgmentFileError) as err:
        read_judgments_text("", format="csv")
    assert err.value.errors == [RowError(1, reader.MISSING_HEADER)]
