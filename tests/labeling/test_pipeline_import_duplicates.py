"""Rows that repeat a prompt on import: no second prompt, but the answers they bring that the
stored prompt lacks are added to it; counted as duplicates in the file or in the project, in
the run's counts and on the funnel's exact_duplicate line."""

import json

import pytest

from labeling.models import Completion, PipelineStatus, Prompt
from labeling.pipeline.filters import REASON_ALREADY_IN_PROJECT, REASON_REPEATED_IN_FILE
from labeling.services.pipeline import import_run_start, pipeline_run_execute

pytestmark = pytest.mark.django_db

QUESTION = "How do I keep basil alive on a windowsill?"
OTHER = "What is a good first houseplant for a dark flat?"


def hh(question, chosen, rejected):
    return {
        "chosen": f"\n\nHuman: {question}\n\nAssistant: {chosen}",
        "rejected": f"\n\nHuman: {question}\n\nAssistant: {rejected}",
    }


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run_import(project, path):
    run = pipeline_run_execute(run=import_run_start(project=project, path=path, enqueue=False))
    assert run.status == PipelineStatus.SUCCEEDED, run.error
    return run


def answers(prompt):
    return [(c.text, c.meta.get("preferred")) for c in prompt.completions.order_by("id")]


def exact_duplicate_line(run):
    (stage,) = [s for s in run.funnel["stages"] if s["name"] == "exact_duplicate"]
    return stage


def test_a_prompt_repeated_in_the_file_keeps_every_answer_once(project, tmp_path):
    path = write_jsonl(
        tmp_path / "hh.jsonl",
        [
            hh(QUESTION, "Give it six hours of sun and water when dry.", "Just ignore it."),
            hh(OTHER, "A snake plant copes with little light.", "Buy a cactus."),
            # The same prompt, paired another way: one new chosen answer, the old rejected one
            # (spelled with other spacing and case, still the same answer).
            hh(
                QUESTION.upper(),
                "Pinch off the flowers and keep the soil moist.",
                "just  ignore it.",
            ),
            # And an answer with an e-mail address, redacted like the rest of the row.
            hh(QUESTION, "Ask the grower at help@example.com.", "Basil cannot grow inside."),
        ],
    )
    run = run_import(project, path)

    assert Prompt.objects.filter(project=project).count() == 2
    basil = Prompt.objects.get(project=project, messages__0__content=QUESTION)
    assert answers(basil) == [
        ("Give it six hours of sun and water when dry.", True),
        ("Just ignore it.", False),
        ("Pinch off the flowers and keep the soil moist.", True),
        ("Ask the grower at [EMAIL].", True),
        ("Basil cannot grow inside.", False),
    ]
    assert run.counts["prompts"] == 2
    assert run.counts["duplicates"] == run.counts["duplicates_in_file"] == 2
    assert run.counts["duplicates_in_project"] == 0
    assert run.counts["completions_on_duplicates"] == 3
    assert run.counts["completions"] == Completion.objects.count() == 7
    line = exact_duplicate_line(run)
    assert line["removed"] == 2 and line["reasons"] == {"repeated_in_file": 2}
    assert {s["reason"] for s in line["samples"]} == {REASON_REPEATED_IN_FILE.format(line=1)}
    assert run.funnel["total"] == 4 and run.funnel["kept"] == 2
    assert run.funnel["pii"] == {"email": 1}


def test_a_reimport_adds_nothing_and_says_the_prompts_are_in_the_project(project, tmp_path):
    path = write_jsonl(
        tmp_path / "hh.jsonl",
        [
            hh(QUESTION, "Give it six hours of sun and water when dry.", "Just ignore it."),
            hh(OTHER, "A snake plant copes with little light.", "Buy a cactus."),
            hh(QUESTION, "Pinch off the flowers and keep the soil moist.", "Just ignore it."),
        ],
    )
    run_import(project, path)
    before = sorted(Completion.objects.values_list("prompt_id", "text"))
    basil = Prompt.objects.get(project=project, messages__0__content=QUESTION)

    again = run_import(project, path)

    assert Prompt.objects.filter(project=project).count() == 2
    assert sorted(Completion.objects.values_list("prompt_id", "text")) == before
    assert again.counts["prompts"] == again.counts["completions"] == 0
    assert again.counts["duplicates"] == again.counts["duplicates_in_project"] == 3
    assert again.counts["duplicates_in_file"] == 0
    line = exact_duplicate_line(again)
    assert line["removed"] == 3 and line["reasons"] == {"already_in_project": 3}
    assert REASON_ALREADY_IN_PROJECT.format(id=basil.pk) in {s["reason"] for s in line["samples"]}
    assert again.funnel["kept"] == 0


def test_a_later_file_adds_its_new_answers_to_the_prompt_already_there(project, tmp_path):
    run_import(
        project,
        write_jsonl(tmp_path / "a.jsonl", [hh(QUESTION, "Six hours of sun.", "Ignore it.")]),
    )
    later = run_import(
        project,
        write_jsonl(tmp_path / "b.jsonl", [hh(QUESTION, "Six hours of sun.", "Water it daily.")]),
    )
    basil = Prompt.objects.get(project=project)
    assert answers(basil) == [
        ("Six hours of sun.", True),
        ("Ignore it.", False),
        ("Water it daily.", False),
    ]
    assert later.counts["duplicates_in_project"] == 1
    assert later.counts["completions_on_duplicates"] == later.counts["completions"] == 1
