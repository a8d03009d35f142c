"""import_judgments and agreement_report end to end on the real MT-Bench judgments, and the
all-or-nothing import of bad files."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from evaluation.agreement import JudgmentFileError
from evaluation.errors import EvaluationError
from evaluation.management.commands.import_judgments import NO_PROJECT
from evaluation.models import ImportedJudgment, JudgmentSet
from evaluation.services.imports import ERROR_FORMAT, ERROR_NAME_TAKEN, judgments_import
from tests.conftest import PASSWORD

DATA = Path(__file__).resolve().parent.parent / "data" / "mt_bench_human_judgments"

pytestmark = pytest.mark.django_db


def _report(*args: str) -> dict:
    out = io.StringIO()
    call_command("agreement_report", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_mt_bench_agreement_reproduced_through_the_commands():
    out = io.StringIO()
    call_command(
        "import_judgments",
        str(DATA / "human.csv"),
        str(DATA / "gpt4_pair.csv"),
        "--name",
        "mt-bench",
        "--format",
        "mtbench",
        stdout=out,
    )
    judgment_set = JudgmentSet.objects.get(name="mt-bench")
    assert judgment_set.vote_count == 3355 + 2400
    assert judgment_set.groups["gpt4_pair"] == 2400
    assert judgment_set.groups["expert"] + judgment_set.groups["author"] == 3355
    assert "5755 votes" in out.getvalue()
    # Categories come from the bundled MT-Bench questions (81-90 are writing).
    assert ImportedJudgment.objects.filter(question_id="81").first().category == "writing"

    judge = _report("--name", "mt-bench", "--a", "gpt4_pair", "--b", "expert", "--turn", "1")
    assert (judge["with_ties"]["agree"], judge["with_ties"]["n"]) == (886, 1343)
    assert round(100 * judge["with_ties"]["agreement"], 1) == 66.0
    assert (judge["without_ties"]["agree"], judge["without_ties"]["n"]) == (727, 859)
    assert round(100 * judge["without_ties"]["agreement"], 1) == 84.6
    assert -1 <= judge["cohen_kappa"] <= 1 and -1 <= judge["krippendorff_alpha"] <= 1
    assert len(judge["per_category"]) == 8
    assert set(judge["per_category"]["math"]) >= {
        "with_ties",
        "without_ties",
        "cohen_kappa",
        "krippendorff_alpha",
    }
    # The human-human baseline rides along as the difference's reference.
    reference = judge["difference"]["reference"]
    assert (reference["with_ties"]["agree"], reference["with_ties"]["n"]) == (454, 721)

    experts = _report("--name", "mt-bench", "--a", "expert", "--b", "expert", "--turn", "1")
    assert (experts["with_ties"]["agree"], experts["with_ties"]["n"]) == (454, 721)
    assert round(100 * experts["with_ties"]["agreement"], 1) == 63.0
    assert (experts["without_ties"]["agree"], experts["without_ties"]["n"]) == (388, 479)
    assert round(100 * experts["without_ties"]["agreement"], 1) == 81.0


def test_category_filter_and_plain_text_output():
    judgments_import(
        sources=[DATA / "human.csv", DATA / "gpt4_pair.csv"], name="mt", format="mtbench"
    )
    math = _report(
        "--name", "mt", "--a", "gpt4_pair", "--b", "expert", "--turn", "1", "--category", "math"
    )
    rows = ImportedJudgment.objects.filter(judgment_set__name="mt", category="math", turn=1)
    assert math["category"] == "math"
    assert 0 < math["with_ties"]["n"] < 1343
    assert rows.filter(rater_group="gpt4_pair").count() > 0
    out = io.StringIO()
    call_command(
        "agreement_report", "--name", "mt", "--a", "gpt4_pair", "--b", "expert", stdout=out
    )
    assert "agreement with ties" in out.getvalue() and "Cohen's kappa" in out.getvalue()


def test_bad_rows_are_listed_with_line_numbers_and_nothing_is_imported(tmp_path):
    path = tmp_path / "votes.csv"
    path.write_text(
        "question_id,model_a,model_b,winner,judge,turn\n"
        "81,a,b,model_a,expert_1,1\n"
        "82,a,b,maybe,expert_1,1\n"
        "83,a,a,model_b,expert_2,1\n"
        "84,a,b,tie,expert_2,x\n"
    )
    with pytest.raises(CommandError) as caught:
        call_command("import_judgments", str(path), "--name", "bad")
    message = str(caught.value)
    assert "3 bad row(s)" in message
    assert "line 3: winner 'maybe'" in message
    assert "line 4: model_a and model_b are the same" in message
    assert "line 5: turn 'x'" in message
    assert not JudgmentSet.objects.exists() and not ImportedJudgment.objects.exists()


def test_a_bad_second_file_rolls_back_the_good_first_one(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question_id": 1, "model": "m", "turn": 1, "judge": "gpt4", "score": "x"}\n')
    with pytest.raises(JudgmentFileError):
        judgments_import(sources=[DATA / "human.csv", bad], name="two")
    assert not JudgmentSet.objects.exists() and not ImportedJudgment.objects.exists()


def test_scores_import_groups_raters_and_reports_correlations(tmp_path):
    path = tmp_path / "scores.jsonl"
    rows = []
    for q in range(1, 7):
        for model, base in (("m1", 2), ("m2", 6)):
            rows.append(
                {
                    "question_id": q,
                    "model": model,
                    "turn": 1,
                    "judge": "gpt4_single",
                    "score": base + q % 3,
                }
            )
            rows.append(
                {
                    "question_id": q,
                    "model": model,
                    "turn": 1,
                    "judge": "author_1",
                    "score": base + q % 3 + 1,
                    "trial": 0,
                }
            )
    path.write_text("\n".join(json.dumps(r) for r in rows))
    judgment_set = judgments_import(sources=[path], name="scores")
    assert judgment_set.score_count == 24 and judgment_set.vote_count == 0
    assert judgment_set.groups == {"author": 12, "gpt4_single": 12}
    report = _report("--name", "scores", "--a", "gpt4_single", "--b", "author")
    assert report["kind"] == "scores"
    scores = report["scores"]
    # author = judge + 1 on every answer: perfect rank agreement, a mean difference of 1.
    assert scores["spearman"] == pytest.approx(1.0)
    assert scores["pearson"] == pytest.approx(1.0)
    assert scores["mean_absolute_difference"] == pytest.approx(1.0)
    assert scores["n"] == 12


def test_name_taken_unknown_group_and_missing_file(tmp_path):
    judgments_import(sources=[DATA / "gpt4_pair.csv"], name="once")
    with pytest.raises(CommandError, match="exists already"):
        call_command("import_judgments", str(DATA / "gpt4_pair.csv"), "--name", "once")
    assert ERROR_NAME_TAKEN.format(name="once").startswith("A judgment set named")
    with pytest.raises(CommandError, match="No such file"):
        call_command("import_judgments", str(tmp_path / "none.csv"), "--name", "other")
    with pytest.raises(CommandError, match="the groups are: gpt4_pair"):
        call_command("agreement_report", "--name", "once", "--a", "gpt4_pair", "--b", "expert")
    with pytest.raises(CommandError, match="No judgment set"):
        call_command("agreement_report", "--name", "nope", "--a", "x", "--b", "y")


def test_a_stored_report_is_served_again_without_recomputing(django_assert_max_num_queries):
    judgments_import(sources=[DATA / "gpt4_pair.csv"], name="gpt4")
    first = _report("--name", "gpt4", "--a", "gpt4_pair", "--b", "gpt4_pair")
    from evaluation.models import AgreementReport

    assert AgreementReport.objects.count() == 1
    second = _report("--name", "gpt4", "--a", "gpt4_pair", "--b", "gpt4_pair")
    assert second == first and AgreementReport.objects.count() == 1


OWN_VOTES = (
    "question_id,model_a,model_b,winner,judge,turn,category\n"
    "81,ours-v1,ours-v2,model_a,gpt4_pair,1,\n"
    "82,ours-v1,ours-v2,model_b,expert_1,1,\n"
    "101,ours-v1,ours-v2,tie,expert_2,1,billing\n"
)


def test_own_questions_keep_their_own_categories_and_never_get_mt_bench_ones(tmp_path):
    path = tmp_path / "ours.csv"
    path.write_text(OWN_VOTES)
    out = io.StringIO()
    call_command("import_judgments", str(path), "--name", "ours", stdout=out)
    judgment_set = JudgmentSet.objects.get(name="ours")
    assert judgment_set.format == "generic"
    categories = dict(judgment_set.rows.values_list("question_id", "category"))
    # Ids 81 and 82 are MT-Bench's writing questions, but these are the team's own questions.
    assert categories == {"81": "", "82": "", "101": "billing"}
    assert set(ImportedJudgment.objects.values_list("category", flat=True)) == {"", "billing"}


def test_mt_bench_format_fills_missing_categories_from_mt_bench_questions(tmp_path):
    path = tmp_path / "mtbench.csv"
    path.write_text(OWN_VOTES)
    call_command("import_judgments", str(path), "--name", "mt", "--format", "mtbench")
    judgment_set = JudgmentSet.objects.get(name="mt")
    assert judgment_set.format == "mtbench"
    categories = dict(judgment_set.rows.values_list("question_id", "category"))
    # A category in the file still wins over the bundled question's.
    assert categories == {"81": "writing", "82": "writing", "101": "billing"}


def test_an_unknown_format_names_the_two_formats(tmp_path):
    path = tmp_path / "ours.csv"
    path.write_text(OWN_VOTES)
    with pytest.raises(EvaluationError) as caught:
        judgments_import(sources=[path], name="x", format="arena")
    assert str(caught.value) == ERROR_FORMAT.format(format="arena")
    assert not JudgmentSet.objects.exists()


def test_import_without_a_project_says_no_page_shows_it_and_how_to_attach(
    tmp_path, client, owner, project
):
    path = tmp_path / "ours.csv"
    path.write_text(OWN_VOTES)
    out = io.StringIO()
    call_command("import_judgments", str(path), "--name", "loose", stdout=out)
    assert NO_PROJECT.format(name="loose") in out.getvalue()
    assert "--project SLUG" in out.getvalue()
    loose = JudgmentSet.objects.get(name="loose")
    assert loose.project is None
    # What the message says: even staff reach it on no page and through no API.
    assert client.login(username=owner.username, password=PASSWORD)
    assert client.get(reverse("evaluation:set_report", args=[loose.pk])).status_code == 404
    api = APIClient()
    api.force_authenticate(owner)
    assert api.get("/api/evaluation/judgment-sets/").json()["results"] == []


def test_import_into_a_project_by_slug_or_id_is_on_its_pages(tmp_path, client, owner, project):
    path = tmp_path / "ours.csv"
    path.write_text(OWN_VOTES)
    out = io.StringIO()
    call_command(
        "import_judgments", str(path), "--name", "by-slug", "--project", project.slug, stdout=out
    )
    assert "No --project" not in out.getvalue()
    call_command("import_judgments", str(path), "--name", "by-id", "--project", str(project.pk))
    sets = JudgmentSet.objects.filter(project=project).order_by("name")
    assert list(sets.values_list("name", flat=True)) == ["by-id", "by-slug"]
    assert client.login(username=owner.username, password=PASSWORD)
    page = client.get(reverse("evaluation:set_report", args=[sets[1].pk]))
    assert page.status_code == 200
    with pytest.raises(CommandError, match="No project with slug or id 'nope'"):
        call_command("import_judgments", str(path), "--name", "x", "--project", "nope")
    assert not JudgmentSet.objects.filter(name="x").exists()
