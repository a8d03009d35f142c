"""Each template's parsing rule, explicit: what counts, what is a recorded failure."""

import pytest

from evaluation.judging import parsing
from evaluation.judging.prompts import render, unknown_variables


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("Assistant A is more accurate.\n[[A]]", "A"),
        ("B explains better. [[B]]", "B"),
        ("Both are equally good: [[C]]", "C"),
        ("Final verdict: [[ A ]]", "A"),
        ("[[B]] ... as I said, [[B]]", "B"),
    ],
)
def test_verdict_parser_reads_the_one_verdict(text, verdict):
    parsed = parsing.parse_verdict(text)
    assert parsed.ok and parsed.verdict == verdict


def test_verdict_parser_refuses_missing_and_ambiguous_verdicts():
    assert parsing.parse_verdict("A is better.").error == parsing.ERROR_NO_VERDICT
    ambiguous = parsing.parse_verdict("Not [[A]] but rather [[B]]")
    assert not ambiguous.ok
    assert ambiguous.error == parsing.ERROR_AMBIGUOUS_VERDICT.format(found="[[A]], [[B]]")
    assert parsing.parse_verdict("[A]").error == parsing.ERROR_NO_VERDICT


def test_rating_parser_takes_the_last_rating_in_range():
    assert parsing.parse_rating("Rating: [[7]]").score == 7.0
    assert parsing.parse_rating("first [[3]], revised [[8.5]]").score == 8.5
    assert parsing.parse_rating("no number").error == parsing.ERROR_NO_RATING
    out_of_range = parsing.parse_rating("[[11]]")
    assert out_of_range.error == parsing.ERROR_RATING_RANGE.format(value=11, low=1, high=10)


def test_json_parser_reads_overall_and_dimensions_from_a_fence_or_the_last_line():
    text = 'Reasoning...\n```json\n{"correctness": 6, "clarity": 8, "overall": 7}\n```'
    parsed = parsing.parse_json_scores(text)
    assert parsed.score == 7.0
    assert parsed.dimension_scores == {"correctness": 6.0, "clarity": 8.0}
    nested = parsing.parse_json_scores('so: {"dimensions": {"depth": 4}, "overall": 5}')
    assert nested.score == 5.0 and nested.dimension_scores == {"depth": 4.0}
    assert parsing.parse_json_scores("no json").error == parsing.ERROR_NO_JSON
    assert parsing.parse_json_scores('{"overall": "good"}').error == parsing.ERROR_JSON_OVERALL
    assert parsing.parse_json_scores('{"overall": true}').error == parsing.ERROR_JSON_OVERALL


def test_unknown_parser_is_a_failure_not_a_guess():
    assert parsing.parse("regex", "[[A]]").error == parsing.ERROR_UNKNOWN_PARSER.format(
        parser="regex"
    )


def test_render_fills_known_variables_and_leaves_other_braces():
    text = 'Q: {question}\nAnswer like {"overall": 7} and keep {unknown}.'
    assert render(text, {"question": "2+2?"}) == (
        'Q: 2+2?\nAnswer like {"overall": 7} and keep {unknown}.'
    )
    assert unknown_variables(text) == ["unknown"]
