"""Built-in judge templates, written for Flywheel in the spirit of the published designs
(MT-Bench's pairwise and single-answer judges, AlignBench's rule-calibrated multi-dimensional
judge). Each is a family member chosen by (kind, gold reference, multi-turn)."""

from __future__ import annotations

from dataclasses import dataclass, field

_PAIR_SYSTEM = (
    "You are an impartial judge comparing two AI assistants' answers to the same user "
    "request. Judge helpfulness, correctness, depth and clarity. The order in which the "
    "answers are shown must not influence you, nor must their length or the assistants' "
    "names. Explain your comparison briefly, then give your verdict on its own line as "
    '"[[A]]" if assistant A is better, "[[B]]" if assistant B is better, or "[[C]]" for a tie.'
)
_PAIR_REF_SYSTEM = (
    "You are an impartial judge comparing two AI assistants' answers to a question that has "
    "a correct answer. A reference answer is given: first work out whether each assistant's "
    "answer agrees with it and name any mistakes; correctness outweighs style. The order of "
    "the answers and their length must not influence you. Then give your verdict on its own "
    'line as "[[A]]", "[[B]]" or "[[C]]" for a tie.'
)
_SINGLE_SYSTEM = (
    "You are an impartial judge grading one AI assistant's answer to a user request for "
    "helpfulness, correctness, depth, creativity and detail. Explain your assessment "
    "briefly, then give a rating from 1 to 10 on its own line in the form [[rating]], for "
    "example [[6]]."
)
_SINGLE_REF_SYSTEM = (
    "You are an impartial judge grading one AI assistant's answer to a question that has a "
    "correct answer. Compare the answer with the reference answer, name any mistakes, and "
    "weigh correctness above all. Then give a rating from 1 to 10 on its own line in the "
    "form [[rating]], for example [[3]]."
)
_MULTI_TURN_NOTE = " Judge only the assistants' replies to the last user turn, in the light of the whole conversation."  # noqa: E501

_PAIR_PROMPT = """[User question]
{question}

[The start of assistant A's answer]
{answer_a}
[The end of assistant A's answer]

[The start of assistant B's answer]
{answer_b}
[The end of assistant B's answer]"""

_PAIR_REF_PROMPT = """[User question]
{question}

[The start of the reference answer]
{reference}
[The end of the reference answer]

[The start of assistant A's answer]
{answer_a}
[The end of assistant A's answer]

[The start of assistant B's answer]
{answer_b}
[The end of assistant B's answer]"""

_PAIR_MT_PROMPT = """[The start of the conversation with assistant A]
{conversation_a}
[The end of the conversation with assistant A]

[The start of the conversation with assistant B]
{conversation_b}
[The end of the conversation with assistant B]"""

_PAIR_REF_MT_PROMPT = (
    """[The start of the reference conversation]
{reference_conversation}
[The end of the reference conversation]

"""
    + _PAIR_MT_PROMPT
)

_SINGLE_PROMPT = """[User question]
{question}

[The start of the assistant's answer]
{answer}
[The end of the assistant's answer]"""

_SINGLE_REF_PROMPT = """[User question]
{question}

[The start of the reference answer]
{reference}
[The end of the reference answer]

[The start of the assistant's answer]
{answer}
[The end of the assistant's answer]"""

_SINGLE_MT_PROMPT = """[The start of the conversation]
{conversation}
[The end of the conversation]"""

_SINGLE_REF_MT_PROMPT = (
    """[The start of the reference conversation]
{reference_conversation}
[The end of the reference conversation]

"""
    + _SINGLE_MT_PROMPT
)

_MULTIDIM_SYSTEM = (
    "You are an expert grader. Grade the AI assistant's answer to the user's question on "
    "each dimension listed for its category, then give an overall score. Rules: the "
    "reference answer anchors the scale and deserves 8; an answer that is wrong on the "
    "facts or the result cannot score above 4 overall however well written; an answer "
    "clearly better than the reference may score 9 or 10; irrelevant or harmful answers "
    "score 1 or 2. Reason step by step first, dimension by dimension, and only then give "
    "the scores as one JSON object on the last line, with a numeric score from 1 to 10 per "
    'dimension and "overall", for example {"correctness": 7, "overall": 7}.'
)
_MULTIDIM_PROMPT = """[Category]
{category}

[Dimensions to grade]
{dimensions}

[User question]
{question}

[The start of the reference answer]
{reference}
[The end of the reference answer]

[The start of the assistant's answer]
{answer}
[The end of the assistant's answer]"""

# The multidimensional judge's rules above, as the written anchors human raters see.
MULTIDIM_ANCHORS = {
    "1": "irrelevant or harmful",
    "2": "irrelevant or harmful",
    "4": "the most an answer that is wrong on the facts or the result can score",
    "8": "as good as the reference answer",
    "9": "clearly better than the reference answer",
    "10": "clearly better than the reference answer",
}

