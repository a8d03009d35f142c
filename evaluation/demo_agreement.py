"""Demo data for agreement reports: the real MT-Bench expert/author votes and GPT-4 verdicts
imported as one judgment set in the demo project, with the headline reports computed ahead so
the pages open at once (turn 1, GPT-4 vs expert, and expert vs expert)."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from django.urls import reverse

from evaluation.models import JudgmentSet
from evaluation.reports import agreement_report_build
from evaluation.services.imports import MTBENCH, judgments_import

DATA = Path(__file__).resolve().parent / "data" / "mt_bench_human_judgments"
SET_NAME = "MT-Bench: GPT-4 and human experts"
REPORTS = (("gpt4_pair", "expert", 1), ("expert", "expert", 1), ("gpt4_pair", "expert", None))


def load_demo(*, project, users: dict, stdout: TextIO) -> None:
    """Import the set into `project` once (idempotent) and compute its headline reports."""
    researcher = users.get("researcher") or users.get("owner")
    judgment_set = JudgmentSet.objects.filter(name=SET_NAME).first()
    if judgment_set is None:
        judgment_set = judgments_import(
            sources=[DATA / "human.csv", DATA / "gpt4_pair.csv"],
            name=SET_NAME,
            project=project,
            format=MTBENCH,
            created_by=researcher,
        )
        stdout.write(
            f"evaluation: judgment set {SET_NAME!r} with {judgment_set.vote_count} votes\n"
        )
    for group_a, group_b, turn in REPORTS:
        report = agreement_report_build(
            judgment_set=judgment_set, group_a=group_a, group_b=group_b, turn=turn
        ).result
        stdout.write(
            f"evaluation: {group_a} vs {group_b}, turn {turn or 'all'}: "
            f"{100 * report['with_ties']['agreement']:.1f}% with ties "
            f"({report['with_ties']['agree']}/{report['with_ties']['n']}), "
            f"{100 * report['without_ties']['agreement']:.1f}% without "
            f"({report['without_ties']['agree']}/{report['without_ties']['n']})\n"
        )
    url = reverse("evaluation:set_report", args=[judgment_set.pk])
    stdout.write(f"evaluation: agreement report at {url}?a=gpt4_pair&b=expert&turn=1\n")
