"""agreement_report's plain-text output carries what --json has: intervals, the difference to
people-people with its interval, per turn and category, the confusion matrix, the number of
disagreements, the leaderboards and their rank correlation. Figures hand-computed on a small
set."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command

from evaluation.services.imports import judgments_import
from tests.evaluation.test_report_pages import CSV

pytestmark = pytest.mark.django_db


def _text(*args: str) -> list[str]:
    handle = io.StringIO(CSV)
    handle.name = "small.csv"
    judgments_import(sources=[handle], name="small")
    out = io.StringIO()
    call_command("agreement_report", "--name", "small", *args, stdout=out)
    return out.getvalue().splitlines()


def test_plain_text_pairwise_report_has_every_figure_of_the_json():
    lines = _text("--a", "gpt4_pair", "--b", "expert")
    text = "\n".join(lines)
    assert lines[0] == "gpt4_pair vs expert, all turns"
    # The judge against each expert's vote on the same item: 6 of 8 agree; without ties 5 of 6.
    assert re.search(r"agreement with ties: +75\.0% \(6/8\)  \[95% [\d.]+% to [\d.]+%\]", text)
    assert re.search(r"agreement without ties: 83\.3% \(5/6\)  \[95% [\d.]+% to [\d.]+%\]", text)
    # Observed 0.75, expected from the margins (4x4 + 2x3 + 2x1) / 64 = 0.375: kappa 0.6.
    assert re.search(r"Cohen's kappa: +0\.600  \[95% -?[\d.]+ to -?[\d.]+\]", text)
    assert re.search(r"Krippendorff's alpha: +-?[\d.]+  \[95% ", text)
    assert "  on 4 items, 4 questions" in lines
    # Expert vs expert: q1 and q2 agree, q3 and q4 do not (2/4); without ties 2/3.
    assert "  expert vs itself: 50.0% (2/4) with ties, 66.7% (2/3) without" in lines
    assert re.search(
        r"difference with ties: +\+25\.0 points  \[95% [-+][\d.]+ to [-+][\d.]+\]", text
    )
    assert re.search(r"difference without ties: \+16\.7 points  \[95% ", text)
    turn = next(line for line in lines if line.startswith("  turn 1 "))
    assert re.search(r"75\.0% \(6/8\) \[[\d.]+ to [\d.]+\] with ties, 83\.3% \(5/6\) ", turn)
    assert turn.endswith("kappa 0.600")
    math = next(line for line in lines if line.startswith("  category math "))
    # q3 and q4: the judge agrees with one expert on each.
    assert "50.0% (2/4) [50.0 to 50.0] with ties, 50.0% (1/2) [50.0 to 50.0] without" in math
    # Judge 1/2 without ties on math, experts 0/1 among themselves.
    assert "; vs itself +50.0 points" in math
    # Rows: the judge's label, columns the experts', in model_a, model_b, tie order.
    at = lines.index("  confusion matrix (gpt4_pair rows, expert columns):")
    assert lines[at + 1].split() == ["model_a", "model_b", "tie"]
    assert [line.split() for line in lines[at + 2 : at + 5]] == [
        ["model_a", "3", "1", "0"],
        ["model_b", "0", "2", "0"],
        ["tie", "1", "0", "1"],
    ]
    # Win rates with ties as half: judge m1 (2 + 0.5) / 4, experts m1 (4 + 0.5) / 8.
    assert "  leaderboard gpt4_pair (win rate, ties half): m1 62.5%, m2 37.5%" in lines
    assert "  leaderboard expert (win rate, ties half): m1 56.2%, m2 43.8%" in lines
    assert "  rank correlation over 2 models: kendall 1.000, spearman 1.000" in lines
    assert "  2 disagreements (--json lists them)" in lines
    assert any(line.startswith("  verdict: ") for line in lines)


def test_plain_text_for_one_group_against_itself_and_one_turn():
    lines = _text("--a", "expert", "--b", "expert", "--turn", "1")
    assert lines[0] == "expert vs expert, turn 1"
    assert any(line.startswith("  agreement with ties:    50.0% (2/4)") for line in lines)
    # No baseline to subtract, no per-turn breakdown for a fixed turn, no rank correlation
    # of a group with itself.
    assert not any("difference" in line or line.startswith("  turn") for line in lines)
    assert not any("rank correlation" in line for line in lines)
    assert "  leaderboard expert (win rate, ties half): m1 56.2%, m2 43.8%" in lines
    assert "  2 disagreements (--json lists them)" in lines


def test_without_groups_the_command_opens_on_the_pages_default_pair():
    """--a and --b default like the report page and the API: the judge group against people."""
    assert _text()[0] == "gpt4_pair vs expert, all turns"
    out = io.StringIO()
    call_command("agreement_report", "--name", "small", "--b", "gpt4_pair", stdout=out)
    assert out.getvalue().splitlines()[0] == "gpt4_pair vs gpt4_pair, all turns"