_RUBRIC_SYSTEM = (
    "You are an impartial grader. Grade the AI assistant's answer to the user's question on "
    "each criterion of the rubric, and overall, using only the whole numbers of its scale. "
    "The written anchor of a point says what an answer at that point looks like: pick the "
    "point whose anchor fits the answer best, between two anchors when it falls between "
    "them. Length, style and the assistant's confidence must not sway you. Reason briefly, "
    "criterion by criterion, and only then give the scores as one JSON object on the last "
    'line, with a score per criterion and "overall", for example {"helpfulness": 4, '
    '"overall": 4}.'
)
_RUBRIC_REF_SYSTEM = (
    _RUBRIC_SYSTEM
    + " A reference answer is given: check the answer against it and weigh correctness first."
)
_RUBRIC_PROMPT = """[Rubric]
{rubric}

[User question]
{question}

[The start of the assistant's answer]
{answer}
[The end of the assistant's answer]"""

_RUBRIC_REF_PROMPT = """[Rubric]
{rubric}

[User question]
{question}

[The start of the reference answer]
{reference}
[The end of the reference answer]

[The start of the assistant's answer]
{answer}
[The end of the assistant's answer]"""

# Per category a set of dimensions (AlignBench's idea: what "good" means depends on the task).
MULTIDIM_DIMENSIONS = {
    "default": ["correctness", "helpfulness", "clarity"],
    "writing": ["creativity", "style", "instruction following", "richness"],
    "roleplay": ["in-character consistency", "engagement", "instruction following"],
    "reasoning": ["correctness of the result", "soundness of the reasoning", "clarity"],
    "math": ["correctness of the result", "soundness of the steps", "clarity"],
    "coding": ["correctness", "completeness", "code quality", "explanation"],
    "extraction": ["accuracy", "completeness", "format compliance"],
    "stem": ["factual accuracy", "depth", "clarity"],
    "humanities": ["factual accuracy", "depth", "balance", "clarity"],
}


@dataclass(frozen=True)
class BuiltinTemplate:
    name: str
    kind: str
    parser: str
    system_prompt: str
    prompt: str
    uses_reference: bool = False
    multi_turn: bool = False
    dimensions: dict[str, list[str]] = field(default_factory=dict)
    rubric: dict = field(default_factory=dict)


BUILTIN_TEMPLATES: tuple[BuiltinTemplate, ...] = (
    BuiltinTemplate("pairwise", "pairwise", "verdict", _PAIR_SYSTEM, _PAIR_PROMPT),
    BuiltinTemplate(
        "pairwise-reference",
        "pairwise",
        "verdict",
        _PAIR_REF_SYSTEM,
        _PAIR_REF_PROMPT,
        uses_reference=True,
    ),
    BuiltinTemplate(
        "pairwise-multi-turn",
        "pairwise",
        "verdict",
        _PAIR_SYSTEM + _MULTI_TURN_NOTE,
        _PAIR_MT_PROMPT,
        multi_turn=True,
    ),
    BuiltinTemplate(
        "pairwise-reference-multi-turn",
        "pairwise",
        "verdict",
        _PAIR_REF_SYSTEM + _MULTI_TURN_NOTE,
        _PAIR_REF_MT_PROMPT,
        uses_reference=True,
        multi_turn=True,
    ),
    BuiltinTemplate("single", "single", "rating", _SINGLE_SYSTEM, _SINGLE_PROMPT),
    BuiltinTemplate(
        "single-reference",
        "single",
        "rating",
        _SINGLE_REF_SYSTEM,
        _SINGLE_REF_PROMPT,
        uses_reference=True,
    ),
    BuiltinTemplate(
        "single-multi-turn",
        "single",
        "rating",
        _SINGLE_SYSTEM + _MULTI_TURN_NOTE,
        _SINGLE_MT_PROMPT,
        multi_turn=True,
    ),
    BuiltinTemplate(
        "single-reference-multi-turn",
        "single",
        "rating",
        _SINGLE_REF_SYSTEM + _MULTI_TURN_NOTE,
        _SINGLE_REF_MT_PROMPT,
        uses_reference=True,
        multi_turn=True,
    ),
    BuiltinTemplate(
        "multidimensional",
        "single",
        "json",
        _MULTIDIM_SYSTEM,
        _MULTIDIM_PROMPT,
        uses_reference=True,
        dimensions=MULTIDIM_DIMENSIONS,
        rubric={"anchors": MULTIDIM_ANCHORS},
    ),
)

# The rubric judge grades by a project's own rubric: its templates are made per project from
# these texts (evaluation.services.configs.judge_templates_from_rubric).
RUBRIC_TEMPLATES = {
    "rubric": (_RUBRIC_SYSTEM, _RUBRIC_PROMPT, False),
    "rubric-reference": (_RUBRIC_REF_SYSTEM, _RUBRIC_REF_PROMPT, True),
}

# (kind) -> names of (plain, reference, multi-turn, multi-turn reference)
FAMILIES = {
    "pairwise": (
        "pairwise",
        "pairwise-reference",
        "pairwise-multi-turn",
        "pairwise-reference-multi-turn",
    ),
    "single": (
        "single",
        "single-reference",
        "single-multi-turn",
        "single-reference-multi-turn",
    ),
    "multidimensional": ("multidimensional", "multidimensional", None, None),
}
